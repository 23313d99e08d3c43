//! A unicast chat session: one connection to a relay, and, when the user asked for a local
//! address where nothing answers, a relay hosted in this process so the program works alone.
//! [`ChatEvent`] is what both kinds of chat session report (see also `multicast_chat.rs`).

use super::i18n::tr;
use crate::net::multicast::MulticastEvent;
use crate::net::tls::KnownServers;
use crate::net::unicast::{self, UnicastConfig, UnicastEvent, UnicastHandle};
use crate::proto::irc::client::ClientConfig;
use crate::proto::irc::names::fold;
use crate::server::{self, RelayConfig, RelayHandle};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;
use thiserror::Error;

/// The relay of this machine, over TLS (6697 is IRC over TLS, RFC 7194).
pub const DEFAULT_SERVER: &str = "127.0.0.1:6697";
pub const DEFAULT_CHANNEL: &str = "#lobby";

#[derive(Debug, Clone)]
pub struct ChatSettings {
    pub server: String,
    pub nick: String,
    pub channel: String,
    /// Other rooms to be in as well (joined on connecting).
    pub also: Vec<String>,
    pub password: Option<String>,
    /// Host a relay in-process when the server address is local and nothing answers there.
    pub host_if_missing: bool,
    /// The hosted relay takes connections from the network too (over TLS only; a plain-text
    /// relay stays on this computer), not only from this computer.
    pub host_for_network: bool,
    /// TLS, with the certificates pinned in this file (the first one a server shows is
    /// pinned); None for plain-text IRC.
    pub tls: Option<KnownServers>,
    /// The time of the newest message kept on this computer of each room (folded name).
    pub seen_until: std::collections::HashMap<String, i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatEvent {
    Unicast(UnicastEvent),
    Multicast(MulticastEvent),
    /// Nothing answered at the address, so this process now hosts the relay there.
    HostingRelay(Hosted),
}

/// A relay hosted in this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hosted {
    /// Where this process connects to it.
    pub addr: SocketAddr,
    /// Whether it takes connections from the network, not only from this computer.
    pub shared: bool,
    /// Where others on the network connect: the port at each of this computer's network
    /// addresses (none while it has none, or when not shared).
    pub join_at: Vec<SocketAddr>,
}

impl Hosted {
    /// What the window and the terminal say about it.
    pub fn describe(&self) -> String {
        let first = tr("No server answered, so this program hosts one on {0}", &[&self.addr]);
        let list = self.join_at_text();
        match (self.shared, list.is_empty()) {
            (true, false) => tr("{0}; others on the network join at {1}", &[&first, &list]),
            (true, true) => tr("{0}; it takes connections from the network, but this computer has no network address yet", &[&first]),
            (false, _) => tr("{0}; only this computer can reach it", &[&first]),
        }
    }

    /// Where others join, separated by ", " (empty when nowhere).
    pub fn join_at_text(&self) -> String {
        self.join_at.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    }
}

#[derive(Debug, Error)]
pub enum ChatError {
    #[error("the nickname is empty")]
    NoNick,
    #[error("cannot start the connection thread: {0}")]
    Thread(#[from] std::io::Error),
}

pub struct ChatSession {
    // Field order matters: the client says goodbye before the relay it may be talking to stops.
    client: Option<UnicastHandle>,
    relay: Option<RelayHandle>,
}

impl ChatSession {
    pub fn start<F>(settings: ChatSettings, mut sink: F) -> Result<ChatSession, ChatError>
    where
        F: FnMut(ChatEvent) + Send + 'static,
    {
        if settings.nick.trim().is_empty() {
            return Err(ChatError::NoNick);
        }
        // A server typed without a port gets IRC's.
        let server = unicast::with_default_port(&settings.server, settings.tls.is_some());
        let relay = if settings.host_if_missing { host_relay_if_missing(&server, settings.tls.is_some(), settings.host_for_network) } else { None };
        if let Some((relay, addr)) = &relay {
            let shared = relay.local_addr().ip().is_unspecified();
            let join_at = if shared { network_addresses(relay.local_addr().port()) } else { Vec::new() };
            sink(ChatEvent::HostingRelay(Hosted { addr: *addr, shared, join_at }));
        }
        let relay = relay.map(|(relay, _)| relay);
        let mut client = ClientConfig::new(settings.nick.trim(), &settings.channel);
        client.password = settings.password.clone();
        client.also = settings.also.iter().filter(|room| fold(room) != fold(&settings.channel)).map(|room| (room.clone(), None)).collect();
        client.seen_until = settings.seen_until.clone();
        let config = UnicastConfig { server, client, tls: settings.tls.clone() };
        let handle = unicast::spawn(config, move |event| sink(ChatEvent::Unicast(event)))?;
        Ok(ChatSession { client: Some(handle), relay })
    }

