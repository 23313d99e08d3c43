//! Kept messages and what a client may ask of them: IRCv3 `draft/chathistory` (`CHATHISTORY
//! LATEST | BEFORE | AFTER | AROUND | BETWEEN`). The relay's state machine says what to keep
//! and what was asked; a store (SQLite in `crate::server::history`, or [`select`] over a slice)
//! answers. Both order messages by time, then by the order they were kept in.


/// The number of the message relayed after `last` at `unix_ms`: the time in milliseconds times
/// 1024, plus a count within the millisecond. Numbers only grow (a clock set back, or more
/// than 1024 messages in a millisecond, borrow from the next), and a message's number tells
/// its time: see [`msgid_time`].
pub fn next_msgid(last: u64, unix_ms: i64) -> u64 {
    (last + 1).max((unix_ms.max(0) as u64) << 10)
}

/// The time (Unix ms) a message number stands for.
pub fn msgid_time(number: u64) -> i64 {
    (number >> 10) as i64
}

/// A message's id on the wire (the `msgid` tag): its number in hexadecimal. The store keys
/// messages by it.
pub fn msgid(number: u64) -> String {
    format!("{number:x}")
}

/// The number a msgid stands for; None for anything [`msgid`] does not make (another
/// server's id, leading zeros, upper case).
pub fn msgid_number(text: &str) -> Option<i64> {
    let number = u64::from_str_radix(text, 16).ok()?;
    (msgid(number) == text).then_some(number).and_then(|n| i64::try_from(n).ok())
}

/// Bytes of a sender's client tags kept with a message; beyond it the message is kept
/// without them. A kept line is then at most about 1 KB.
pub const MAX_KEPT_TAG_BYTES: usize = 512;

/// Messages one request returns at most (ISUPPORT `CHATHISTORY`).
pub const MAX_LIMIT: usize = 100;

/// A relayed message as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The conversation: a folded channel name.
    pub target: String,
    pub msgid: String,
    pub unix_ms: i64,
    /// The line as relayed (source, command, target, text and the sender's client tags).
    pub line: String,
}

/// Where a query starts or ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// `*`: no bound (LATEST only).
    Unbounded,
    Timestamp(i64),
    MsgId(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    Latest(Reference),
    Before(Reference),
    After(Reference),
    Around(Reference),
    Between(Reference, Reference),
}

/// A client's question, for the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub conn: super::server::ConnId,
    /// The conversation's key.
    pub target: String,
    /// The target as the client named it, for the reply's batch.
    pub shown: String,
    pub query: Query,
    pub limit: usize,
}

/// The store's answer: the messages in time order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub conn: super::server::ConnId,
    pub shown: String,
    pub messages: Vec<Stored>,
}

/// Parses `*`, `timestamp=2026-01-02T03:04:05.678Z` or `msgid=ID`.
pub fn parse_reference(text: &str) -> Option<Reference> {
    if text == "*" {
        return Some(Reference::Unbounded);
    }
    if let Some(time) = text.strip_prefix("timestamp=") {
        return super::parse_server_time(time).map(Reference::Timestamp);
    }
    text.strip_prefix("msgid=").filter(|id| !id.is_empty() && id.len() <= 100).map(|id| Reference::MsgId(id.to_string()))
}

/// A position between messages: (time, order kept). A timestamp lies before every message of
/// its millisecond when it ends a range from above, after them when it starts one.
pub type Position = (i64, i64);

/// Resolves a reference as a lower bound (`after`) or an upper bound. None: a msgid not of
/// our making, or `*` where a bound is needed. A msgid is its own position (its number tells
/// its time), kept or not: a client that last saw a message the store did not keep (said
/// behind a lock, or lost in a crash) still gets what came after it.
pub fn bound(reference: &Reference, lower: bool) -> Option<Position> {
    match reference {
        Reference::Unbounded => None,
        Reference::Timestamp(ms) => Some((*ms, if lower { i64::MAX } else { i64::MIN })),
        Reference::MsgId(id) => msgid_number(id).map(|n| (msgid_time(n as u64), n)),
    }
}

/// The answer to `query` over the messages of one conversation, ordered by time and then by
/// number. The reference implementation the SQLite store must match.
pub fn select(rows: &[Stored], query: &Query, limit: usize) -> Vec<Stored> {
    let mut sorted: Vec<(Position, &Stored)> =
        rows.iter().enumerate().map(|(i, s)| ((s.unix_ms, msgid_number(&s.msgid).unwrap_or(i as i64)), s)).collect();
    sorted.sort_by_key(|(p, _)| *p);
    let lower = |r: &Reference| bound(r, true);
    let upper = |r: &Reference| bound(r, false);
    // Messages strictly between two positions, oldest first.
    let range = |lo: Option<Position>, hi: Option<Position>| -> Vec<Stored> {
        sorted.iter().filter(|(p, _)| lo.is_none_or(|lo| *p > lo) && hi.is_none_or(|hi| *p < hi)).map(|(_, s)| (*s).clone()).collect()
    };
    let first = |mut v: Vec<Stored>, n: usize| {
        v.truncate(n);
        v
    };
    let last = |mut v: Vec<Stored>, n: usize| {
        let skip = v.len().saturating_sub(n);
        v.drain(..skip);
        v
    };
    let limit = limit.min(MAX_LIMIT);
    match query {
        Query::Latest(Reference::Unbounded) => last(range(None, None), limit),
        Query::Latest(r) => lower(r).map_or(Vec::new(), |lo| last(range(Some(lo), None), limit)),
        Query::Before(r) => upper(r).map_or(Vec::new(), |hi| last(range(None, Some(hi)), limit)),
        Query::After(r) => lower(r).map_or(Vec::new(), |lo| first(range(Some(lo), None), limit)),
        Query::Around(r) => match upper(r) {
            Some(at) => {
                let mut found = last(range(None, Some(at)), limit / 2);
                let rest = limit - found.len();
                // The message itself and those after it.
                found.extend(sorted.iter().filter(|(p, _)| *p >= at).take(rest).map(|(_, s)| (*s).clone()));
                found
            }
            None => Vec::new(),
        },
        Query::Between(a, b) => match (lower(a), upper(a), lower(b), upper(b)) {
            (Some(lo_a), Some(hi_a), Some(lo_b), Some(hi_b)) => {
                if hi_a <= hi_b {
                    first(range(Some(lo_a), Some(hi_b)), limit)
                } else {
                    last(range(Some(lo_b), Some(hi_a)), limit)
                }
            }
            _ => Vec::new(),
        },
    }
}
