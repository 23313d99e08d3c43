//! The window with its kept conversations, against the same window with none, in one run:
//! the time from start to the first picture on the screen and to being in the room, the
//! memory it holds once there, and the time a search takes over 100,000 kept messages (against
//! a scan of the same table for the same newest 200, as a store without a full-text index
//! would do; words shorter than three characters are such a scan in the window too).
//!
//! Runs under Xvfb with a relay of our own on loopback.

mod common;
#[path = "../tests/common/xvfb.rs"]
mod xvfb;

use lanmeet::app::archive::{self, Archive, Said, Scope};
use lanmeet::app::lines::LineKind;
use lanmeet::proto::irc::server::ServerConfig;
use lanmeet::server::{self, RelayConfig};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const KEPT: usize = 100_000;
/// Starts of each window, taken in turns.
const STARTS: usize = 5;
const SEARCHES: usize = 20;

const CHINESE: &[&str] = &[
    "明天下午三点在实验楼开会",
    "实验报告已经上传到共享文件夹了",
    "谁有第三章的笔记？",
    "今天的作业是第五题到第十题",
    "食堂二楼的饺子不错",
    "网络又断了，重启一下路由器",
];
const ENGLISH: &[&str] = &[
    "the quarterly report is ready for review",
    "can someone restart the build server",
    "lunch at noon, same place as usual",
    "slides for tomorrow are in the shared folder",
    "the projector in room 204 is broken again",
    "thanks, that fixed it",
];
const SENDERS: &[&str] = &["ann", "bob", "李雷", "韩梅梅", "cid"];

/// `count` messages of #lobby at `place`, a minute apart, ending now.
fn fill(path: &Path, place: &str, count: usize) {
    let archive = Archive::open(path).expect("the store opens");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    for i in 0..count {
        let text = if i % 3 == 0 {
            format!("{} ({i})", CHINESE[i / 3 % CHINESE.len()])
        } else {
            format!("{} #{i}", ENGLISH[i / 3 % ENGLISH.len()])
        };
        let own = i % 7 == 0;
        let said = Said {
            conversation: "#lobby".into(),
            private: false,
            kind: if own { LineKind::Own } else { LineKind::Message },
            sender: if own { "测试员".into() } else { SENDERS[i % SENDERS.len()].into() },
            text,
            unix_ms: now - (count - i) as i64 * 60_000,
        };
        archive.keep(place, said);
        if i % archive::QUEUE == archive::QUEUE - 1 {
            archive.flush();
        }
    }
}

struct Start {
    first_frame: f64,
    joined: f64,
    rss_mb: f64,
}

fn rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok()).unwrap_or(0.0);
    kb / 1024.0
}

