//! The conversations kept on this computer: every message of both modes, in SQLite (bundled,
//! WAL) at `messages.sqlite3` in the data folder, by place (a relay server or a multicast
//! group) and conversation (a room, or the other person of a private conversation).
//!
//! Search is FTS5 with the trigram tokenizer, so that Chinese, written without spaces, is found
//! by any part of three characters or more; a shorter word is looked for with LIKE.
//!
//! Writes go to a thread of their own, many to a transaction, so that a slow disk never holds
//! up the window. Reads (the latest lines at start, a search) are indexed queries on the
//! caller's thread, beside the writer (WAL lets them run at once).

use super::lines::LineKind;
use crossbeam_channel::{Receiver, Sender};
use rusqlite::{params, Connection};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

/// Messages kept at most, over all places; the oldest go first (checked at every start).
pub const MOST_KEPT: i64 = 2_000_000;
/// Longest text kept of one message, in bytes (a multicast message may be longer than an IRC
/// line, but not much).
const LONGEST: usize = 16 * 1024;
/// Writes waiting before new ones are dropped (logged): the chat goes on. The channel holds
/// room for all of them from the start (about 120 bytes each).
pub const QUEUE: usize = 4096;
/// Most writes in one transaction.
const BATCH: usize = 512;
/// Longest search text, in characters, and most words in it.
const LONGEST_QUERY: usize = 200;
const MOST_WORDS: usize = 8;

/// One message as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Said {
    /// A room (`#lanmeet`), the other person of a private conversation, or empty for a
    /// multicast group.
    pub conversation: String,
    pub private: bool,
    /// Message, Own, Action or Notice.
    pub kind: LineKind,
    pub sender: String,
    pub text: String,
    pub unix_ms: i64,
}

/// A kept message with its number (numbers grow in the order messages came).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    pub id: i64,
    pub said: Said,
}

/// What a view shows of a place: one conversation (a room, or empty for a multicast group),
/// and with `private` the private conversations there too.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    pub place: String,
    pub conversation: String,
    pub private: bool,
}

const COLUMNS: &str = "said.id, said.conversation, said.private, said.kind, said.sender, said.text, said.unix_ms";
/// Parameters 1 to 3 are the scope's place, conversation and `private`.
const IN_SCOPE: &str = "place = ?1 AND (conversation = ?2 OR (?3 AND private))";

enum Write {
    Keep(String, Said),
    Clear(String),
    Flushed(Sender<()>),
}

/// The kept conversations: a connection for reading and the writer's thread. Dropping it
/// writes what is waiting and stops.
pub struct Archive {
    reader: Connection,
    writes: Option<Sender<Write>>,
    thread: Option<JoinHandle<()>>,
}

/// `messages.sqlite3` in the data folder.
pub fn default_file() -> PathBuf {
    crate::net::tls::data_dir().join("messages.sqlite3")
}

/// The place of a relay (`ircs://host:port`, `irc://` for plain text) or a multicast group.
pub fn relay_place(server: &str, tls: bool) -> String {
    format!("{}://{}", if tls { "ircs" } else { "irc" }, server.trim().to_lowercase())
}

pub fn group_place(group: &str) -> String {
    format!("multicast://{}", group.trim())
}

fn kind_number(kind: LineKind) -> i64 {
    match kind {
        LineKind::Own => 1,
        LineKind::Action => 2,
        LineKind::Notice => 3,
        _ => 0,
    }
}

fn number_kind(n: i64) -> LineKind {
    match n {
        1 => LineKind::Own,
        2 => LineKind::Action,
        3 => LineKind::Notice,
        _ => LineKind::Message,
    }
}

