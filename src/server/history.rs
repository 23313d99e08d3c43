//! The relay's kept messages: SQLite (bundled, WAL) on a thread of its own, so that the event
//! loop never waits for the disk. The event loop gathers messages and hands them over every
//! 256 messages or a twentieth of a second (the store's thread wakes once for many), and the
//! store writes each handover in one transaction. A request is answered after everything
//! before it is written, so a client never misses its own latest line. Messages older than
//! the retention time, and the oldest beyond the most kept, are deleted at start and hourly.

use crate::proto::irc::history::{bound, msgid, msgid_number, msgid_time, Position, Query, Reference, Reply, Request, Stored, MAX_LIMIT};
use crossbeam_channel::{Receiver, Sender, TrySendError};
use mio::Waker;
use rusqlite::{params, Connection};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Bytes of messages waiting for the store before new ones are refused (the chat goes on; the
/// message is not kept), and requests waiting.
const QUEUE_BYTES: usize = 16 << 20;
const QUEUE_JOBS: usize = 4096;
const BATCH: usize = 256;
/// The longest a message waits in the event loop before it goes to the store.
const HANDOVER_EVERY: Duration = Duration::from_millis(50);
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// How far below the event loop the store's thread runs, in nice steps.
const STORE_NICE: libc::c_int = 10;

/// Where and how long messages are kept.
#[derive(Debug, Clone)]
pub struct HistoryConfig {
    pub path: PathBuf,
    pub retention: Duration,
    /// Messages kept at most, over all rooms; the oldest go first.
    pub max_messages: u64,
}

impl HistoryConfig {
    /// `history.sqlite3` in the data folder, kept 30 days.
    pub fn default_place() -> HistoryConfig {
        HistoryConfig::at(crate::net::tls::data_dir().join("history.sqlite3"))
    }

    /// A database at `path`, with the default limits.
    pub fn at(path: PathBuf) -> HistoryConfig {
        HistoryConfig { path, retention: DEFAULT_RETENTION, max_messages: DEFAULT_MAX_MESSAGES }
    }
}

/// Messages kept at most unless the operator says otherwise: a lively room for its month,
/// and a bound on the disk of about 1 GB (a kept line is at most about 1 KB with its tags).
pub const DEFAULT_MAX_MESSAGES: u64 = 1_000_000;

/// How long messages are kept unless the operator says otherwise.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 86_400);

enum Job {
    Store(Vec<Stored>, usize),
    Query(Request),
}

/// The store's thread, and the way to it. Dropping it writes what is waiting and stops.
pub struct HistoryStore {
    jobs: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    /// Messages not yet handed over, their bytes, and when the first of them came.
    round: Vec<Stored>,
    round_bytes: usize,
    round_since: Instant,
    /// Bytes handed over and not yet taken by the store's thread.
    queued: Arc<AtomicUsize>,
    dropped: u64,
    last_id: i64,
}

impl HistoryStore {
    /// Opens (or creates) the database and starts the thread; answers go to `replies`, and
    /// `waker` wakes the event loop for each.
    pub fn open(config: &HistoryConfig, replies: Sender<Reply>, waker: Arc<Waker>) -> Result<HistoryStore, String> {
        let db = open_database(&config.path)?;
        let last_id = db
            .query_row("SELECT coalesce(max(id), 0) FROM messages", [], |r| r.get(0))
            .map_err(|e| format!("history database {}: {e}", config.path.display()))?;
        let (jobs, queue) = crossbeam_channel::bounded(QUEUE_JOBS);
        let queued = Arc::new(AtomicUsize::new(0));
        let limits = (config.retention, config.max_messages);
        let taken = queued.clone();
        let thread = std::thread::Builder::new()
            .name("history".into())
            .spawn(move || run(db, queue, taken, replies, waker, limits))
            .map_err(|e| format!("cannot start the history thread: {e}"))?;
        Ok(HistoryStore { jobs: Some(jobs), thread: Some(thread), round: Vec::new(), round_bytes: 0, round_since: Instant::now(), queued, dropped: 0, last_id })
    }

    /// The highest message number kept when the store opened: new ids must lie above it.
    pub fn last_id(&self) -> u64 {
        self.last_id.max(0) as u64
    }

    /// Keeps a message: it goes to the store with others, by [`Self::deadline`] at the latest.
    pub fn store(&mut self, message: Stored) {
        let bytes = message.line.len() + message.target.len() + std::mem::size_of::<Stored>();
        if self.queued.load(Ordering::Relaxed) + self.round_bytes + bytes > QUEUE_BYTES {
            self.lost(1);
            return;
        }
        if self.round.is_empty() {
            self.round_since = Instant::now();
        }
        self.round_bytes += bytes;
        self.round.push(message);
        if self.round.len() >= BATCH {
            self.flush();
        }
    }

    /// When the event loop must call [`Self::flush`] next, if anything waits.
    pub fn deadline(&self) -> Option<Instant> {
        (!self.round.is_empty()).then(|| self.round_since + HANDOVER_EVERY)
    }

    /// Hands the waiting messages to the store.
    pub fn flush(&mut self) {
        if self.round.is_empty() {
            return;
        }
        let (batch, bytes) = (std::mem::take(&mut self.round), std::mem::take(&mut self.round_bytes));
        self.queued.fetch_add(bytes, Ordering::Relaxed);
        self.send(Job::Store(batch, bytes));
    }

    /// Asks the store; what was kept before is written first.
    pub fn query(&mut self, request: Request) {
        self.flush();
        self.send(Job::Query(request));
    }

    fn lost(&mut self, count: u64) {
        let before = self.dropped;
        self.dropped += count;
        if before.checked_ilog2() != self.dropped.checked_ilog2() {
            log::warn!("history: the store is behind; {} messages or requests not kept", self.dropped);
        }
    }

    fn send(&mut self, job: Job) {
        let Some(jobs) = &self.jobs else { return };
        match jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(job)) => {
                let count = match job {
                    Job::Store(batch, bytes) => {
                        self.queued.fetch_sub(bytes, Ordering::Relaxed);
                        batch.len() as u64
                    }
                    Job::Query(_) => 1,
                };
                self.lost(count);
            }
            Err(TrySendError::Disconnected(job)) => {
                log::warn!("history: the store has stopped");
                if let Job::Store(_, bytes) = job {
                    self.queued.fetch_sub(bytes, Ordering::Relaxed);
                }
                self.jobs = None;
            }
        }
    }
}