/// Starts the window with the data folder `data`, waits for its first frame and for the room,
/// lets it settle, and reads its memory.
fn start(display: &str, server: &str, data: &Path, scratch: &Path, n: usize) -> Start {
    let log = scratch.join(format!("window-{n}.log"));
    let config = scratch.join(format!("config-{n}"));
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_lanmeet"))
        .env("DISPLAY", display)
        .env("QT_QPA_PLATFORM", "xcb")
        .env("RUST_LOG", "lanmeet=info")
        // A Chinese name: both windows draw Chinese (its font is a large part of the memory).
        .env("LANMEET_NICK", "测试员")
        .env("LANMEET_SERVER", server)
        .env("LANMEET_DATA_DIR", data)
        .env("LANMEET_CONFIG_DIR", &config)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("the window starts");
    let when = |needle: &str| -> f64 {
        loop {
            if std::fs::read_to_string(&log).unwrap_or_default().contains(needle) {
                return started.elapsed().as_secs_f64();
            }
            assert!(started.elapsed() < Duration::from_secs(60), "the window never logged {needle:?}; see {}", log.display());
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    let first_frame = when("view: first frame");
    let joined = when("You joined #lobby");
    std::thread::sleep(Duration::from_secs(2));
    let rss_mb = rss_mb(child.id());
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&config);
    Start { first_frame, joined, rss_mb }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    common::percentile(&values, 0.5)
}

/// Median milliseconds of `run` over `SEARCHES` runs, and what it found.
fn timed(mut run: impl FnMut() -> usize) -> (f64, usize) {
    let mut found = 0;
    let times = (0..SEARCHES)
        .map(|_| {
            let at = Instant::now();
            found = run();
            at.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    (median(times), found)
}

fn main() {
    let scratch: PathBuf = std::env::temp_dir().join(format!("lanmeet-bench-window-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    let relay = server::spawn(RelayConfig {
        listen: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
        listen_tls: None,
        irc: ServerConfig { flood: None, max_connections_per_ip: None, ..ServerConfig::default() },
        max_send_queue: 4 << 20,
        history: None,
    })
    .expect("relay starts");
    let addr = relay.local_addr().to_string();
    let server = format!("irc://{addr}");
    let place = archive::relay_place(&addr, false);

    let (empty, full) = (scratch.join("empty"), scratch.join("full"));
    std::fs::create_dir_all(&empty).unwrap();
    let filling = Instant::now();
    fill(&full.join("messages.sqlite3"), &place, KEPT);
    let size = std::fs::metadata(full.join("messages.sqlite3")).map_or(0, |m| m.len()) + std::fs::metadata(full.join("messages.sqlite3-wal")).map_or(0, |m| m.len());
    println!("kept {KEPT} messages in {:.1} s ({:.1} MB on disk)", filling.elapsed().as_secs_f64(), size as f64 / 1e6);

    let (_xvfb, display) = xvfb::xvfb_screen("1280x800x24");
    // One start first that is not counted: the page cache and fontconfig warm up.
    start(&display, &server, &empty, &scratch, 0);
    let mut runs: [Vec<Start>; 2] = [Vec::new(), Vec::new()];
    for n in 0..STARTS {
        for (i, data) in [&empty, &full].into_iter().enumerate() {
            runs[i].push(start(&display, &server, data, &scratch, 1 + n * 2 + i));
        }
    }
    let figures = |runs: &[Start]| {
        (
            median(runs.iter().map(|s| s.first_frame * 1000.0).collect()),
            median(runs.iter().map(|s| s.joined * 1000.0).collect()),
            median(runs.iter().map(|s| s.rss_mb).collect()),
        )
    };
    let (frame0, joined0, rss0) = figures(&runs[0]);
    let (frame1, joined1, rss1) = figures(&runs[1]);
    println!();
    println!("window start (median of {STARTS})   first frame   in the room   memory (RSS)");
    println!("no kept messages                 {frame0:8.0} ms   {joined0:8.0} ms   {rss0:6.1} MB");
    println!("{KEPT} kept messages            {frame1:8.0} ms   {joined1:8.0} ms   {rss1:6.1} MB");
    println!("ratio                            {:8.2}x     {:8.2}x     {:6.2}x", frame1 / frame0, joined1 / joined0, rss1 / rss0);

    // What the store itself costs: opened as the window opens it, with its latest lines.
    let before = rss_mb(std::process::id());
    let archive = Archive::open(&full.join("messages.sqlite3")).unwrap();
    let scope = Scope { place: place.clone(), conversation: "#lobby".into(), private: true };
    let at = Instant::now();
    let (seen, latest) = (archive.seen_until(&place), archive.latest(&scope, archive::SHOWN_AT_START));
    println!();
    println!(
        "the store opened with its {} latest lines and {} room(s): {:.1} ms, {:+.1} MB",
        latest.len(),
        seen.len(),
        at.elapsed().as_secs_f64() * 1000.0,
        rss_mb(std::process::id()) - before
    );

    // Search over the same store, as the window searches it, against a scan of the table.
    let scan = rusqlite::Connection::open(full.join("messages.sqlite3")).unwrap();
    println!();
    println!("search over {KEPT}, the 200 newest (median of {SEARCHES})   matching   window's search   table scan   ratio");
    for query in ["实验楼", "开会", "quarterly report", "projector", "no such words here"] {
        let (indexed, found) = timed(|| archive.search(&scope, query, 200).len());
        let words: Vec<&str> = query.split_whitespace().collect();
        let like: String = words.iter().map(|w| format!(" AND text LIKE '%{w}%'")).collect();
        let total: i64 = scan.query_row(&format!("SELECT COUNT(*) FROM said WHERE place = ?1{like}"), [&place], |r| r.get(0)).unwrap();
        let newest = format!("SELECT id, sender, text FROM said WHERE place = ?1{like} ORDER BY id DESC LIMIT 200");
        let (scanned, _) = timed(|| {
            let mut query = scan.prepare_cached(&newest).unwrap();
            let rows = query.query_map([&place], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))).unwrap();
            rows.count()
        });
        println!("{:<28} {found:3} of {total:5}   {indexed:8.2} ms   {scanned:8.2} ms   {:6.2}x", format!("{query:?}"), indexed / scanned);
    }
    drop(relay);
    let _ = std::fs::remove_dir_all(&scratch);
}