/// Tells one message from another of the same place and millisecond, to keep it once when it
/// comes twice (live, then again in the relay's history).
fn digest(said: &Said) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [said.conversation.to_lowercase().as_bytes(), said.sender.as_bytes(), said.text.as_bytes()] {
        for &b in part.iter().chain(&[0xff]) {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash as i64
}

fn open_connection(path: &Path) -> Result<Connection, String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let db = Connection::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    db.busy_timeout(std::time::Duration::from_secs(5)).map_err(|e| e.to_string())?;
    db.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;").map_err(|e| format!("{}: {e}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // What people said to each other is theirs alone.
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    Ok(db)
}

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS said (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        place TEXT NOT NULL,
        conversation TEXT NOT NULL COLLATE NOCASE,
        private INTEGER NOT NULL,
        kind INTEGER NOT NULL,
        sender TEXT NOT NULL,
        text TEXT NOT NULL,
        unix_ms INTEGER NOT NULL,
        digest INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS said_place ON said (place, id);
    CREATE INDEX IF NOT EXISTS said_conversation ON said (place, conversation, id);
    CREATE UNIQUE INDEX IF NOT EXISTS said_once ON said (place, unix_ms, digest);
    CREATE VIRTUAL TABLE IF NOT EXISTS said_text USING fts5 (
        text, content = 'said', content_rowid = 'id', tokenize = 'trigram'
    );
    CREATE TABLE IF NOT EXISTS conversations (
        place TEXT NOT NULL,
        conversation TEXT NOT NULL COLLATE NOCASE,
        private INTEGER NOT NULL,
        newest_ms INTEGER NOT NULL,
        PRIMARY KEY (place, conversation)
    );
    CREATE TRIGGER IF NOT EXISTS said_in AFTER INSERT ON said BEGIN
        INSERT INTO said_text (rowid, text) VALUES (new.id, new.text);
        INSERT INTO conversations (place, conversation, private, newest_ms) VALUES (new.place, new.conversation, new.private, new.unix_ms)
            ON CONFLICT DO UPDATE SET conversation = excluded.conversation, newest_ms = max(newest_ms, excluded.newest_ms);
    END;
    CREATE TRIGGER IF NOT EXISTS said_out AFTER DELETE ON said BEGIN
        INSERT INTO said_text (said_text, rowid, text) VALUES ('delete', old.id, old.text);
    END;
";

impl Archive {
    /// Opens (or creates) the kept conversations at `path` and starts the writer.
    pub fn open(path: &Path) -> Result<Archive, String> {
        let writer = open_connection(path)?;
        writer.execute_batch(SCHEMA).map_err(|e| format!("{}: {e}", path.display()))?;
        let reader = open_connection(path)?;
        let (writes, jobs) = crossbeam_channel::bounded(QUEUE);
        let thread = std::thread::Builder::new()
            .name("archive".into())
            .spawn(move || write_all(writer, jobs))
            .map_err(|e| e.to_string())?;
        Ok(Archive { reader, writes: Some(writes), thread: Some(thread) })
    }

    /// Keeps a message of `place` (written soon after, on the writer's thread).
    pub fn keep(&self, place: &str, mut said: Said) {
        super::cut_at_char(&mut said.text, LONGEST);
        self.send(Write::Keep(place.to_string(), said));
    }

    /// Forgets everything kept of `place` (waiting for room to ask it, if need be).
    pub fn clear(&self, place: &str) {
        if let Some(writes) = &self.writes {
            let _ = writes.send(Write::Clear(place.to_string()));
        }
    }

    fn send(&self, write: Write) {
        if let Some(writes) = &self.writes {
            if writes.try_send(write).is_err() {
                log::warn!("message history: too much waiting to be written; a message is not kept");
            }
        }
    }

    /// Waits until everything handed over so far is written.
    pub fn flush(&self) {
        let (done, wait) = crossbeam_channel::bounded(1);
        if let Some(writes) = &self.writes {
            if writes.send(Write::Flushed(done)).is_ok() {
                let _ = wait.recv();
            }
        }
    }

    /// The latest `limit` messages of `scope`, oldest first.
    pub fn latest(&self, scope: &Scope, limit: usize) -> Vec<Kept> {
        let sql = format!("SELECT {COLUMNS} FROM said WHERE {IN_SCOPE} ORDER BY id DESC LIMIT ?4");
        let mut kept = self.rows(&sql, params![scope.place, scope.conversation, scope.private, limit as i64]);
        kept.reverse();
        kept
    }

    /// Messages of `scope` from number `from` (included) to `until` (excluded), at most
    /// `limit`, oldest first.
    pub fn between(&self, scope: &Scope, from: i64, until: i64, limit: usize) -> Vec<Kept> {
        let sql = format!("SELECT {COLUMNS} FROM said WHERE {IN_SCOPE} AND id >= ?4 AND id < ?5 ORDER BY id LIMIT ?6");
        self.rows(&sql, params![scope.place, scope.conversation, scope.private, from, until, limit as i64])
    }

    /// How many messages of `scope` lie from `from` (included) to `until` (excluded).
    pub fn count_between(&self, scope: &Scope, from: i64, until: i64) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM said WHERE {IN_SCOPE} AND id >= ?4 AND id < ?5");
        self.reader.query_row(&sql, params![scope.place, scope.conversation, scope.private, from, until], |r| r.get(0)).unwrap_or(0)
    }

    /// The number the next message will have, at the earliest: everything kept, or ever
    /// kept, is below it (numbers are never used again).
    pub fn next_id(&self) -> i64 {
        self.reader.query_row("SELECT IFNULL((SELECT seq FROM sqlite_sequence WHERE name = 'said'), 0) + 1", [], |r| r.get(0)).unwrap_or(1)
    }

    /// The number of the message `before` messages of `scope` before message `id` (or of its
    /// first).
    pub fn back_from(&self, scope: &Scope, id: i64, before: usize) -> i64 {
        let sql = format!("SELECT MIN(id) FROM (SELECT id FROM said WHERE {IN_SCOPE} AND id <= ?4 ORDER BY id DESC LIMIT ?5)");
        self.reader
            .query_row(&sql, params![scope.place, scope.conversation, scope.private, id, before as i64 + 1], |r| r.get::<_, Option<i64>>(0))
            .ok()
            .flatten()
            .unwrap_or(id)
    }

    /// The time of the newest message kept of each room at `place` (by its name folded to
    /// lower case), to ask the relay only for what came after it.
    pub fn seen_until(&self, place: &str) -> HashMap<String, i64> {
        let mut seen = HashMap::new();
        let Ok(mut query) = self.reader.prepare("SELECT lower(conversation), newest_ms FROM conversations WHERE place = ?1 AND NOT private") else {
            return seen;
        };
        if let Ok(rows) = query.query_map(params![place], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))) {
            seen.extend(rows.flatten());
        }
        seen
    }

    /// The people of the `most` private conversations of `place` last talked in, the latest
    /// first, by their names as last seen.
    pub fn private_conversations(&self, place: &str, most: usize) -> Vec<String> {
        let read = || -> rusqlite::Result<Vec<String>> {
            let mut query = self.reader.prepare_cached("SELECT conversation FROM conversations WHERE place = ?1 AND private ORDER BY newest_ms DESC LIMIT ?2")?;
            let rows = query.query_map(params![place, most as i64], |r| r.get(0))?;
            rows.collect()
        };
        read().unwrap_or_default()
    }

    /// The newest `limit` messages of `place` that hold every word of `query` (any case),
    /// newest first. Words of three characters or more are looked up in the full-text index,
    /// shorter ones by LIKE over what the longer ones found (or over the place).
    pub fn search(&self, scope: &Scope, query: &str, limit: usize) -> Vec<Kept> {
        let words: Vec<String> = query
            .chars()
            .take(LONGEST_QUERY)
            .collect::<String>()
            .split_whitespace()
            .take(MOST_WORDS)
            .map(str::to_string)
            .collect();
        if words.is_empty() {
            return Vec::new();
        }
        let (long, short): (Vec<&String>, Vec<&String>) = words.iter().partition(|w| w.chars().count() >= 3);
        // Each long word a phrase of its own ("" inside doubled), all of them together.
        let matching = long.iter().map(|w| format!("\"{}\"", w.replace('"', "\"\""))).collect::<Vec<_>>().join(" AND ");
        let mut values: Vec<rusqlite::types::Value> = vec![scope.place.clone().into(), scope.conversation.clone().into(), i64::from(scope.private).into()];
        // With words for the index, it leads, newest first, and the search stops at `limit`.
        let mut sql = if long.is_empty() {
            format!("SELECT {COLUMNS} FROM said WHERE {IN_SCOPE}")
        } else {
            values.push(matching.into());
            format!("SELECT {COLUMNS} FROM said_text JOIN said ON said.id = said_text.rowid WHERE said_text MATCH ?4 AND {IN_SCOPE}")
        };
        for word in short {
            let escaped = word.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            values.push(format!("%{escaped}%").into());
            sql += &format!(" AND said.text LIKE ?{} ESCAPE '\\'", values.len());
        }
        let order = if long.is_empty() { "id" } else { "said_text.rowid" };
        sql += &format!(" ORDER BY {order} DESC LIMIT {}", limit.min(10_000));
        self.rows(&sql, rusqlite::params_from_iter(values.iter()))
    }

    fn rows(&self, sql: &str, values: impl rusqlite::Params) -> Vec<Kept> {
        let read = || -> rusqlite::Result<Vec<Kept>> {
            let mut query = self.reader.prepare_cached(sql)?;
            let rows = query.query_map(values, |r| {
                Ok(Kept {
                    id: r.get(0)?,
                    said: Said {
                        conversation: r.get(1)?,
                        private: r.get(2)?,
                        kind: number_kind(r.get(3)?),
                        sender: r.get(4)?,
                        text: r.get(5)?,
                        unix_ms: r.get(6)?,
                    },
                })
            })?;
            rows.collect()
        };
        read().unwrap_or_else(|e| {
            log::warn!("message history: {e}");
            Vec::new()
        })
    }

    /// Message `id`, if it is still kept.
    pub fn get(&self, id: i64) -> Option<Kept> {
        self.rows(&format!("SELECT {COLUMNS} FROM said WHERE id = ?1"), params![id]).pop()
    }
}

