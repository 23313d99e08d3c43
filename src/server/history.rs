//! The relay's kept messages: SQLite (bundled, WAL) on a thread of its own, so that the event
//! loop never waits for the disk. Messages to keep are written in batches (a transaction each
//! tenth of a second, or every 256 messages); a request is answered after everything before
//! it is written, so a client never misses its own latest line. Messages older than the
//! retention time are deleted at start and hourly.

use crate::proto::irc::history::{bound, Position, Query, Reference, Reply, Request, Stored, MAX_LIMIT};
use crossbeam_channel::{Receiver, Sender, TrySendError};
use mio::Waker;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Jobs waiting for the store before new ones are refused (the chat goes on; the message is
/// not kept).
const QUEUE: usize = 65_536;
const BATCH: usize = 256;
const FLUSH_EVERY: Duration = Duration::from_millis(100);
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Where and how long messages are kept.
#[derive(Debug, Clone)]
pub struct HistoryConfig {
    pub path: PathBuf,
    pub retention: Duration,
}

impl HistoryConfig {
    /// `history.sqlite3` in the data folder, kept 30 days.
    pub fn default_place() -> HistoryConfig {
        HistoryConfig { path: crate::net::tls::data_dir().join("history.sqlite3"), retention: DEFAULT_RETENTION }
    }
}

/// How long messages are kept unless the operator says otherwise.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 86_400);

enum Job {
    Store(Stored),
    Query(Request),
}

/// The store's thread, and the way to it. Dropping it writes what is waiting and stops.
pub struct HistoryStore {
    jobs: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    dropped: u64,
}

impl HistoryStore {
    /// Opens (or creates) the database and starts the thread; answers go to `replies`, and
    /// `waker` wakes the event loop for each.
    pub fn open(config: &HistoryConfig, replies: Sender<Reply>, waker: Arc<Waker>) -> Result<HistoryStore, String> {
        let db = open_database(&config.path)?;
        let (jobs, queue) = crossbeam_channel::bounded(QUEUE);
        let retention = config.retention;
        let thread = std::thread::Builder::new()
            .name("history".into())
            .spawn(move || run(db, queue, replies, waker, retention))
            .map_err(|e| format!("cannot start the history thread: {e}"))?;
        Ok(HistoryStore { jobs: Some(jobs), thread: Some(thread), dropped: 0 })
    }

    pub fn store(&mut self, message: Stored) {
        self.send(Job::Store(message));
    }

    pub fn query(&mut self, request: Request) {
        self.send(Job::Query(request));
    }

    fn send(&mut self, job: Job) {
        let Some(jobs) = &self.jobs else { return };
        match jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped += 1;
                if self.dropped.is_power_of_two() {
                    log::warn!("history: the store is behind; {} messages or requests not kept", self.dropped);
                }
            }
            Err(TrySendError::Disconnected(_)) => {
                log::warn!("history: the store has stopped");
                self.jobs = None;
            }
        }
    }
}

impl Drop for HistoryStore {
    fn drop(&mut self) {
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
    db.execute_batch(
        "CREATE TABLE IF NOT EXISTS messages (
             id INTEGER PRIMARY KEY,
             target TEXT NOT NULL,
             msgid TEXT NOT NULL,
             unix_ms INTEGER NOT NULL,
             line TEXT NOT NULL
         );
         CREATE INDEX IF NOT EXISTS messages_by_time ON messages (target, unix_ms, id);
         CREATE INDEX IF NOT EXISTS messages_by_msgid ON messages (target, msgid);",
    )
    .map_err(problem)?;
    Ok(db)
}

fn run(mut db: Connection, jobs: Receiver<Job>, replies: Sender<Reply>, waker: Arc<Waker>, retention: Duration) {
    let mut pending: Vec<Stored> = Vec::new();
    let mut first_pending = Instant::now();
    prune(&db, retention);
    let mut pruned = Instant::now();
    loop {
        let wait = if pending.is_empty() { PRUNE_EVERY } else { FLUSH_EVERY.saturating_sub(first_pending.elapsed()) };
        match jobs.recv_timeout(wait) {
            Ok(Job::Store(message)) => {
                if pending.is_empty() {
                    first_pending = Instant::now();
                }
                pending.push(message);
                if pending.len() >= BATCH {
                    write(&mut db, &mut pending);
                }
            }
            Ok(Job::Query(request)) => {
                write(&mut db, &mut pending);
                let messages = select(&db, &request.target, &request.query, request.limit).unwrap_or_else(|e| {
                    log::warn!("history: a query failed: {e}");
                    Vec::new()
                });
                if replies.send(Reply { conn: request.conn, shown: request.shown, messages }).is_err() {
                    return;
                }
                let _ = waker.wake();
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => write(&mut db, &mut pending),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                write(&mut db, &mut pending);
                return;
            }
        }
        if !pending.is_empty() && first_pending.elapsed() >= FLUSH_EVERY {
            write(&mut db, &mut pending);
        }
        if pruned.elapsed() >= PRUNE_EVERY {
            prune(&db, retention);
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
            let mut insert = tx.prepare_cached("INSERT INTO messages (target, msgid, unix_ms, line) VALUES (?1, ?2, ?3, ?4)")?;
            for m in pending.iter() {
                insert.execute(params![m.target, m.msgid, m.unix_ms, m.line])?;
            }
        }
        tx.commit()
    })();
    if let Err(e) = result {
        log::warn!("history: {} messages not kept: {e}", pending.len());
    }
    pending.clear();
}

