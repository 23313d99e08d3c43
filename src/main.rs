use clap::{Args, Parser, Subcommand};
use lanmeet::app::chat::{ChatSettings, DEFAULT_CHANNEL, DEFAULT_SERVER};
use lanmeet::app::conference::{CameraChoice, ConferenceConfig};
use lanmeet::app::conference::audio::{MicChoice, SpeakerChoice};
use lanmeet::app::terminal;
use lanmeet::proto::irc::server::{FloodLimit, ServerConfig};
use lanmeet::net::identity;
use lanmeet::net::tls::KnownServers;
use lanmeet::server::history::HistoryConfig;
use lanmeet::server::{self, RelayConfig};
use lanmeet::app::multicast_chat::{resolve_interface, MulticastConfig};
use std::path::PathBuf;
use std::net::{SocketAddr, SocketAddrV4};
use std::process::ExitCode;
use std::time::Duration;

/// Chat and conference on a local network. Without a command, opens the window.
#[derive(Parser)]
#[command(name = "lanmeet", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the relay server (IRC) without a window.
    Serve(ServeArgs),
    /// Chat from a terminal: lines on standard input are sent, the room is printed.
    Chat(ChatArgs),
    /// Video conference on a multicast group: a peer without a window (--headless), or the
    /// session's SDP description for other players (--sdp).
    Conference(ConferenceArgs),
}

#[derive(Args)]
struct ConferenceArgs {
    /// Run a peer without a window; prints JSON lines of statistics every second.
    #[arg(long, required_unless_present = "sdp")]
    headless: bool,
    /// Print the SDP description of the conference's video (for ffplay, VLC, GStreamer) and exit.
    #[arg(long)]
    sdp: bool,
    /// Group and RTP port of the video, GROUP:PORT; RTCP uses the next port.
    #[arg(long, value_name = "GROUP:PORT", default_value = "239.0.0.222:23334")]
    multicast: SocketAddrV4,
    /// Network interface for multicast, by name (eth0) or IPv4 address.
    #[arg(long)]
    interface: Option<String>,
    /// Multicast hops: 1 stays on the LAN, 0 on this host.
    #[arg(long, default_value_t = 1)]
    ttl: u32,
    #[arg(long, default_value = "guest")]
    nick: String,
    /// test (a moving test pattern), off (watch only), or a V4L2 device such as /dev/video0.
    #[arg(long, default_value = "test")]
    camera: String,
    /// test (a synthetic voice), off, default, or a capture device id (see `arecord -L`).
    #[arg(long, default_value = "test")]
    mic: String,
    /// null (mix and count, play nowhere), default, or a playback device id.
    #[arg(long, default_value = "null")]
    speaker: String,
    /// Pitch of the synthetic voice in Hz (tells participants apart in tests).
    #[arg(long, default_value_t = 160.0)]
    voice_pitch: f32,
    /// Picture size, WIDTHxHEIGHT.
    #[arg(long, default_value = "640x480", value_parser = parse_size)]
    size: (usize, usize),
    #[arg(long, default_value_t = 30)]
    fps: u32,
    /// Video bitrate in kbit/s.
    #[arg(long, default_value_t = 1500)]
    bitrate: u32,
    /// Seconds to run; without it, until interrupted.
    #[arg(long)]
    duration: Option<f64>,
    /// The call's passphrase: video and audio are SRTP with a key made from it, and only those
    /// who know it see and hear the call (with --sdp, the key goes into the description).
    #[arg(long, env = "LANMEET_PASSPHRASE", hide_env_values = true)]
    passphrase: Option<String>,
}

fn parse_size(text: &str) -> Result<(usize, usize), String> {
    let (w, h) = text.split_once(['x', 'X']).ok_or("expected WIDTHxHEIGHT, such as 640x480")?;
    let w: usize = w.trim().parse().map_err(|_| format!("bad width {w:?}"))?;
    let h: usize = h.trim().parse().map_err(|_| format!("bad height {h:?}"))?;
    if !(16..=3840).contains(&w) || !(16..=2160).contains(&h) || w % 2 != 0 || h % 2 != 0 {
        return Err("width and height must be even, from 16x16 to 3840x2160".into());
    }
    Ok((w, h))
}