/// Kept lines a view shows of a conversation when it opens it.
pub const SHOWN_AT_START: usize = 200;
/// Most kept lines a view takes in at once to reach a message found by search.
pub const SHOWN_AT_ONCE: usize = 2000;
/// Lines shown before a message reached by search.
const CONTEXT: usize = 5;

/// What a view shows of the kept conversations: the scopes whose latest lines it has shown,
/// and for each the first kept message it shows (everything kept after it is in the view).
#[derive(Debug, Default)]
pub struct Shown {
    first: HashMap<Scope, i64>,
}

impl Shown {
    /// The latest kept lines of `scope` the first time the view opens it; nothing after.
    pub fn open(&mut self, archive: &Archive, scope: &Scope) -> Vec<Kept> {
        if self.first.contains_key(scope) {
            return Vec::new();
        }
        let kept = archive.latest(scope, SHOWN_AT_START);
        self.first.insert(scope.clone(), kept.first().map_or_else(|| archive.next_id(), |k| k.id));
        kept
    }

    /// What the view takes in above what it shows so that message `id` of `scope` is in it: a
    /// few lines before it and everything after, up to what it shows (at most
    /// `SHOWN_AT_ONCE`), and how many of those were left out. Nothing when it is in already.
    pub fn reach(&mut self, archive: &Archive, scope: &Scope, id: i64) -> (Vec<Kept>, i64) {
        let Some(&first) = self.first.get(scope) else { return (Vec::new(), 0) };
        if id >= first {
            return (Vec::new(), 0);
        }
        let from = archive.back_from(scope, id, CONTEXT);
        let kept = archive.between(scope, from, first, SHOWN_AT_ONCE);
        let left_out = archive.count_between(scope, from, first) - kept.len() as i64;
        // With some left out, what is shown is no longer one stretch: a message among them is
        // taken in again when it is reached.
        if left_out == 0 {
            self.first.insert(scope.clone(), from);
        }
        (kept, left_out)
    }

