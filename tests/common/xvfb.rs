//! An X server of our own (Xvfb) for the window's tests and benchmarks.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The longest Xvfb takes to start on a loaded machine.
const STARTS_WITHIN: Duration = Duration::from_secs(20);

/// An X server of our own. Killed, it leaves its lock and socket behind: they go too.
pub struct Xvfb {
    child: Child,
    number: u32,
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(format!("/tmp/.X{}-lock", self.number));
        let _ = std::fs::remove_file(format!("/tmp/.X11-unix/X{}", self.number));
    }
}

/// Whether display `number` is taken: its lock names a live process (a lock left by one that
/// died is removed, with its socket).
fn display_taken(number: u32) -> bool {
    let lock = format!("/tmp/.X{number}-lock");
    let socket = format!("/tmp/.X11-unix/X{number}");
    match std::fs::read_to_string(&lock) {
        Ok(text) => {
            let alive = text.trim().parse::<u32>().is_ok_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
            if !alive {
                let _ = std::fs::remove_file(&lock);
                let _ = std::fs::remove_file(&socket);
            }
            alive
        }
        Err(_) => Path::new(&socket).exists(),
    }
}

/// An X server of our own on a display number nobody else uses.
#[allow(dead_code)]
pub fn xvfb() -> (Xvfb, String) {
    xvfb_screen("1280x800x24")
}

/// The same with a screen of `geometry` ("WxHxDEPTH").
pub fn xvfb_screen(geometry: &str) -> (Xvfb, String) {
    'numbers: for number in (90 + std::process::id() % 100)..400 {
        if display_taken(number) {
            continue;
        }
        let socket = format!("/tmp/.X11-unix/X{number}");
        let display = format!(":{number}");
        let child = Command::new("Xvfb")
            .args([&display, "-screen", "0", geometry, "-nolisten", "tcp"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb is installed (scripts/test installs it)");
        let mut server = Xvfb { child, number };
        let deadline = Instant::now() + STARTS_WITHIN;
        while !Path::new(&socket).exists() {
            // It gave up on this number (another server holds it): the next one.
            if server.child.try_wait().is_ok_and(|status| status.is_some()) {
                continue 'numbers;
            }
            assert!(Instant::now() < deadline, "Xvfb did not start on {display}");
            std::thread::sleep(Duration::from_millis(50));
        }
        return (server, display);
    }
    panic!("no free X display number");
}

