//! The synthetic camera: a moving test pattern with camera-like noise and the time and the
//! nickname written on it. It stands in where there is no camera, and gives tests and
//! benchmarks a picture that is the same for the same frame number.

use super::frame::Frame;
use crate::proto::Jitter;

/// 5x7 glyphs, one byte a row, the low five bits from left to right.
fn glyph(c: char) -> [u8; 7] {
    match c.to_ascii_uppercase() {
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        'A' => [0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        ':' => [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C],
        '-' => [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00],
        '_' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F],
        ' ' => [0; 7],
        // Anything the font lacks (CJK among it) shows as a question mark.
        _ => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04],
    }
}

/// Writes `text` into the luma plane at (x, y), `scale` pixels a font dot, white on a dark box.
pub fn draw_text(frame: &mut Frame, text: &str, x: usize, y: usize, scale: usize) {
    let width = frame.width;
    let (box_w, box_h) = ((text.chars().count() * 6 + 1) * scale, 9 * scale);
    let (luma, u, v) = frame.planes_mut();
    let height = luma.len() / width;
    // Grey under the text, so that it reads on any colour.
    for row in (y / 2)..((y + box_h) / 2).min(height / 2) {
        for col in (x / 2)..((x + box_w) / 2).min(width / 2) {
            u[row * (width / 2) + col] = 128;
            v[row * (width / 2) + col] = 128;
        }
    }
    for row in y..(y + box_h).min(height) {
        for col in x..(x + box_w).min(width) {
            luma[row * width + col] = 24;
        }
    }
    for (i, c) in text.chars().enumerate() {
        let bits = glyph(c);
        for (gy, line) in bits.iter().enumerate() {
            for gx in 0..5 {
                if line & (0x10 >> gx) == 0 {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        let px = x + (1 + i * 6 + gx) * scale + dx;
                        let py = y + (1 + gy) * scale + dy;
                        if px < width && py < height {
                            luma[py * width + px] = 235;
                        }
                    }
                }
            }
        }
    }
}

/// Samples of the luma noise, drawn once; each row of a picture reads them from a random start.
const NOISE_SAMPLES: usize = 1 << 16;

/// The moving pattern of one participant.
#[derive(Debug, Clone)]
pub struct TestPattern {
    pub width: usize,
    pub height: usize,
    pub nick: String,
    noise: Vec<i8>,
}

impl TestPattern {
    /// With luma noise of standard deviation 2 code values (a webcam in an office: 2 to 3).
    pub fn new(width: usize, height: usize, nick: &str) -> TestPattern {
        TestPattern::with_noise(width, height, nick, 2.0)
    }

    pub fn with_noise(width: usize, height: usize, nick: &str, sigma: f64) -> TestPattern {
        let mut rng = Jitter::new(0x5eed_0f_c0ffee);
        let noise = (0..NOISE_SAMPLES).map(|_| gaussian(&mut rng, sigma).clamp(-127, 127) as i8).collect();
        TestPattern { width, height, nick: nick.to_string(), noise }
    }