    /// The view no longer shows `scope` (a conversation closed): opened again, it shows its
    /// latest lines anew.
    pub fn close(&mut self, scope: &Scope) {
        self.first.remove(scope);
    }

    /// Everything kept of `scope`'s place was forgotten: the view shows `scope` from `next`
    /// on (the next message's number) and nothing else of the place.
    pub fn cleared(&mut self, scope: &Scope, next: i64) {
        self.forget(&scope.place);
        self.first.insert(scope.clone(), next);
    }

    /// The view no longer shows anything of `place`.
    pub fn forget(&mut self, place: &str) {
        self.first.retain(|scope, _| scope.place != place);
    }
}

impl Drop for Archive {
    fn drop(&mut self) {
        self.writes = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The oldest beyond the most kept go: at start, and after every this many messages.
const PRUNE_EVERY: usize = 10_000;

fn prune(db: &Connection) {
    match db.execute("DELETE FROM said WHERE id <= (SELECT MAX(id) FROM said) - ?1", params![MOST_KEPT]) {
        Ok(0) => {}
        Ok(gone) => log::info!("message history: the oldest {gone} messages made room"),
        Err(e) => log::warn!("message history: could not make room: {e}"),
    }
}

/// The writer: waits for a write, then takes what else is waiting into the same transaction.
fn write_all(mut db: Connection, jobs: Receiver<Write>) {
    prune(&db);
    let mut since_pruned = 0;
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match jobs.try_recv() {
                Ok(write) => batch.push(write),
                Err(_) => break,
            }
        }
        let mut flushed = Vec::new();
        let result = (|| -> rusqlite::Result<()> {
            let tx = db.transaction()?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT OR IGNORE INTO said (place, conversation, private, kind, sender, text, unix_ms, digest)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?;
                for write in batch {
                    match write {
                        Write::Keep(place, s) => {
                            insert.execute(params![place, s.conversation, s.private, kind_number(s.kind), s.sender, s.text, s.unix_ms, digest(&s)])?;
                            since_pruned += 1;
                        }
                        Write::Clear(place) => {
                            let gone = tx.execute("DELETE FROM said WHERE place = ?1", params![place])?;
                            tx.execute("DELETE FROM conversations WHERE place = ?1", params![place])?;
                            log::info!("message history of {place} cleared ({gone} messages)");
                        }
                        Write::Flushed(done) => flushed.push(done),
                    }
                }
            }
            tx.commit()
        })();
        if let Err(e) = result {
            log::warn!("message history: could not write: {e}");
        }
        if since_pruned >= PRUNE_EVERY {
            prune(&db);
            since_pruned = 0;
        }
        for done in flushed {
            let _ = done.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said(conversation: &str, sender: &str, text: &str, unix_ms: i64) -> Said {
        Said { conversation: conversation.into(), private: !conversation.starts_with('#'), kind: LineKind::Message, sender: sender.into(), text: text.into(), unix_ms }
    }

    /// A folder of its own for one test, removed after it.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new() -> Scratch {
            use std::sync::atomic::{AtomicUsize, Ordering};
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            Scratch(std::env::temp_dir().join(format!("lanmeet-archive-{}-{n}", std::process::id())))
        }

        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn archive() -> (Scratch, Archive) {
        let dir = Scratch::new();
        let archive = Archive::open(&dir.path().join("messages.sqlite3")).unwrap();
        (dir, archive)
    }

