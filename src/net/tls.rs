//! TLS for the relay connection, trusted on first use: the first certificate a server shows is
//! pinned (its SHA-256 fingerprint, kept in `known_servers` in the data folder), and a server
//! that later shows another one is refused with both fingerprints in the error, as WeeChat's and
//! irssi's pinned-fingerprint options do. Names and certificate authorities play no part: a
//! relay on a LAN has a self-signed certificate. The handshake signature is still checked, so a
//! peer must hold the pinned certificate's key.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring as provider, verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The folder lanmeet keeps its own files in: `LANMEET_DATA_DIR`, else `$XDG_DATA_HOME/lanmeet`,
/// else `~/.local/share/lanmeet`.
pub fn data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("LANMEET_DATA_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("lanmeet");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".local/share/lanmeet")
}

/// The SHA-256 fingerprint of a certificate, as colon-separated hex pairs (AB:CD:...).
pub fn fingerprint(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    digest.as_ref().iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

/// The first eight pairs of a fingerprint, for a status line (the log and the terminal give
/// it whole).
pub fn short_fingerprint(full: &str) -> String {
    let pairs: Vec<&str> = full.split(':').collect();
    if pairs.len() <= 8 {
        return full.to_string();
    }
    format!("{}…", pairs[..8].join(":"))
}

/// Servers whose certificates we have seen, one `host:port FINGERPRINT` a line.
#[derive(Debug, Clone)]
pub struct KnownServers {
    path: PathBuf,
}

impl KnownServers {
    pub fn new(path: PathBuf) -> KnownServers {
        KnownServers { path }
    }

    /// The file in the data folder.
    pub fn default_file() -> KnownServers {
        KnownServers::new(data_dir().join("known_servers"))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's text; none yet is empty. Any other failure to read it is an error, never
    /// "nothing pinned": that would trust a changed certificate and lose the other pins.
    fn text(&self) -> io::Result<String> {
        match std::fs::read_to_string(&self.path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
            other => other,
        }
    }

    /// The fingerprint pinned for `server`.
    pub fn pinned(&self, server: &str) -> io::Result<Option<String>> {
        let key = server_key(server);
        Ok(self.text()?.lines().filter_map(|line| line.split_once(' ')).find(|(name, _)| *name == key).map(|(_, print)| print.trim().to_string()))
    }

    /// Pins `fingerprint` for `server` (replacing what was pinned: the user's decision). Two
    /// connections of this process pinning at once take turns; the file is replaced whole, so a
    /// reader never sees half of it.
    pub fn pin(&self, server: &str, fingerprint: &str) -> io::Result<()> {
        static TURN: Mutex<()> = Mutex::new(());
        let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
        let text = self.text()?;
        let key = server_key(server);
        let mut lines: Vec<&str> = text.lines().filter(|line| line.split_once(' ').is_none_or(|(name, _)| name != key)).collect();
        let entry = format!("{key} {fingerprint}");
        lines.push(&entry);
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        // Another process may be writing its own copy: each writes a file of its own.
        let partial = self.path.with_extension(format!("new-{}", std::process::id()));
        std::fs::write(&partial, lines.join("\n") + "\n")?;
        std::fs::rename(&partial, &self.path)
    }
}

/// The name a server's pin is kept under: `host:port` as written, in lower case and without a
/// trailing dot on the host, so that one server written two ways is one entry.
fn server_key(server: &str) -> String {
    let server = server.trim().to_lowercase();
    match server.rsplit_once(':') {
        Some((host, port)) => format!("{}:{port}", host.trim_end_matches('.')),
        None => server,
    }
}

/// What the pinning verifier saw of the server, for the connection's status and errors.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seen {
    pub fingerprint: String,
    /// True when this connection pinned it (first use).
    pub first_use: bool,
    /// The fingerprint pinned before, when the server showed another.
    pub changed_from: Option<String>,
}

#[derive(Debug)]
struct PinningVerifier {
    server: String,
    known: KnownServers,
    seen: Mutex<Seen>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinningVerifier {
    fn verify_server_cert(&self, end_entity: &CertificateDer<'_>, _intermediates: &[CertificateDer<'_>], _name: &ServerName<'_>, _ocsp: &[u8], _now: UnixTime) -> Result<ServerCertVerified, rustls::Error> {
        let print = fingerprint(end_entity);
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.fingerprint = print.clone();
        let pinned = self.known.pinned(&self.server).map_err(|e| rustls::Error::General(format!("cannot read the pinned certificates in {}: {e}", self.known.path().display())))?;
        match pinned {
            Some(pinned) if pinned == print => Ok(ServerCertVerified::assertion()),
            Some(pinned) => {
                seen.changed_from = Some(pinned);
                Err(rustls::Error::General("the server's certificate changed".into()))
            }
            None => {
                // Pinned once the handshake has shown that the server holds its key.
                seen.first_use = true;
                Ok(ServerCertVerified::assertion())
            }
        }
    }

    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// A connection to the relay: plain TCP, or TLS over it. The reading half (`LinkReader`) goes
/// to a thread of its own; writes come from the connection's thread.
pub enum Link {
    Plain(TcpStream),
    Tls { socket: TcpStream, session: Arc<Mutex<ClientConnection>> },
}

/// The reading half of a [`Link`].
pub enum LinkReader {
    Plain(TcpStream),
    /// `raw[taken..filled]` came from the socket and is not yet handed to rustls.
    Tls { socket: TcpStream, write: TcpStream, session: Arc<Mutex<ClientConnection>>, raw: Vec<u8>, taken: usize, filled: usize },
}

/// Opens TLS over `socket` to `server` (`host:port`, the name its pin is kept under) and
/// completes the handshake within `timeout`. The error says what went wrong in words; a changed
/// certificate names both fingerprints and where the pin is kept.
pub fn handshake(socket: TcpStream, server: &str, known: &KnownServers, timeout: Duration) -> Result<(Link, Seen), String> {
    let provider = Arc::new(provider::default_provider());
    let verifier = Arc::new(PinningVerifier { server: server.to_string(), known: known.clone(), seen: Mutex::new(Seen::default()), provider: provider.clone() });
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    let host = server.rsplit_once(':').map_or(server, |(host, _)| host).trim_start_matches('[').trim_end_matches(']');
    let name = ServerName::try_from(host.to_string()).unwrap_or_else(|_| ServerName::try_from("lanmeet").expect("a valid name"));
    let mut session = ClientConnection::new(Arc::new(config), name).map_err(|e| format!("TLS: {e}"))?;
    let mut io = socket.try_clone().map_err(|e| format!("TLS: {e}"))?;
    let _ = socket.set_read_timeout(Some(timeout));
    let result = (|| {
        while session.is_handshaking() {
            session.complete_io(&mut io)?;
        }
        // What the handshake left to send (a TLS 1.2 Finished) goes before any line.
        while session.wants_write() {
            session.write_tls(&mut io)?;
        }
        Ok::<(), io::Error>(())
    })();
    let _ = socket.set_read_timeout(None);
    let seen = verifier.seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if let Some(pinned) = &seen.changed_from {
        return Err(format!(
            "the certificate of {server} changed: it was {pinned}, it is now {}. If the server's operator made a new one, remove the line for {server} from {}",
            seen.fingerprint,
            known.path().display()
        ));
    }
    match result {
        Ok(()) => {
            if seen.first_use {
                known.pin(server, &seen.fingerprint).map_err(|e| format!("cannot remember the certificate of {server} in {}: {e}", known.path().display()))?;
            }
            Ok((Link::Tls { socket, session: Arc::new(Mutex::new(session)) }, seen))
        }
        Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => Err(format!("{server} did not answer the TLS handshake (is it a plain-text port?)")),
        Err(e) => Err(format!("TLS with {server} failed: {e}")),
    }
}

impl Link {
    pub fn socket(&self) -> &TcpStream {
        match self {
            Link::Plain(socket) | Link::Tls { socket, .. } => socket,
        }
    }

    /// The reading half, for the reader thread.
    pub fn reader(&self) -> io::Result<LinkReader> {
        Ok(match self {
            Link::Plain(socket) => LinkReader::Plain(socket.try_clone()?),
            Link::Tls { socket, session } => LinkReader::Tls { socket: socket.try_clone()?, write: socket.try_clone()?, session: session.clone(), raw: vec![0; 16 * 1024], taken: 0, filled: 0 },
        })
    }

    /// Writes all of `bytes` (encrypted, over TLS).
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Link::Plain(socket) => socket.write_all(bytes),
            Link::Tls { socket, session } => {
                // rustls holds at most 64 KiB to send: give it what it takes, send that, go on.
                let mut session = session.lock().unwrap_or_else(|e| e.into_inner());
                let mut rest = bytes;
                loop {
                    while session.wants_write() {
                        session.write_tls(socket)?;
                    }
                    if rest.is_empty() {
                        return Ok(());
                    }
                    let taken = session.writer().write(rest)?;
                    if taken == 0 && !session.wants_write() {
                        return Err(io::ErrorKind::WriteZero.into());
                    }
                    rest = &rest[taken..];
                }
            }
        }
    }

    /// Says goodbye at the TLS level (where there is one) and closes both directions, which
    /// ends the reader thread.
    pub fn shutdown(&mut self) {
        if let Link::Tls { socket, session } = self {
            let mut session = session.lock().unwrap_or_else(|e| e.into_inner());
            session.send_close_notify();
            while session.wants_write() {
                if session.write_tls(socket).is_err() {
                    break;
                }
            }
        }
        let _ = self.socket().shutdown(Shutdown::Both);
    }
}