impl Drop for HistoryStore {
    fn drop(&mut self) {
        // The last messages wait for room in the queue rather than be lost.
        if let (Some(jobs), false) = (&self.jobs, self.round.is_empty()) {
            let batch = std::mem::take(&mut self.round);
            let _ = jobs.send(Job::Store(batch, std::mem::take(&mut self.round_bytes)));
        }
        self.jobs.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn open_database(path: &Path) -> Result<Connection, String> {
    let problem = |e: rusqlite::Error| format!("history database {}: {e}", path.display());
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    let db = Connection::open(path).map_err(problem)?;
    db.pragma_update(None, "journal_mode", "WAL").map_err(problem)?;
    db.pragma_update(None, "synchronous", "NORMAL").map_err(problem)?;
    db.busy_timeout(Duration::from_secs(5)).map_err(problem)?;
    let version: i64 = db.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(problem)?;
    if version < SCHEMA {
        migrate(&db).map_err(problem)?;
    }
    Ok(db)
}

/// The schema's version (`PRAGMA user_version`).
const SCHEMA: i64 = 1;

/// Makes the tables of [`SCHEMA`]: one b-tree, messages in order of room, time and number,
/// so that writing a message adds one entry and every query reads one range. A message's
/// number tells its time, so finding one by its msgid is a lookup too. The first schema kept
/// the msgid as text with an index of its own; its messages are carried over, in order, with
/// numbers made from their times.
fn migrate(db: &Connection) -> rusqlite::Result<()> {
    let old = db.query_row("SELECT count(*) FROM pragma_table_info('messages') WHERE name = 'msgid'", [], |r| r.get::<_, i64>(0))? > 0;
    let (rename, copy) = if old {
        (
            "ALTER TABLE messages RENAME TO messages_v0;
             DROP INDEX IF EXISTS messages_by_time;
             DROP INDEX IF EXISTS messages_by_msgid;",
            "INSERT OR IGNORE INTO messages (target, unix_ms, id, line)
               SELECT target, id >> 10, id, line FROM (
                 SELECT target, (unix_ms << 10) + (row_number() OVER (PARTITION BY unix_ms ORDER BY id) - 1) AS id, line
                 FROM messages_v0 WHERE unix_ms >= 0);
             DROP TABLE messages_v0;",
        )
    } else {
        ("", "")
    };
    db.execute_batch(&format!(
        "BEGIN;
         {rename}
         CREATE TABLE IF NOT EXISTS messages (
             target TEXT NOT NULL,
             unix_ms INTEGER NOT NULL,
             id INTEGER NOT NULL,
             line TEXT NOT NULL,
             PRIMARY KEY (target, unix_ms, id)
         ) WITHOUT ROWID;
         {copy}
         PRAGMA user_version = {SCHEMA};
         COMMIT;"
    ))
}

fn run(mut db: Connection, jobs: Receiver<Job>, queued: Arc<AtomicUsize>, replies: Sender<Reply>, waker: Arc<Waker>, limits: (Duration, u64)) {
    // Delivering comes first: the store yields the core to the event loop and catches up in
    // its gaps. Under a load that never lets up it still gets a tenth of a core when they
    // compete (about 25,000 messages a second) and, past the queue, messages go unkept.
    // On Linux a nice value is the calling thread's own. -1 may be a nice value, so errno
    // tells a failure.
    // SAFETY: errno is this thread's; nice takes no pointers.
    #[cfg(target_os = "linux")]
    if unsafe {
        *libc::__errno_location() = 0;
        libc::nice(STORE_NICE)
    } == -1
        && std::io::Error::last_os_error().raw_os_error().unwrap_or(0) != 0
    {
        log::debug!("history: cannot lower the store's priority: {}", std::io::Error::last_os_error());
    }
    prune(&db, limits);
    let mut pruned = Instant::now();
    loop {
        match jobs.recv_timeout(PRUNE_EVERY.saturating_sub(pruned.elapsed())) {
            Ok(Job::Store(mut batch, bytes)) => {
                queued.fetch_sub(bytes, Ordering::Relaxed);
                write(&mut db, &mut batch);
            }
            Ok(Job::Query(request)) => {
                let messages = select(&db, &request.target, &request.query, request.limit).unwrap_or_else(|e| {
                    log::warn!("history: a query failed: {e}");
                    Vec::new()
                });
                if replies.send(Reply { conn: request.conn, shown: request.shown, messages }).is_err() {
                    return;
                }
                let _ = waker.wake();
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
        }
        if pruned.elapsed() >= PRUNE_EVERY {
            prune(&db, limits);
            pruned = Instant::now();
        }
    }
}

/// Writes what waits in one transaction.
fn write(db: &mut Connection, pending: &mut Vec<Stored>) {
    if pending.is_empty() {
        return;
    }
    let result = (|| -> rusqlite::Result<()> {
        let tx = db.transaction()?;
        {
            // A number kept twice (a clock set back past a restart) loses that one message,
            // not the batch. The time is the number's, which finding by msgid relies on.
            let mut insert = tx.prepare_cached("INSERT OR IGNORE INTO messages (target, unix_ms, id, line) VALUES (?1, ?2, ?3, ?4)")?;
            for m in pending.iter() {
                if let Some(id) = msgid_number(&m.msgid) {
                    insert.execute(params![m.target, msgid_time(id as u64), id, m.line])?;
                }
            }
        }
        tx.commit()
    })();
    if let Err(e) = result {
        log::warn!("history: {} messages not kept: {e}", pending.len());
    }
    pending.clear();
}

/// Deletes messages older than the retention time, then the oldest beyond the most kept.
fn prune(db: &Connection, (retention, max_messages): (Duration, u64)) {
    let cutoff = crate::net::now().unix_millis() - retention.as_millis().min(i64::MAX as u128) as i64;
    match db.execute("DELETE FROM messages WHERE unix_ms < ?1", params![cutoff]) {
        Ok(0) => {}
        Ok(n) => log::info!("history: {n} messages older than {} days deleted", retention.as_secs() / 86_400),
        Err(e) => log::warn!("history: cannot delete old messages: {e}"),
    }
    let keep = i64::try_from(max_messages).unwrap_or(i64::MAX);
    if db.query_row("SELECT count(*) FROM messages", [], |r| r.get::<_, i64>(0)).is_ok_and(|n| n <= keep) {
        return;
    }
    match db.execute("DELETE FROM messages WHERE id <= (SELECT id FROM messages ORDER BY id DESC LIMIT 1 OFFSET ?1)", params![keep]) {
        Ok(0) => {}
        Ok(n) => log::info!("history: {n} oldest messages deleted to keep at most {max_messages}"),
        Err(e) => log::warn!("history: cannot delete the oldest messages: {e}"),
    }
}

/// The answer to `query` over one conversation, oldest first: the same as
/// [`crate::proto::irc::history::select`], in SQL.
pub fn select(db: &Connection, target: &str, query: &Query, limit: usize) -> rusqlite::Result<Vec<Stored>> {
    let limit = limit.min(MAX_LIMIT) as i64;
    // Messages strictly between two positions: the first `n` going up, or the last `n`.
    let range = |lo: Position, hi: Position, n: i64, newest: bool| -> rusqlite::Result<Vec<Stored>> {
        let order = if newest { "DESC" } else { "ASC" };
        let sql = format!(
            "SELECT target, id, unix_ms, line FROM messages WHERE target = ?1
               AND unix_ms BETWEEN ?2 AND ?4
               AND (unix_ms > ?2 OR (unix_ms = ?2 AND id > ?3))
               AND (unix_ms < ?4 OR (unix_ms = ?4 AND id < ?5))
             ORDER BY unix_ms {order}, id {order} LIMIT ?6"
        );
        let mut statement = db.prepare_cached(&sql)?;
        let rows = statement.query_map(params![target, lo.0, lo.1, hi.0, hi.1, n], |r| {
            Ok(Stored { target: r.get(0)?, msgid: msgid(r.get::<_, i64>(1)? as u64), unix_ms: r.get(2)?, line: r.get(3)? })
        })?;
        let mut found = rows.collect::<rusqlite::Result<Vec<_>>>()?;
        if newest {
            found.reverse();
        }
        Ok(found)
    };
    const LOWEST: Position = (i64::MIN, i64::MIN);
    const HIGHEST: Position = (i64::MAX, i64::MAX);
    let lower = |r: &Reference| bound(r, true);
    let upper = |r: &Reference| bound(r, false);
    match query {
        Query::Latest(Reference::Unbounded) => range(LOWEST, HIGHEST, limit, true),
        Query::Latest(r) => lower(r).map_or(Ok(Vec::new()), |lo| range(lo, HIGHEST, limit, true)),
        Query::Before(r) => upper(r).map_or(Ok(Vec::new()), |hi| range(LOWEST, hi, limit, true)),
        Query::After(r) => lower(r).map_or(Ok(Vec::new()), |lo| range(lo, HIGHEST, limit, false)),
        Query::Around(r) => match upper(r) {
            Some(at) => {
                let mut found = range(LOWEST, at, limit / 2, true)?;
                let rest = limit - found.len() as i64;
                // The message itself and those after it: just below its position upwards.
                let from = if at.1 == i64::MIN { (at.0 - 1, i64::MAX) } else { (at.0, at.1 - 1) };
                found.extend(range(from, HIGHEST, rest, false)?);
                Ok(found)
            }
            None => Ok(Vec::new()),
        },
        Query::Between(a, b) => match (lower(a), upper(a), lower(b), upper(b)) {
            (Some(lo_a), Some(hi_a), Some(lo_b), Some(hi_b)) => {
                if hi_a <= hi_b {
                    range(lo_a, hi_b, limit, false)
                } else {
                    range(lo_b, hi_a, limit, true)
                }
            }
            _ => Ok(Vec::new()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::irc::history;
    use proptest::prelude::*;

    fn database(rows: &[Stored]) -> Connection {
        let dir = std::env::temp_dir().join(format!("lanmeet-history-{}-{:?}", std::process::id(), std::thread::current().id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut db = open_database(&dir.join("history.sqlite3")).unwrap();
        write(&mut db, &mut rows.to_vec());
        db
    }

    fn reference() -> impl Strategy<Value = Reference> {
        prop_oneof![
            Just(Reference::Unbounded),
            (0i64..12).prop_map(Reference::Timestamp),
            // Resolved to the msgid of that row (if there is one) by `resolve`.
            (0usize..14).prop_map(|i| Reference::MsgId(format!("row {i}"))),
            Just(Reference::MsgId("0 row 0".into())),
        ]
    }

    fn query() -> impl Strategy<Value = Query> {
        prop_oneof![
            reference().prop_map(Query::Latest),
            reference().prop_map(Query::Before),
            reference().prop_map(Query::After),
            reference().prop_map(Query::Around),
            (reference(), reference()).prop_map(|(a, b)| Query::Between(a, b)),
        ]
    }

    /// A kept message as the relay makes it: its number from its time.
    fn row(target: &str, unix_ms: i64, nth: u64, line: &str) -> Stored {
        Stored { target: target.into(), msgid: msgid(((unix_ms as u64) << 10) + nth), unix_ms, line: line.into() }
    }

    /// `row N` becomes row N's msgid, `0 row N` the same with a leading zero (no such id).
    fn resolve(query: &Query, rows: &[Stored]) -> Query {
        let one = |r: &Reference| match r {
            Reference::MsgId(text) => {
                let (pad, n) = text.split_once("row ").unwrap();
                let id = rows.get(n.parse::<usize>().unwrap()).map_or_else(|| msgid(7), |r| r.msgid.clone());
                Reference::MsgId(format!("{pad}{id}").replace(' ', ""))
            }
            other => other.clone(),
        };
        match query {
            Query::Latest(r) => Query::Latest(one(r)),
            Query::Before(r) => Query::Before(one(r)),
            Query::After(r) => Query::After(one(r)),
            Query::Around(r) => Query::Around(one(r)),
            Query::Between(a, b) => Query::Between(one(a), one(b)),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        /// SQLite answers as the reference implementation does: messages of two
        /// conversations, several in one millisecond, kept out of time order.
        #[test]
        fn sqlite_matches_the_reference(times in proptest::collection::vec((0i64..10, any::<bool>()), 0..12), query in query(), limit in 1usize..8) {
            let rows: Vec<Stored> = times.iter().enumerate()
                .map(|(i, (ms, other))| row(if *other { "#b" } else { "#a" }, *ms, i as u64, &format!(":x!~x@h PRIVMSG #a :{i}")))
                .collect();
            let query = resolve(&query, &rows);
            let db = database(&rows);
            let ours: Vec<Stored> = rows.iter().filter(|r| r.target == "#a").cloned().collect();
            let expected = history::select(&ours, &query, limit);
            let got = select(&db, "#a", &query, limit).unwrap();
            prop_assert_eq!(got, expected);
        }
    }

    #[test]
    fn old_messages_are_pruned_and_the_rest_survive_reopening() {
        let now = crate::net::now().unix_millis();
        let day = 86_400_000;
        let rows = [row("#a", now - 40 * day, 0, "old"), row("#a", now - day, 0, "recent")];
        let db = database(&rows);
        prune(&db, (Duration::from_secs(30 * 86_400), DEFAULT_MAX_MESSAGES));
        let left = select(&db, "#a", &Query::Latest(Reference::Unbounded), 10).unwrap();
        assert_eq!(left, rows[1..]);
    }

    /// A client whose last seen message was not kept (said behind a lock, or lost in a crash)
    /// still gets exactly what came after it.
    #[test]
    fn a_msgid_that_was_not_kept_still_marks_a_place() {
        let rows = [row("#a", 10, 0, "before"), row("#a", 20, 0, "after")];
        let db = database(&rows);
        let unkept = msgid(15 << 10);
        let got = select(&db, "#a", &Query::Latest(Reference::MsgId(unkept.clone())), 10).unwrap();
        assert_eq!(got, rows[1..]);
        assert_eq!(select(&db, "#a", &Query::Before(Reference::MsgId(unkept)), 10).unwrap(), rows[..1]);
    }

    #[test]
    fn beyond_the_most_kept_the_oldest_go_in_every_room() {
        let now = crate::net::now().unix_millis();
        let rows: Vec<Stored> = (1..=10).map(|i| row(if i % 2 == 0 { "#a" } else { "#b" }, now, i, &i.to_string())).collect();
        let db = database(&rows);
        prune(&db, (DEFAULT_RETENTION, 4));
        let left = |room| select(&db, room, &Query::Latest(Reference::Unbounded), 10).unwrap().into_iter().map(|s| s.line).collect::<Vec<_>>();
        assert_eq!((left("#a"), left("#b")), (vec!["8".to_string(), "10".into()], vec!["7".to_string(), "9".into()]));
    }

    /// A database of the first schema (msgids as text) opens with its messages, in order,
    /// under new numbers that the relay then counts on from.
    #[test]
    fn messages_of_the_first_schema_are_carried_over() {
        let dir = std::env::temp_dir().join(format!("lanmeet-history-v0-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("history.sqlite3");
        let old = Connection::open(&path).unwrap();
        old.execute_batch(
            "CREATE TABLE messages (id INTEGER PRIMARY KEY, target TEXT NOT NULL, msgid TEXT NOT NULL, unix_ms INTEGER NOT NULL, line TEXT NOT NULL);
             CREATE INDEX messages_by_time ON messages (target, unix_ms, id);
             CREATE INDEX messages_by_msgid ON messages (target, msgid);
             INSERT INTO messages (target, msgid, unix_ms, line) VALUES
               ('#a', 'x-2', 20, ':b PRIVMSG #a :second'), ('#a', 'x-1', 10, ':a PRIVMSG #a :first'), ('#b', 'x-3', 30, ':c PRIVMSG #b :other'),
               ('#b', 'x-4', 20, ':d PRIVMSG #b :same moment');",
        )
        .unwrap();
        drop(old);
        let db = open_database(&path).unwrap();
        let kept = select(&db, "#a", &Query::Latest(Reference::Unbounded), 10).unwrap();
        assert_eq!(kept.iter().map(|s| s.line.as_str()).collect::<Vec<_>>(), [":a PRIVMSG #a :first", ":b PRIVMSG #a :second"]);
        let after_first = select(&db, "#a", &Query::After(Reference::MsgId(kept[0].msgid.clone())), 10).unwrap();
        assert_eq!(after_first, kept[1..]);
        // Two messages of one millisecond (in two rooms) get two numbers, each found again.
        let other = select(&db, "#b", &Query::Latest(Reference::Unbounded), 10).unwrap();
        assert_eq!(other.iter().map(|s| s.line.as_str()).collect::<Vec<_>>(), [":d PRIVMSG #b :same moment", ":c PRIVMSG #b :other"]);
        assert_ne!(other[0].msgid, kept[1].msgid);
        assert_eq!(select(&db, "#b", &Query::After(Reference::MsgId(other[0].msgid.clone())), 10).unwrap(), other[1..]);
        drop(db);
        let (replies, _answers) = crossbeam_channel::unbounded();
        let poll = mio::Poll::new().unwrap();
        let waker = Arc::new(Waker::new(poll.registry(), mio::Token(0)).unwrap());
        let store = HistoryStore::open(&HistoryConfig::at(path), replies, waker).unwrap();
        assert_eq!(store.last_id(), 30 << 10, "the numbers come from the times");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The nice value of this process's thread called `name` (field 19 of its stat line).
    fn nice_of(name: &str) -> Option<i64> {
        std::fs::read_dir("/proc/self/task").ok()?.flatten().find_map(|task| {
            let comm = std::fs::read_to_string(task.path().join("comm")).ok()?;
            (comm.trim_end() == name).then_some(())?;
            let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
            let after_name = &stat[stat.rfind(')')? + 2..];
            after_name.split(' ').nth(16)?.parse().ok()
        })
    }

    #[test]
    fn the_store_gives_way_to_the_event_loop() {
        let dir = std::env::temp_dir().join(format!("lanmeet-history-nice-{}", std::process::id()));
        let (replies, _answers) = crossbeam_channel::unbounded();
        let poll = mio::Poll::new().unwrap();
        let waker = Arc::new(Waker::new(poll.registry(), mio::Token(0)).unwrap());
        let store = HistoryStore::open(&HistoryConfig::at(dir.join("history.sqlite3")), replies, waker).unwrap();
        let expected = (nice_of_this_thread() + i64::from(STORE_NICE)).min(19);
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut seen = None;
        while Instant::now() < deadline {
            seen = nice_of("history");
            if seen == Some(expected) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(seen, Some(expected), "the store runs below the thread that opened it");
    }

    fn nice_of_this_thread() -> i64 {
        // SAFETY: gettid takes nothing.
        let tid = unsafe { libc::gettid() };
        let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap();
        stat[stat.rfind(')').unwrap() + 2..].split(' ').nth(16).unwrap().parse().unwrap()
    }
}