    /// Frame number `n`, with `clock` written at the bottom. The same arguments give the same
    /// picture.
    pub fn render(&self, n: u64, clock: &str) -> Frame {
        let mut frame = Frame::black(self.width, self.height);
        let (w, h) = (frame.width, frame.height);
        if w == 0 || h == 0 {
            return frame;
        }
        let side = (h / 4).max(2);
        // A bright square bouncing from side to side and up and down.
        let span_x = (w - side.min(w)) as u64;
        let span_y = (h - side.min(h)) as u64;
        let bounce = |t: u64, span: u64| if span == 0 { 0 } else { let p = t % (2 * span); (if p < span { p } else { 2 * span - p }) as usize };
        let (box_x, box_y) = (bounce(n * 6, span_x), bounce(n * 4, span_y));
        let mut rng = Jitter::new(n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5bd1_e995);
        let shift = (n * 2 % 160) as usize;
        let columns: Vec<usize> = (0..w).map(|col| col * 120 / w + shift).collect();
        let (y_plane, u_plane, v_plane) = frame.planes_mut();
        for (row, line) in y_plane.chunks_exact_mut(w).enumerate() {
            let base = row * 60 / h;
            let start = rng.next_u64() as usize % (NOISE_SAMPLES - w);
            let noise = &self.noise[start..start + w];
            for ((px, column), grain) in line.iter_mut().zip(&columns).zip(noise) {
                let ramp = (column + base) % 160;
                *px = (48 + ramp as i32 + i32::from(*grain)).clamp(16, 235) as u8;
            }
            if (box_y..box_y + side).contains(&row) {
                for (px, grain) in line[box_x..(box_x + side).min(w)].iter_mut().zip(noise) {
                    *px = (200 + i32::from(*grain)).clamp(16, 235) as u8;
                }
            }
        }
        // Eight colour bars in the chroma planes, drifting to the left (the text goes on top).
        const BARS: [(u8, u8); 8] = [(128, 128), (44, 142), (156, 44), (72, 58), (184, 198), (100, 212), (212, 114), (128, 128)];
        let (cw, ch) = (w / 2, h / 2);
        let bars: Vec<(u8, u8)> = (0..cw).map(|col| BARS[((col + n as usize) % cw) * BARS.len() / cw]).collect();
        for row in 0..ch {
            for (col, (u, v)) in bars.iter().enumerate() {
                u_plane[row * cw + col] = *u;
                v_plane[row * cw + col] = *v;
            }
        }
        let scale = (h / 120).max(1);
        draw_text(&mut frame, &self.nick, 2 * scale, 2 * scale, scale);
        draw_text(&mut frame, clock, 2 * scale, h.saturating_sub(12 * scale), scale + 1);
        frame
    }
}

/// Roughly normal with standard deviation `sigma` (sum of four uniforms from one draw).
fn gaussian(rng: &mut Jitter, sigma: f64) -> i32 {
    if sigma <= 0.0 {
        return 0;
    }
    let r = rng.next_u64();
    let sum: i64 = (0..4).map(|i| ((r >> (16 * i)) & 0xffff) as i64).sum::<i64>() - 2 * 65535;
    // Four uniforms on [0, 65535] have a standard deviation of 65535 / sqrt(3).
    (sum as f64 * sigma * 3f64.sqrt() / 65535.0).round() as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::frame::psnr_y;

    #[test]
    fn same_frame_number_same_picture_and_it_moves() {
        let pattern = TestPattern::new(320, 240, "alice");
        let a = pattern.render(10, "12:00:00");
        assert_eq!(a, pattern.render(10, "12:00:00"));
        assert_eq!((a.width, a.height, a.data.len()), (320, 240, 320 * 240 * 3 / 2));
        // The next frame differs by more than noise: the square and the ramp moved.
        let b = pattern.render(11, "12:00:00");
        assert!(psnr_y(&a, &b) < 30.0, "{}", psnr_y(&a, &b));
    }

    #[test]
    fn noise_has_the_asked_strength() {
        let quiet = TestPattern::with_noise(320, 240, "n", 0.0);
        let noisy = TestPattern::new(320, 240, "n");
        let psnr = psnr_y(&quiet.render(3, ""), &noisy.render(3, ""));
        // sigma 2 gives an MSE of about 4: 42 dB.
        assert!((40.0..44.0).contains(&psnr), "{psnr}");
    }

    #[test]
    fn text_is_drawn() {
        let mut frame = Frame::black(64, 16);
        draw_text(&mut frame, "1", 0, 0, 1);
        // The foot of the "1": five lit dots on glyph row 6.
        let row = &frame.y()[7 * 64..7 * 64 + 8];
        assert_eq!(row, [24, 24, 235, 235, 235, 24, 24, 16]);
        // Text off the edge is clipped, not a panic.
        draw_text(&mut frame, "很长的名字 that does not fit", 50, 10, 3);
    }
}