    fn scope(place: &str, conversation: &str, private: bool) -> Scope {
        Scope { place: place.into(), conversation: conversation.into(), private }
    }

    fn texts(kept: &[Kept]) -> Vec<&str> {
        kept.iter().map(|k| k.said.text.as_str()).collect()
    }

    #[test]
    fn messages_are_kept_by_place_and_found_again_after_reopening() {
        let dir = Scratch::new();
        let path = dir.path().join("messages.sqlite3");
        {
            let archive = Archive::open(&path).unwrap();
            archive.keep("ircs://a:6697", said("#lanmeet", "ann", "first", 1));
            archive.keep("ircs://a:6697", said("bob", "bob", "just to you", 2));
            archive.keep("ircs://a:6697", said("#other", "ann", "elsewhere", 3));
            archive.keep("ircs://b:6697", said("#lanmeet", "cid", "another server", 4));
            archive.keep("ircs://a:6697", said("#LANMEET", "ann", "second", 5));
        }
        let archive = Archive::open(&path).unwrap();
        assert_eq!(texts(&archive.latest(&scope("ircs://a:6697", "#lanmeet", true), 10)), ["first", "just to you", "second"]);
        assert_eq!(texts(&archive.latest(&scope("ircs://a:6697", "#LanMeet", false), 10)), ["first", "second"]);
        assert_eq!(texts(&archive.latest(&scope("ircs://a:6697", "#lanmeet", false), 1)), ["second"]);
        assert_eq!(archive.seen_until("ircs://a:6697"), HashMap::from([("#lanmeet".to_string(), 5), ("#other".to_string(), 3)]));
        archive.keep("ircs://a:6697", said("Cid", "Cid", "later", 6));
        archive.keep("ircs://a:6697", said("BOB", "BOB", "again", 7));
        archive.flush();
        assert_eq!(archive.private_conversations("ircs://a:6697", 10), ["BOB", "Cid"], "the latest first, as last seen");
        assert_eq!(archive.private_conversations("ircs://a:6697", 1), ["BOB"]);
        assert!(archive.private_conversations("ircs://b:6697", 10).is_empty());
    }