impl Write for Link {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.send(bytes)?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for LinkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            LinkReader::Plain(socket) => socket.read(buf),
            LinkReader::Tls { socket, write, session, raw, taken, filled } => loop {
                {
                    let mut session = session.lock().unwrap_or_else(|e| e.into_inner());
                    match session.reader().read(buf) {
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        other => return other,
                    }
                    if *taken < *filled {
                        // rustls holds at most 16 KiB of plain text: hand it records only until
                        // some is ready, and keep the rest of what the socket gave for later.
                        while *taken < *filled {
                            let mut rest = &raw[*taken..*filled];
                            let n = session.read_tls(&mut rest)?;
                            // Nothing is taken after the server's goodbye: what follows is ignored.
                            *taken = if n == 0 { *filled } else { *taken + n };
                            let state = session.process_new_packets().map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                            if state.plaintext_bytes_to_read() > 0 || state.peer_has_closed() {
                                break;
                            }
                        }
                        // Answers the protocol owes (a key update) go out at once.
                        while session.wants_write() {
                            session.write_tls(write)?;
                        }
                        continue;
                    }
                }
                // Wait for the network without holding the session: the writer may need it.
                let n = socket.read(raw)?;
                if n == 0 {
                    // The peer closed the socket without a TLS goodbye.
                    return Ok(0);
                }
                (*taken, *filled) = (0, n);
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_server_written_two_ways_has_one_pin_and_an_unreadable_file_trusts_nothing() {
        let dir = std::env::temp_dir().join(format!("lanmeet-known-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let known = KnownServers::new(dir.join("known_servers"));
        assert_eq!(known.pinned("relay.lan:6697").unwrap(), None);
        known.pin("Relay.LAN.:6697", "AA:BB").unwrap();
        known.pin("other:6697", "CC:DD").unwrap();
        assert_eq!(known.pinned("relay.lan:6697").unwrap().as_deref(), Some("AA:BB"));
        assert_eq!(known.pinned("RELAY.lan:6697").unwrap().as_deref(), Some("AA:BB"));
        known.pin("relay.lan:6697", "EE:FF").unwrap();
        assert_eq!(std::fs::read_to_string(known.path()).unwrap(), "other:6697 CC:DD\nrelay.lan:6697 EE:FF\n");
        // A file that cannot be read as text is an error, not "nothing pinned", and stays.
        std::fs::write(known.path(), b"relay.lan:6697 \xff\n").unwrap();
        assert!(known.pinned("relay.lan:6697").is_err());
        assert!(known.pin("new:6697", "00").is_err());
        assert_eq!(std::fs::read(known.path()).unwrap(), b"relay.lan:6697 \xff\n");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