    /// Queue text for the room; waits only while a thousand lines are queued.
    pub fn say(&self, text: &str) {
        if let Some(client) = &self.client {
            client.say(text);
        }
    }

    /// Queue text without waiting; false when it was not taken (the caller keeps it).
    pub fn try_say(&self, text: &str) -> bool {
        self.client.as_ref().is_some_and(|client| client.try_say(text))
    }

    /// While waiting to reconnect, try at once.
    pub fn retry_now(&self) {
        if let Some(client) = &self.client {
            client.retry_now();
        }
    }

    pub fn hosting(&self) -> Option<SocketAddr> {
        self.relay.as_ref().map(RelayHandle::local_addr)
    }

    /// Connections on the relay hosted here (this session's own among them), or 0.
    pub fn hosted_connections(&self) -> usize {
        self.relay.as_ref().map_or(0, RelayHandle::connections)
    }

    /// Deliver what is queued (waiting at most `patience`), leave, and stop any hosted relay.
    pub fn finish(mut self, patience: Duration) {
        if let Some(client) = self.client.take() {
            client.finish(patience);
        }
    }

    /// As `finish`, returning at once: the connection delivers and says goodbye on its own
    /// (its last event is `Status::Stopped`). A relay hosted here stops now, which frees its
    /// port for the next session; everyone on it is dropped either way.
    pub fn leave(mut self, patience: Duration) {
        if let Some(client) = self.client.take() {
            client.leave(patience);
        }
        drop(self.relay.take());
    }
}

/// This computer's network addresses (IPv4, not loopback) with `port`.
pub fn network_addresses(port: u16) -> Vec<SocketAddr> {
    crate::net::multicast::interfaces()
        .into_iter()
        .filter(|(_, addr)| !addr.is_loopback() && !addr.is_link_local())
        .map(|(_, addr)| SocketAddr::from((addr, port)))
        .collect()
}

/// Start a relay at `server` if it names a loopback address where nothing listens: over TLS
/// with this installation's certificate, or plain text. With `for_network` and TLS it listens
/// on every address at that port, so that others join; where that port is taken on another
/// address, on the loopback address alone. Gives the relay and the address to connect to.
fn host_relay_if_missing(server: &str, tls: bool, for_network: bool) -> Option<(RelayHandle, SocketAddr)> {
    let addr: SocketAddr = server.parse().ok()?;
    if !addr.ip().is_loopback() {
        return None;
    }
    // Loopback answers in microseconds, or refuses at once; one that does neither is taken as
    // busy rather than waited for (the caller may be a window).
    match TcpStream::connect_timeout(&addr, Duration::from_millis(50)) {
        Ok(_) => None,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            let own = match tls.then(server::tls::own_certificate).transpose() {
                Ok(own) => own,
                Err(e) => {
                    log::warn!("cannot host a relay: {e}");
                    return None;
                }
            };
            let config = |at: SocketAddr| {
                let config = match &own {
                    Some(own) => RelayConfig { listen: None, listen_tls: Some((at, own.config.clone())), ..RelayConfig::default() },
                    None => RelayConfig { listen: Some(at), ..RelayConfig::default() },
                };
                // The hosted relay keeps history as `lanmeet serve` does; one that others join
                // keeps it apart, so that what was said on this computer alone stays here.
                let history = if at.ip().is_unspecified() {
                    server::history::HistoryConfig::at(crate::net::tls::data_dir().join("history-shared.sqlite3"))
                } else {
                    server::history::HistoryConfig::default_place()
                };
                RelayConfig { history: Some(history), ..config }
            };
            let everywhere = SocketAddr::new(if addr.is_ipv4() { Ipv4Addr::UNSPECIFIED.into() } else { Ipv6Addr::UNSPECIFIED.into() }, addr.port());
            let shared = (for_network && tls).then(|| server::spawn(config(everywhere)));
            match shared {
                Some(Ok(relay)) => return Some((relay, addr)),
                Some(Err(e)) => log::warn!("cannot host a relay for the network ({e}); hosting it for this computer only"),
                None => {}
            }
            match server::spawn(config(addr)) {
                Ok(relay) => Some((relay, addr)),
                Err(e) => {
                    log::warn!("cannot host a relay: {e}");
                    None
                }
            }
        }
        Err(_) => None,
    }
}