fn conference(args: ConferenceArgs) -> ExitCode {
    let mut config = ConferenceConfig::new(args.multicast, &args.nick);
    config.ttl = args.ttl;
    config.camera = CameraChoice::parse(&args.camera);
    (config.width, config.height) = args.size;
    config.fps = args.fps.clamp(1, 60);
    config.bitrate = args.bitrate.saturating_mul(1000);
    config.display = false;
    config.mic = MicChoice::parse(&args.mic);
    config.speaker = SpeakerChoice::parse(&args.speaker);
    config.voice_pitch = args.voice_pitch.clamp(60.0, 400.0);
    if let Some(interface) = &args.interface {
        match resolve_interface(interface) {
            Ok(addr) => config.interface = addr,
            Err(e) => {
                eprintln!("lanmeet conference: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    if let Some(passphrase) = &args.passphrase {
        config.set_passphrase(passphrase);
    }
    match identity::own_signer() {
        Ok(signer) => config.signer = Some(std::sync::Arc::new(signer)),
        Err(e) => eprintln!("lanmeet conference: {e}; signing with a key for this session only"),
    }
    config.known_peers = Some(identity::KnownPeers::default_file());
    if args.sdp {
        print!("{}", config.sdp());
        return ExitCode::SUCCESS;
    }
    if let Ok(share) = std::env::var("LANMEET_DROP_INCOMING") {
        // Receive-side fault injection, for loss tests and benchmarks.
        config.drop_incoming = share.parse().unwrap_or(0.0);
    }
    let duration = args.duration.filter(|d| *d > 0.0).map(Duration::from_secs_f64);
    terminal::run_conference(config, duration)
}

#[derive(Args)]
struct ServeArgs {
    /// Address to take IRC over TLS on.
    #[arg(long, default_value = "0.0.0.0:6697")]
    listen: SocketAddr,
    /// Take no TLS connections (only plain text, with --plain-listen).
    #[arg(long, requires = "plain_listen")]
    no_tls: bool,
    /// Take plain-text IRC too, on this address (127.0.0.1:6667 when none is given): only
    /// where the operator asks for it, and on this machine unless told otherwise.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:6667")]
    plain_listen: Option<SocketAddr>,
    /// The TLS certificate chain (PEM); without it the relay makes its own on first start and
    /// keeps it in the data folder.
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// Password clients must give (IRC PASS).
    #[arg(long)]
    password: Option<String>,
    /// Server name shown to clients.
    #[arg(long, default_value = "lanmeet.local")]
    name: String,
    /// Lines a client may send at once before flood control holds it back.
    #[arg(long, default_value_t = 20)]
    flood_burst: u32,
    /// Lines per second a client may send in the long run.
    #[arg(long, default_value_t = 4.0)]
    flood_rate: f64,
    /// Turn flood control off (for benchmarks and trusted networks).
    #[arg(long)]
    no_flood_limit: bool,
    /// Connections allowed from one address; 0 means no limit.
    #[arg(long, default_value_t = 32)]
    max_per_ip: usize,
    /// Seconds of silence before the server pings a client.
    #[arg(long, default_value_t = 90)]
    ping_interval: u64,
    /// Seconds a client has to answer a ping (and to register after connecting).
    #[arg(long, default_value_t = 60)]
    ping_timeout: u64,
    /// Bytes that may wait for a slow client before it is cut off.
    #[arg(long, default_value_t = 4 << 20)]
    max_send_queue: usize,
    /// Where to keep the messages of channels (SQLite); by
    /// default `history.sqlite3` in the data folder.
    #[arg(long, value_name = "FILE")]
    history: Option<PathBuf>,
    /// Days messages are kept.
    #[arg(long, default_value_t = 30, value_name = "DAYS")]
    history_days: u64,
    /// Messages kept at most, over all channels; the oldest go first.
    #[arg(long, default_value_t = lanmeet::server::history::DEFAULT_MAX_MESSAGES, value_name = "COUNT")]
    history_max: u64,
    /// Keep no messages (and offer no chat history).
    #[arg(long, conflicts_with = "history")]
    no_history: bool,
}

#[derive(Args)]
struct ChatArgs {
    /// Relay server, HOST:PORT.
    #[arg(long, default_value = DEFAULT_SERVER, conflicts_with = "multicast")]
    server: String,
    /// Chat without a server on this multicast group, GROUP:PORT (the report's tool used
    /// 239.0.0.222:23333).
    #[arg(long, value_name = "GROUP:PORT")]
    multicast: Option<SocketAddrV4>,
    /// Network interface for multicast, by name (eth0) or IPv4 address.
    #[arg(long, requires = "multicast")]
    interface: Option<String>,
    /// Multicast hops: 1 stays on the LAN, 0 on this host.
    #[arg(long, default_value_t = 1, requires = "multicast")]
    ttl: u32,
    /// Not encrypted: to a relay, plain-text IRC instead of TLS; on multicast, bare UTF-8
    /// datagrams that the report's tool can read (no ordering or repair).
    #[arg(long)]
    plain: bool,
    /// The multicast group's passphrase: everything is encrypted with a key made from it, and
    /// only those who know it read the group. Without one the group is not encrypted.
    #[arg(long, env = "LANMEET_PASSPHRASE", hide_env_values = true, requires = "multicast", conflicts_with = "plain")]
    passphrase: Option<String>,
    #[arg(long)]
    nick: String,
    #[arg(long, default_value = DEFAULT_CHANNEL)]
    channel: String,
    /// Server password (IRC PASS).
    #[arg(long)]
    password: Option<String>,
    /// Host a relay in this process when nothing answers at a local address.
    #[arg(long)]
    host: bool,
    /// With --host: take connections from the network too (over TLS only), not only from this
    /// computer.
    #[arg(long, requires = "host")]
    host_for_network: bool,
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    match cli.command {
        None => match lanmeet::ui::run_window() {
            0 => ExitCode::SUCCESS,
            _ => ExitCode::FAILURE,
        },
        Some(Command::Serve(args)) => serve(args),
        Some(Command::Conference(args)) => conference(args),
        Some(Command::Chat(args)) if args.multicast.is_some() => multicast_chat(args),
        Some(Command::Chat(args)) => terminal::run_chat(ChatSettings {
            server: args.server,
            nick: args.nick,
            channel: args.channel,
            also: Vec::new(),
            password: args.password,
            host_if_missing: args.host,
            host_for_network: args.host_for_network,
            tls: (!args.plain).then(KnownServers::default_file),
            seen_until: Default::default(),
        }),
    }
}

fn multicast_chat(args: ChatArgs) -> ExitCode {
    let group = args.multicast.expect("checked by the caller");
    let mut config = MulticastConfig::new(group, &args.nick);
    config.ttl = args.ttl;
    config.plain = args.plain;
    if let Some(passphrase) = &args.passphrase {
        config.set_passphrase(passphrase);
    }
    match identity::own_signer() {
        Ok(signer) => config.signer = Some(std::sync::Arc::new(signer)),
        Err(e) => eprintln!("lanmeet chat: {e}; signing with a key for this session only"),
    }
    config.known_peers = Some(identity::KnownPeers::default_file());
    if let Some(interface) = &args.interface {
        match resolve_interface(interface) {
            Ok(addr) => config.interface = addr,
            Err(e) => {
                eprintln!("lanmeet chat: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    if let Ok(share) = std::env::var("LANMEET_DROP_INCOMING") {
        // Receive-side fault injection, for loss tests and benchmarks.
        config.drop_incoming = share.parse().unwrap_or(0.0);
    }
    terminal::run_multicast_chat(config)
}

fn serve(args: ServeArgs) -> ExitCode {
    let flood = (!args.no_flood_limit).then(|| FloodLimit {
        burst: args.flood_burst,
        lines_per_second: args.flood_rate,
        ..FloodLimit::default()
    });
    let tls = if args.no_tls {
        None
    } else {
        let made = match (&args.cert, &args.key) {
            (Some(cert), Some(key)) => server::tls::load(cert, key),
            _ => server::tls::own_certificate(),
        };
        match made {
            Ok(tls) => Some(tls),
            Err(e) => {
                eprintln!("lanmeet serve: {e}");
                return ExitCode::FAILURE;
            }
        }
    };
    let config = RelayConfig {
        listen: args.plain_listen,
        listen_tls: tls.as_ref().map(|tls| (args.listen, tls.config.clone())),
        irc: ServerConfig {
            name: args.name,
            password: args.password,
            flood,
            max_connections_per_ip: (args.max_per_ip > 0).then_some(args.max_per_ip),
            ping_interval: Duration::from_secs(args.ping_interval),
            ping_timeout: Duration::from_secs(args.ping_timeout),
            ..ServerConfig::default()
        },
        max_send_queue: args.max_send_queue,
        history: (!args.no_history).then(|| HistoryConfig {
            retention: Duration::from_secs(args.history_days.saturating_mul(86_400)),
            max_messages: args.history_max,
            ..args.history.map_or_else(HistoryConfig::default_place, HistoryConfig::at)
        }),
    };
    match server::spawn(config) {
        Ok(relay) => {
            if let (Some(addr), Some(tls)) = (relay.tls_addr(), &tls) {
                println!("lanmeet relay listening on {addr} (TLS, certificate {})", tls.source.display());
                println!("certificate fingerprint (SHA-256): {}", tls.fingerprint);
            }
            if let Some(addr) = relay.plain_addr() {
                println!("lanmeet relay listening on {addr} (plain text, not encrypted)");
            }
            match relay.wait() {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("lanmeet serve: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            eprintln!("lanmeet serve: {e}");
            ExitCode::FAILURE
        }
    }
}