fn prune(db: &Connection, retention: Duration) {
    let cutoff = crate::net::now().unix_millis() - retention.as_millis().min(i64::MAX as u128) as i64;
    match db.execute("DELETE FROM messages WHERE unix_ms < ?1", params![cutoff]) {
        Ok(0) => {}
        Ok(n) => log::info!("history: {n} messages older than {} days deleted", retention.as_secs() / 86_400),
        Err(e) => log::warn!("history: cannot delete old messages: {e}"),
    }
}

/// The answer to `query` over one conversation, oldest first: the same as
/// [`crate::proto::irc::history::select`], in SQL.
pub fn select(db: &Connection, target: &str, query: &Query, limit: usize) -> rusqlite::Result<Vec<Stored>> {
    let limit = limit.min(MAX_LIMIT) as i64;
    let find = |msgid: &str| -> Option<Position> {
        db.query_row("SELECT unix_ms, id FROM messages WHERE target = ?1 AND msgid = ?2 ORDER BY id LIMIT 1", params![target, msgid], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .ok()
            .flatten()
    };
    // Messages strictly between two positions: the first `n` going up, or the last `n`.
    let range = |lo: Position, hi: Position, n: i64, newest: bool| -> rusqlite::Result<Vec<Stored>> {
        let order = if newest { "DESC" } else { "ASC" };
        let sql = format!(
            "SELECT target, msgid, unix_ms, line FROM messages WHERE target = ?1
               AND unix_ms BETWEEN ?2 AND ?4
               AND (unix_ms > ?2 OR (unix_ms = ?2 AND id > ?3))
               AND (unix_ms < ?4 OR (unix_ms = ?4 AND id < ?5))
             ORDER BY unix_ms {order}, id {order} LIMIT ?6"
        );
        let mut statement = db.prepare_cached(&sql)?;
        let rows = statement.query_map(params![target, lo.0, lo.1, hi.0, hi.1, n], |r| {
            Ok(Stored { target: r.get(0)?, msgid: r.get(1)?, unix_ms: r.get(2)?, line: r.get(3)? })
        })?;
        let mut found = rows.collect::<rusqlite::Result<Vec<_>>>()?;
        if newest {
            found.reverse();
        }
        Ok(found)
    };
    const LOWEST: Position = (i64::MIN, i64::MIN);
    const HIGHEST: Position = (i64::MAX, i64::MAX);
    let lower = |r: &Reference| bound(r, true, find);
    let upper = |r: &Reference| bound(r, false, find);
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
            (0usize..14).prop_map(|i| Reference::MsgId(format!("m{i}"))),
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

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        /// SQLite answers as the reference implementation does: messages of two
        /// conversations, several in one millisecond, kept out of time order.
        #[test]
        fn sqlite_matches_the_reference(times in proptest::collection::vec((0i64..10, any::<bool>()), 0..12), query in query(), limit in 1usize..8) {
            let rows: Vec<Stored> = times.iter().enumerate().map(|(i, (ms, other))| Stored {
                target: if *other { "#b".into() } else { "#a".into() },
                msgid: format!("m{i}"),
                unix_ms: *ms,
                line: format!(":x!~x@h PRIVMSG #a :{i}"),
            }).collect();
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
        let rows = [("old", now - 40 * day), ("recent", now - day)]
            .map(|(id, ms)| Stored { target: "#a".into(), msgid: id.into(), unix_ms: ms, line: format!(":x!~x@h PRIVMSG #a :{id}") });
        let db = database(&rows);
        prune(&db, Duration::from_secs(30 * 86_400));
        let left = select(&db, "#a", &Query::Latest(Reference::Unbounded), 10).unwrap();
        assert_eq!(left.iter().map(|s| s.msgid.as_str()).collect::<Vec<_>>(), ["recent"]);
    }
}
