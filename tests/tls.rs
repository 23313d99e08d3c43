//! The relay over TLS on 127.0.0.1: people chat through it, the first certificate a server
//! shows is pinned, and a server that later shows another is refused with both fingerprints.

mod common;

use common::{certificate, open_config, scratch, tls_relay_at, Peer, Raw, PATIENCE};
use lanmeet::server::{self, RelayConfig};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::sync::Arc;
use lanmeet::net::tls::KnownServers;
use lanmeet::net::unicast::Status;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn people_chat_over_tls_and_the_certificate_is_pinned_on_first_use() {
    let dir = scratch("tls-chat");
    let known = KnownServers::new(dir.join("known_servers"));
    let tls = certificate(&dir, "relay");
    let relay = tls_relay_at(SocketAddr::from(([127, 0, 0, 1], 0)), &tls);
    let addr = relay.tls_addr().expect("a TLS port").to_string();
    let alice = Peer::start_tls(&addr, "alice", known.clone());
    alice.wait_status("a TLS connection, pinned now", |s| matches!(s, Status::Connected { tls: Some(seen), .. } if seen.fingerprint == tls.fingerprint && seen.first_use));
    alice.joined();
    assert_eq!(known.pinned(&addr).unwrap(), Some(tls.fingerprint.clone()));
    let bob = Peer::start_tls(&addr, "鲍勃", known.clone());
    bob.wait_status("a TLS connection, as pinned", |s| matches!(s, Status::Connected { tls: Some(seen), .. } if seen.fingerprint == tls.fingerprint && !seen.first_use));
    bob.joined();
    alice.say("hello 你好 over TLS");
    assert_eq!(bob.messages(1), vec![("alice".to_string(), "hello 你好 over TLS".to_string())]);
    // The terminal client speaks TLS by default and prints the fingerprint it pinned.
    let mut terminal = Command::new(env!("CARGO_BIN_EXE_lanmeet"))
        .args(["chat", "--server", &addr, "--nick", "终端"])
        .env("LANMEET_DATA_DIR", dir.join("terminal"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(terminal.stdout.take().unwrap());
    let mut line = String::new();
    let fingerprint_line = loop {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "the terminal client ended before connecting");
        if line.contains("connected to") {
            break line.clone();
        }
    };
    assert!(fingerprint_line.contains("over TLS") && fingerprint_line.contains(&tls.fingerprint), "{fingerprint_line}");
    bob.wait_for("the terminal client joining", |e| matches!(e, lanmeet::proto::irc::client::Event::MemberJoined { nick, .. } if nick == "终端").then_some(()));
    drop(terminal.stdin.take());
    let _ = terminal.kill();
    let _ = terminal.wait();
    // Plain text at the TLS port is not IRC to it: the connection is dropped.
    let mut raw = Raw::connect(relay.tls_addr().unwrap());
    raw.send("NICK plain\r\nUSER plain 0 * :plain");
    assert!(raw.closed_within(PATIENCE), "a plain-text client was kept at the TLS port");
}

#[test]
fn a_client_that_reads_late_gets_every_line_of_a_burst() {
    // The relay hands rustls many lines at once, so records arrive back to back and larger than
    // a read: the client must take them however they are split, never holding more plain text
    // than rustls allows.
    let dir = scratch("tls-burst");
    let known = KnownServers::new(dir.join("known_servers"));
    let tls = certificate(&dir, "relay");
    let relay = tls_relay_at(SocketAddr::from(([127, 0, 0, 1], 0)), &tls);
    let at = relay.tls_addr().unwrap();
    let mut reader = Raw::connect_tls(at, &known).register("reader", "#burst");
    let mut sender = Raw::connect_tls(at, &known).register("sender", "#burst");
    const COUNT: usize = 3_000;
    let line = "字".repeat(130);
    for i in 0..COUNT {
        sender.send(&format!("PRIVMSG #burst :{i} {line}"));
    }
    // Everything is on its way to the reader before it reads a byte.
    sender.send("PING :sent");
    sender.expect(|m| m.command == "PONG");
    std::thread::sleep(Duration::from_millis(300));
    for i in 0..COUNT {
        let m = reader.expect(|m| m.command == "PRIVMSG");
        assert_eq!(m.param(1).unwrap(), format!("{i} {line}"));
    }
}

#[test]
fn a_changed_certificate_is_refused_with_both_fingerprints() {
    let dir = scratch("tls-changed");
    let known = KnownServers::new(dir.join("known_servers"));
    let first = certificate(&dir, "first");
    let relay = tls_relay_at(SocketAddr::from(([127, 0, 0, 1], 0)), &first);
    let at = relay.tls_addr().unwrap();
    let addr = at.to_string();
    let alice = Peer::start_tls(&addr, "alice", known.clone());
    alice.joined();
    drop(alice);
    drop(relay);
    // Another server at the same address, with another certificate.
    let second = certificate(&dir, "second");
    let _impostor = tls_relay_at(at, &second);
    let bob = Peer::start_tls(&addr, "bob", known.clone());
    let error = bob.wait_any("the refusal", |e| match e {
        lanmeet::app::chat::ChatEvent::Unicast(lanmeet::net::unicast::UnicastEvent::Status(Status::Reconnecting { error, .. })) => Some(error.clone()),
        _ => None,
    });
    assert!(error.contains("changed") && error.contains(&first.fingerprint) && error.contains(&second.fingerprint), "{error}");
    assert!(error.contains(&known.path().display().to_string()), "the error says where the pin is kept: {error}");
    // Nothing was said to it, and the pin stays.
    assert_eq!(known.pinned(&addr).unwrap(), Some(first.fingerprint.clone()));
    std::thread::sleep(Duration::from_millis(300));
    assert!(!bob.events.try_iter().any(|e| matches!(e, lanmeet::app::chat::ChatEvent::Unicast(lanmeet::net::unicast::UnicastEvent::Chat(lanmeet::proto::irc::client::Event::Joined { .. })))));
}

/// Shows a certificate with a key that is not its own.
#[derive(Debug)]
struct WrongKey(Arc<CertifiedKey>);

impl ResolvesServerCert for WrongKey {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

#[test]
fn a_server_showing_the_pinned_certificate_without_its_key_is_refused() {
    let dir = scratch("tls-wrong-key");
    let known = KnownServers::new(dir.join("known_servers"));
    let real = certificate(&dir, "real");
    let relay = tls_relay_at(SocketAddr::from(([127, 0, 0, 1], 0)), &real);
    let at = relay.tls_addr().unwrap();
    let alice = Peer::start_tls(&at.to_string(), "alice", known.clone());
    alice.joined();
    drop(alice);
    drop(relay);
    // An impostor copies the real certificate (it is public) but cannot have its key.
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("real.pem")).unwrap().collect::<Result<_, _>>().unwrap();
    let other = rcgen::KeyPair::generate().unwrap();
    let key = PrivatePkcs8KeyDer::from(other.serialize_der()).into();
    let signing = rustls::crypto::ring::sign::any_supported_type(&key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(WrongKey(Arc::new(CertifiedKey::new(chain, signing)))));
    let _impostor = server::spawn(RelayConfig { listen: None, listen_tls: Some((at, Arc::new(config))), irc: open_config(), max_send_queue: 4 << 20, history: None }).unwrap();
    let bob = Peer::start_tls(&at.to_string(), "bob", known.clone());
    let error = bob.wait_any("the refusal", |e| match e {
        lanmeet::app::chat::ChatEvent::Unicast(lanmeet::net::unicast::UnicastEvent::Status(Status::Reconnecting { error, .. })) => Some(error.clone()),
        _ => None,
    });
    // The fingerprint matches; the handshake's signature does not.
    assert!(error.contains("TLS with") && !error.contains("changed"), "{error}");
    assert_eq!(known.pinned(&at.to_string()).unwrap(), Some(real.fingerprint.clone()));
}