    #[test]
    fn a_message_that_comes_twice_is_kept_once() {
        let (_dir, archive) = archive();
        archive.keep("p", said("#r", "ann", "hello", 7));
        archive.keep("p", said("#r", "ann", "hello", 7));
        archive.keep("p", said("#r", "ann", "hello", 8));
        archive.flush();
        assert_eq!(archive.latest(&scope("p", "#r", false), 10).len(), 2);
    }

    #[test]
    fn search_finds_chinese_and_english_words_of_any_length() {
        let (_dir, archive) = archive();
        archive.keep("p", said("#r", "张三", "明天下午三点在实验楼开会", 1));
        archive.keep("p", said("#r", "ann", "The Meeting moved to room 204", 2));
        archive.keep("p", said("#r", "ann", "会议室在二楼", 3));
        archive.keep("q", said("#r", "ann", "meeting on another server", 4));
        archive.keep("p", said("#r", "ann", "100% sure_thing", 5));
        archive.keep("p", said("#r", "ann", "say \"AND\" (now): *", 6));
        archive.flush();
        let p = scope("p", "#r", false);
        assert_eq!(texts(&archive.search(&p, "实验楼", 10)), ["明天下午三点在实验楼开会"]);
        // Two characters: shorter than a trigram.
        assert_eq!(texts(&archive.search(&p, "开会", 10)), ["明天下午三点在实验楼开会"]);
        assert_eq!(texts(&archive.search(&p, "会", 10)), ["会议室在二楼", "明天下午三点在实验楼开会"]);
        assert_eq!(texts(&archive.search(&p, "meeting", 10)), ["The Meeting moved to room 204"]);
        assert_eq!(texts(&archive.search(&p, "room MEETING", 10)), ["The Meeting moved to room 204"]);
        assert_eq!(texts(&archive.search(&p, "to 204", 10)), ["The Meeting moved to room 204"]);
        assert!(archive.search(&p, "meeting nowhere", 10).is_empty());
        // Characters that mean something to FTS5 or LIKE are only text.
        assert_eq!(texts(&archive.search(&p, "0%", 10)), ["100% sure_thing"]);
        assert_eq!(texts(&archive.search(&p, "e_t", 10)), ["100% sure_thing"]);
        assert_eq!(texts(&archive.search(&p, "\"", 10)), ["say \"AND\" (now): *"]);
        assert!(archive.search(&p, "OR NOT", 10).is_empty());
        assert_eq!(texts(&archive.search(&p, "\"AND\" (now): *", 10)), ["say \"AND\" (now): *"]);
        assert!(archive.search(&p, "   ", 10).is_empty());
    }

