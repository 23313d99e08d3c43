//! Line framing for an IRC byte stream: bytes in, whole lines out. Messages are framed by
//! CR LF (a bare LF is accepted too), never by how many bytes one read returned. An over-long
//! line is reported once and skipped up to its end, so the stream stays usable.

/// One unit taken from the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A whole line without its line ending. Not yet checked for UTF-8.
    Line(Vec<u8>),
    /// A line longer than the limit; its bytes were dropped.
    TooLong,
}

#[derive(Debug)]
pub struct LineReader {
    buffer: Vec<u8>,
    max_line: usize,
    /// Inside an over-long line: drop bytes until its end.
    skipping: bool,
    /// Where the search for the next newline resumes.
    scanned: usize,
}

impl LineReader {
    pub fn new(max_line: usize) -> LineReader {
        LineReader { buffer: Vec::with_capacity(1024), max_line, skipping: false, scanned: 0 }
    }

    /// Bytes held that do not yet form a line.
    pub fn pending(&self) -> usize {
        self.buffer.len()
    }

    /// True when a partial line is held: a close now cuts a message in half.
    pub fn mid_line(&self) -> bool {
        !self.buffer.is_empty() || self.skipping
    }

    /// Add received bytes and take every frame now complete.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Frame> {
        let mut frames = Vec::new();
        self.push_into(bytes, &mut frames);
        frames
    }

    /// As `push`, appending to a caller's vector to save an allocation per read.
    pub fn push_into(&mut self, bytes: &[u8], frames: &mut Vec<Frame>) {
        self.buffer.extend_from_slice(bytes);
        let mut start = 0;
        loop {
            let from = start.max(self.scanned);
            match self.buffer[from..].iter().position(|&b| b == b'\n') {
                Some(offset) => {
                    let end = from + offset;
                    if self.skipping {
                        self.skipping = false;
                    } else if end - start > self.max_line {
                        frames.push(Frame::TooLong);
                    } else {
                        let mut line = &self.buffer[start..end];
                        if line.last() == Some(&b'\r') {
                            line = &line[..line.len() - 1];
                        }
                        if !line.is_empty() {
                            frames.push(Frame::Line(line.to_vec()));
                        }
                    }
                    start = end + 1;
                    self.scanned = start;
                }
                None => {
                    self.scanned = self.buffer.len();
                    break;
                }
            }
        }
        self.buffer.drain(..start);
        self.scanned -= start;
        if self.buffer.len() > self.max_line {
            if !self.skipping {
                frames.push(Frame::TooLong);
            }
            self.skipping = true;
            self.buffer.clear();
            self.scanned = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn line(s: &str) -> Frame {
        Frame::Line(s.as_bytes().to_vec())
    }

    #[test]
    fn table() {
        // (chunks fed one after another, frames expected in total)
        let rows: Vec<(Vec<&[u8]>, Vec<Frame>)> = vec![
            (vec![b"PING x\r\n"], vec![line("PING x")]),
            (vec![b"PI", b"NG x\r", b"\n"], vec![line("PING x")]),
            (vec![b"a\nb\r\nc"], vec![line("a"), line("b")]),
            (vec![b"\r\n\n"], vec![]),
            (vec![b"0123456789ABC\r\nok\n"], vec![Frame::TooLong, line("ok")]),
            (vec![b"0123456789", b"ABCDEF", b"GHI\nok\n"], vec![Frame::TooLong, line("ok")]),
            (vec!["你好\r\n".as_bytes()], vec![line("你好")]),
            (vec![b"\xff\xfe\n"], vec![Frame::Line(vec![0xff, 0xfe])]),
        ];
        for (chunks, want) in rows {
            let mut reader = LineReader::new(12);
            let mut got = Vec::new();
            for chunk in &chunks {
                got.extend(reader.push(chunk));
            }
            assert_eq!(got, want, "{chunks:?}");
        }
    }

    #[test]
    fn partial_line_is_visible() {
        let mut reader = LineReader::new(100);
        reader.push(b"PRIVMSG #a :half");
        assert!(reader.mid_line());
        reader.push(b"\r\n");
        assert!(!reader.mid_line());
    }

    proptest! {
        /// However the stream is cut into reads, the same lines come out.
        #[test]
        fn split_points_do_not_matter(lines in prop::collection::vec("[^\\r\\n]{1,30}", 1..20),
                                      cuts in prop::collection::vec(1usize..17, 1..40)) {
            let stream: Vec<u8> = lines.iter().flat_map(|l| format!("{l}\r\n").into_bytes()).collect();
            let mut reader = LineReader::new(512);
            let mut got = Vec::new();
            let mut at = 0;
            for cut in cuts.iter().cycle() {
                if at >= stream.len() { break; }
                let end = (at + cut).min(stream.len());
                got.extend(reader.push(&stream[at..end]));
                at = end;
            }
            let want: Vec<Frame> = lines.iter().map(|l| Frame::Line(l.as_bytes().to_vec())).collect();
            prop_assert_eq!(got, want);
        }
    }
}
