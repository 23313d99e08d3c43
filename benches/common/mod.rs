//! Helpers shared by the conference benchmarks: loopback multicast groups, headless peers, CPU
//! time from /proc, percentiles.
#![allow(dead_code)]

use lanmeet::app::conference;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::process::{Child, Command, Stdio};

/// A group 239.255.`block`.`n` on a port whose next seven are free too (RTCP, audio).
pub fn group(block: u8, n: u8) -> SocketAddrV4 {
    loop {
        let port = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if port < 60000 && (1..8).all(|i| UdpSocket::bind(("127.0.0.1", port + i)).is_ok()) {
            return SocketAddrV4::new(Ipv4Addr::new(239, 255, block, n), port);
        }
    }
}

/// `lanmeet conference --headless` on `group` over loopback (TTL 0), its JSON on a pipe.
pub fn headless(group: SocketAddrV4, nick: &str, seconds: u64, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_lanmeet"))
        .args(["conference", "--headless", "--multicast", &group.to_string(), "--interface", "127.0.0.1", "--ttl", "0"])
        .args(["--nick", nick, "--duration", &seconds.to_string()])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("lanmeet conference")
}

/// User and system CPU seconds in a /proc stat file.
fn stat_seconds(path: &str) -> f64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // The command name may hold spaces; fields count from after its closing parenthesis.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, r)| r).split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// CPU seconds a process (a pid, or "self") has used so far.
pub fn cpu_seconds(pid: &str) -> f64 {
    stat_seconds(&format!("/proc/{pid}/stat"))
}

/// CPU seconds the threads named `name` of a process have used so far.
pub fn thread_cpu_seconds(pid: &str, name: &str) -> f64 {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).into_iter().flatten().flatten();
    tasks
        .filter(|task| std::fs::read_to_string(task.path().join("comm")).is_ok_and(|comm| comm.trim() == name))
        .map(|task| stat_seconds(&task.path().join("stat").to_string_lossy()))
        .sum()
}

/// The `fraction` (0 to 1) percentile of sorted values; NaN for none.
pub fn percentile(sorted: &[f64], fraction: f64) -> f64 {
    conference::percentile(sorted, fraction * 100.0).unwrap_or(f64::NAN)
}