    #[test]
    fn clearing_a_place_forgets_it_and_nothing_else() {
        let (_dir, archive) = archive();
        archive.keep("p", said("#r", "ann", "secret plans", 1));
        archive.keep("q", said("#r", "ann", "other plans", 2));
        archive.clear("p");
        archive.flush();
        assert!(archive.latest(&scope("p", "#r", true), 10).is_empty());
        assert!(archive.seen_until("p").is_empty());
        assert_eq!(archive.seen_until("q"), HashMap::from([("#r".to_string(), 2)]));
        assert!(archive.search(&scope("p", "#r", true), "plans", 10).is_empty());
        assert_eq!(texts(&archive.search(&scope("q", "#r", true), "plans", 10)), ["other plans"]);
    }

    #[test]
    fn a_view_reaches_back_to_a_found_message_once() {
        let (_dir, archive) = archive();
        let r = scope("p", "#r", false);
        for i in 0..300 {
            // Other places and rooms between, which the view does not show.
            archive.keep(if i % 3 == 0 { "q" } else { "p" }, said(if i % 2 == 0 { "#r" } else { "#s" }, "ann", &format!("m{i}"), i));
        }
        archive.flush();
        let mut shown = Shown::default();
        let opened = shown.open(&archive, &r);
        assert_eq!(opened.len(), 100, "every message of #r on p");
        assert!(shown.open(&archive, &r).is_empty(), "opened once");
        shown.close(&r);
        assert_eq!(shown.open(&archive, &r).len(), 100, "closed, then opened again");
        // Everything of #r is in view already.
        assert_eq!(shown.reach(&archive, &r, opened[0].id), (Vec::new(), 0));
        let mut few = Shown::default();
        let all = archive.latest(&r, 1000);
        // A view that opened with the latest ten reaches back to the 50th of 100 with five
        // before it.
        few.first.insert(r.clone(), all[90].id);
        let (reached, left_out) = few.reach(&archive, &r, all[50].id);
        assert_eq!(texts(&reached), texts(&all[45..90]));
        assert_eq!(left_out, 0);
        assert_eq!(few.reach(&archive, &r, all[60].id), (Vec::new(), 0), "in view now");
        assert_eq!(archive.count_between(&r, all[0].id, all[90].id), 90);
        assert_eq!(archive.get(all[2].id).map(|k| k.said.text), Some("m8".to_string()));
        few.forget("p");
        assert_eq!(few.reach(&archive, &r, all[0].id), (Vec::new(), 0), "nothing of p in view");
    }

    #[test]
    fn overlong_text_is_cut_at_a_character() {
        let (_dir, archive) = archive();
        archive.keep("p", said("#r", "ann", &"字".repeat(LONGEST), 1));
        archive.flush();
        let kept = archive.latest(&scope("p", "#r", false), 1);
        assert!(kept[0].said.text.len() <= LONGEST && kept[0].said.text.chars().all(|c| c == '字'));
    }

    #[test]
    fn the_file_is_for_its_owner_alone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = Scratch::new();
        let path = dir.path().join("deep/messages.sqlite3");
        drop(Archive::open(&path).unwrap());
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
