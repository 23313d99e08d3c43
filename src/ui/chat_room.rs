//! `ChatRoom`, the QML-facing object of a unicast chat: a list model of the room's lines plus
//! the connection's settings and status. It translates `app::chat` events into rows and
//! properties on the Qt thread; the session's threads only ever hand it plain Rust values.

use crate::app::archive;
use crate::app::chat::{ChatEvent, ChatSession, ChatSettings, DEFAULT_CHANNEL, DEFAULT_SERVER};
use crate::app::lines::{self, Line, LineKind};
use crate::app::multicast_chat::{self, MulticastChat, MulticastConfig, DEFAULT_GROUP};
use crate::app::i18n::tr;
use crate::app::settings;
use crate::net::multicast::MulticastEvent;
use crate::net::tls::{short_fingerprint, KnownServers};
use crate::net::unicast::{Status, UnicastEvent};
use crate::proto::irc::client::{Event, LocalId};
use crate::proto::irc::names::fold;
use crate::net::identity::{self, KnownPeers};
use crate::proto::mchat;
use crate::proto::mchat::peer::Trust;
use std::sync::Arc;
use core::pin::Pin;
use cxx_qt::{CxxQtType, Threading};
use cxx_qt_lib::{QByteArray, QHash, QHashPair_i32_QByteArray, QModelIndex, QString, QStringList, QVariant, QVector};
use std::time::{Duration, Instant};

#[cxx_qt::bridge]
pub mod qobject {
    unsafe extern "C++Qt" {
        include!(<QtCore/QAbstractListModel>);
        #[qobject]
        type QAbstractListModel;
    }

    unsafe extern "C++" {
        include!("cxx-qt-lib/qstring.h");
        type QString = cxx_qt_lib::QString;
        include!("cxx-qt-lib/qstringlist.h");
        type QStringList = cxx_qt_lib::QStringList;
        include!("cxx-qt-lib/qhash.h");
        type QHash_i32_QByteArray = cxx_qt_lib::QHash<cxx_qt_lib::QHashPair_i32_QByteArray>;
        include!("cxx-qt-lib/qvariant.h");
        type QVariant = cxx_qt_lib::QVariant;
        include!("cxx-qt-lib/qmodelindex.h");
        type QModelIndex = cxx_qt_lib::QModelIndex;
        include!("cxx-qt-lib/qvector.h");
        type QVector_i32 = cxx_qt_lib::QVector<i32>;
    }

    extern "RustQt" {
        #[qobject]
        #[base = QAbstractListModel]
        #[qml_element]
        #[qproperty(QString, nick)]
        #[qproperty(QString, server)]
        #[qproperty(QString, channel)]
        #[qproperty(QString, status)]
        #[qproperty(QString, state)]
        #[qproperty(bool, hosting)]
        /// Whether a relay this window hosts takes connections from the network (over TLS),
        /// not only from this computer.
        #[qproperty(bool, host_for_network, cxx_name = "hostForNetwork")]
        /// Where others on the network join the relay this window hosts ("ADDRESS:PORT",
        /// several separated by ", "), or empty.
        #[qproperty(QString, join_at, cxx_name = "joinAt")]
        /// The relay this window hosts takes connections from the network.
        #[qproperty(bool, host_shared, cxx_name = "hostShared")]
        /// How the conversation travels: "tls" (the relay over TLS, its certificate pinned),
        /// "sealed" (a multicast group encrypted with its passphrase), "signed" (a multicast
        /// group without a passphrase: names are signed, text is readable), "plain" (not
        /// encrypted), or empty while there is no connection.
        #[qproperty(QString, security)]
        /// The first pairs of the relay certificate's SHA-256 fingerprint, or on multicast our
        /// own key's, for people to compare.
        #[qproperty(QString, fingerprint)]
        #[qproperty(QStringList, members)]
        /// Beside `members`, in the same order: each member's key fingerprint on multicast
        /// (empty when unsigned or on a relay), with "!" in front for an impostor.
        #[qproperty(QStringList, member_keys, cxx_name = "memberKeys")]
        /// The multicast group's passphrase (empty: not encrypted).
        #[qproperty(QString, passphrase)]
        /// Sealed datagrams of the group that did not open with our passphrase.
        #[qproperty(i32, unopened)]
        #[qproperty(QString, topic)]
        /// The relay room's modes as the server gives them ("+mnt", "+kn *"), or empty.
        #[qproperty(QString, modes)]
        /// Members of the relay room marked away (without status prefixes).
        #[qproperty(QStringList, away_members, cxx_name = "awayMembers")]
        #[qproperty(QString, mode)]
        #[qproperty(QString, group)]
        #[qproperty(QString, interface)]
        #[qproperty(bool, plain)]
        #[qproperty(i32, ttl)]
        #[qproperty(QStringList, interfaces)]
        #[qproperty(QString, network_check, cxx_name = "networkCheck")]
        /// Which messages make a desktop notification while the window is in the background:
        /// "all", "mentions" (and private messages) or "none". Kept between starts.
        #[qproperty(QString, notify)]
        /// The window's language ("en", "zh_CN"), or empty for the system's. Kept.
        #[qproperty(QString, language)]
        /// The conversations: "with TAB unread" each, the room's (or group's) first with
        /// `with` empty, then private conversations, `with` the other person.
        #[qproperty(QStringList, conversations)]
        /// The one the chat shows (an index into `conversations`).
        #[qproperty(i32, current_conversation, cxx_name = "currentConversation")]
        /// The relay's rooms from the last `/list`: "name TAB members TAB topic" each, the
        /// fullest first.
        #[qproperty(QStringList, rooms)]
        type ChatRoom = super::ChatRoomRust;
    }

    impl cxx_qt::Threading for ChatRoom {}

    extern "RustQt" {
        /// Connect with the current nick, server and channel (leaving any earlier session).
        #[qinvokable]
        #[cxx_name = "connectToServer"]
        fn connect_to_server(self: Pin<&mut ChatRoom>);

        #[qinvokable]
        #[cxx_name = "disconnectFromServer"]
        fn disconnect_from_server(self: Pin<&mut ChatRoom>);

        /// Leave the current chat and join again in the other mode (unicast <-> multicast).
        #[qinvokable]
        #[cxx_name = "switchMode"]
        fn switch_mode(self: Pin<&mut ChatRoom>, mode: &QString);

        /// Test multicast on the chosen interface: join, send to ourselves, report in words.
        #[qinvokable]
        #[cxx_name = "checkNetwork"]
        fn check_network(self: Pin<&mut ChatRoom>);

        /// Send what the user typed; each line becomes one message. False when there is no
        /// session to take it, so the input box keeps the text.
        #[qinvokable]
        fn send(self: Pin<&mut ChatRoom>, text: &QString) -> bool;

        /// While waiting to reconnect to the relay, try now.
        #[qinvokable]
        #[cxx_name = "retryNow"]
        fn retry_now(self: &ChatRoom);

        /// Show `text` in the chat as a note (what happened in the call).
        #[qinvokable]
        fn note(self: Pin<&mut ChatRoom>, text: &QString);

        /// Connections on the relay this window hosts other than its own.
        #[qinvokable]
        #[cxx_name = "hostedOthers"]
        fn hosted_others(self: &ChatRoom) -> i32;

        /// The user opened a link in a message (QML opens it; logged for tests and reports).
        #[qinvokable]
        #[cxx_name = "linkOpened"]
        fn link_opened(self: &ChatRoom, url: &QString);

        /// Row `row` (our own) as it would be typed to send it again, or empty.
        #[qinvokable]
        #[cxx_name = "typedAgain"]
        fn typed_again(self: &ChatRoom, row: i32) -> QString;

        /// The window closes: keep what is in the message box and what has not gone out yet,
        /// for the next start.
        #[qinvokable]
        #[cxx_name = "keepUnsent"]
        fn keep_unsent(self: Pin<&mut ChatRoom>, draft: &QString);

        /// What was in the message box when the window last closed (once).
        #[qinvokable]
        #[cxx_name = "takeDraft"]
        fn take_draft(self: &ChatRoom) -> QString;

        /// Where the window was when it last closed: "x,y,width,height", or empty.
        #[qinvokable]
        #[cxx_name = "rememberedPlace"]
        fn remembered_place(self: &ChatRoom) -> QString;

        /// Keep the window's place for the next start.
        #[qinvokable]
        #[cxx_name = "rememberPlace"]
        fn remember_place(self: &ChatRoom, x: i32, y: i32, width: i32, height: i32);

        /// The lines from row `from` to row `to` as text, one a line as a log shows them
        /// ("[12:00:01] <ann> hello"), for the clipboard.
        #[qinvokable]
        fn transcript(self: &ChatRoom, from: i32, to: i32) -> QString;

        /// Something the view showed of its own accord (the new-messages button), logged for
        /// tests and bug reports.
        #[qinvokable]
        #[cxx_name = "viewShows"]
        fn view_shows(self: &ChatRoom, what: &QString);

        /// Choose the window's language ("en", "zh_CN", or empty: the system's), kept.
        #[qinvokable]
        #[cxx_name = "chooseLanguage"]
        fn choose_language(self: Pin<&mut ChatRoom>, language: &QString);

        /// Choose which messages notify ("all", "mentions", "none"), kept for the next start.
        #[qinvokable]
        #[cxx_name = "chooseNotify"]
        fn choose_notify(self: Pin<&mut ChatRoom>, level: &QString);

        /// Kept messages of this room (and private conversations) or group holding every
        /// word of `text`, newest first: "number TAB when TAB sender TAB text".
        #[qinvokable]
        #[cxx_name = "searchHistory"]
        fn search_history(self: Pin<&mut ChatRoom>, text: &QString) -> QStringList;

        /// Brings the kept message with this number into the view; its row, or -1.
        #[qinvokable]
        #[cxx_name = "reachMessage"]
        fn reach_message(self: Pin<&mut ChatRoom>, id: i64) -> i32;

        /// Shows conversation `index` of `conversations`.
        #[qinvokable]
        #[cxx_name = "showConversation"]
        fn show_conversation(self: Pin<&mut ChatRoom>, index: i32);

        /// Opens (or shows) the private conversation with `nick`.
        #[qinvokable]
        #[cxx_name = "openPrivate"]
        fn open_private(self: Pin<&mut ChatRoom>, nick: &QString);

        /// Closes private conversation `index` (its messages stay kept).
        #[qinvokable]
        #[cxx_name = "closeConversation"]
        fn close_conversation(self: Pin<&mut ChatRoom>, index: i32);

        /// The server or group whose kept messages the chat shows, as the person knows it.
        #[qinvokable]
        #[cxx_name = "keptPlace"]
        fn kept_place(self: &ChatRoom) -> QString;

        /// Forgets every message kept of this server or group.
        #[qinvokable]
        #[cxx_name = "clearHistory"]
        fn clear_history(self: Pin<&mut ChatRoom>);

        /// A message from someone else arrived (live, not from history); `alone`: to us
        /// alone, `mention`: it names us.
        #[qsignal]
        #[cxx_name = "messageArrived"]
        fn message_arrived(self: Pin<&mut ChatRoom>, sender: QString, text: QString, alone: bool, mention: bool);

        /// A line of our own was added to the view; QML scrolls when it should.
        #[qsignal]
        #[cxx_name = "lineAdded"]
        fn line_added(self: Pin<&mut ChatRoom>, own: bool);
    }

    unsafe extern "RustQt" {
        #[inherit]
        #[cxx_name = "beginInsertRows"]
        unsafe fn begin_insert_rows(self: Pin<&mut ChatRoom>, parent: &QModelIndex, first: i32, last: i32);
        #[inherit]
        #[cxx_name = "endInsertRows"]
        unsafe fn end_insert_rows(self: Pin<&mut ChatRoom>);
        #[inherit]
        #[cxx_name = "beginResetModel"]
        unsafe fn begin_reset_model(self: Pin<&mut ChatRoom>);
        #[inherit]
        #[cxx_name = "endResetModel"]
        unsafe fn end_reset_model(self: Pin<&mut ChatRoom>);
        #[inherit]
        fn index(self: &ChatRoom, row: i32, column: i32, parent: &QModelIndex) -> QModelIndex;
        #[inherit]
        #[qsignal]
        #[cxx_name = "dataChanged"]
        fn data_changed(self: Pin<&mut ChatRoom>, top_left: &QModelIndex, bottom_right: &QModelIndex, roles: &QVector_i32);
    }

    extern "RustQt" {
        #[qinvokable]
        #[cxx_override]
        fn data(self: &ChatRoom, index: &QModelIndex, role: i32) -> QVariant;
        #[qinvokable]
        #[cxx_override]
        #[cxx_name = "roleNames"]
        fn role_names(self: &ChatRoom) -> QHash_i32_QByteArray;
        #[qinvokable]
        #[cxx_override]
        #[cxx_name = "rowCount"]
        fn row_count(self: &ChatRoom, parent: &QModelIndex) -> i32;
    }
}

pub const MODE_UNICAST: &str = "unicast";
pub const MODE_MULTICAST: &str = "multicast";

/// The chat the window is in: through a relay, or straight on a multicast group.
enum Session {
    Unicast(ChatSession),
    Multicast(MulticastChat),
}

/// Rooms of a server's list shown at most.
const MOST_LISTED: usize = 2000;

/// What is queued to a relay is given this long to go out after the person leaves.
const LEAVE_PATIENCE: Duration = Duration::from_millis(500);

/// Connection states as QML sees them in `state`.
pub mod state {
    pub const OFFLINE: &str = "offline";
    pub const CONNECTING: &str = "connecting";
    pub const ONLINE: &str = "online";
    pub const RECONNECTING: &str = "reconnecting";
}

/// The name of a line's kind in the `kind` role; QML styles each differently.
fn kind_name(kind: LineKind) -> &'static str {
    match kind {
        LineKind::Message => "message",
        LineKind::Own => "own",
        LineKind::Action => "action",
        LineKind::Notice => "notice",
        LineKind::Info => "info",
        LineKind::Error => "error",
    }
}

const ROLE_KIND: i32 = 0x0101;
const ROLE_SENDER: i32 = 0x0102;
const ROLE_TEXT: i32 = 0x0103;
const ROLE_TIME: i32 = 0x0104;
const ROLE_PENDING: i32 = 0x0105;
/// Under the previous line's header (the same sender, a moment later).
const ROLE_CONTINUES: i32 = 0x0106;
/// The text as rich text: escaped, with links.
const ROLE_RICH: i32 = 0x0107;
/// Someone else's line that names us.
const ROLE_MENTION: i32 = 0x0108;

pub struct ChatRoomRust {
    nick: QString,
    server: QString,
    channel: QString,
    status: QString,
    security: QString,
    fingerprint: QString,
    state: QString,
    hosting: bool,
    host_for_network: bool,
    join_at: QString,
    host_shared: bool,
    members: QStringList,
    member_keys: QStringList,
    passphrase: QString,
    unopened: i32,
    topic: QString,
    modes: QString,
    away_members: QStringList,
    mode: QString,
    group: QString,
    interface: QString,
    plain: bool,
    ttl: i32,
    interfaces: QStringList,
    network_check: QString,
    notify: QString,
    language: QString,
    rows: Vec<Line>,
    /// Where the current session's rows begin.
    session_rows: usize,
    session: Option<Session>,
    /// Events from an earlier session are ignored.
    generation: u64,
    /// The conversations kept on this computer, opened at the first connection.
    archive: Option<archive::Archive>,
    archive_failed: bool,
    /// What of them the view shows now, and has shown.
    scope: Option<archive::Scope>,
    shown: archive::Shown,
    /// The room whose kept lines the first conversation shows ("" for a group).
    room_conversation: String,
    /// The relay's rooms we are in now.
    joined_rooms: Vec<String>,
    /// The topics of the relay's rooms we are in (folded name), for when we talk in one again.
    topics: std::collections::HashMap<String, String>,
    /// Every conversation; `current` is the one in `rows`.
    convs: Vec<conversations::Conv>,
    current: usize,
    conversations: QStringList,
    current_conversation: i32,
    rooms: QStringList,
    /// Rooms of a `/list` still coming.
    listing: Vec<(String, u32, String)>,
}

impl Default for ChatRoomRust {
    fn default() -> Self {
        // The chooser shows "name address": an interface given by name or by address shows
        // as its entry, and loopback starts at TTL 0, as the session will use it.
        let kept = settings::remembered();
        let interfaces = multicast_chat::interfaces();
        let from_env = std::env::var("LANMEET_INTERFACE").is_ok_and(|v| !v.is_empty());
        let find = |wanted: &str| interfaces.iter().find(|(name, addr)| !wanted.is_empty() && (*name == wanted || addr.to_string() == wanted));
        // A kept interface that is gone (a dock unplugged) gives way to the default, and its
        // TTL with it.
        let kept_interface = kept.interface.clone().filter(|name| find(name).is_some());
        let kept_ttl = kept.ttl.filter(|ttl| kept_interface.is_some() && (0..=255).contains(ttl));
        let wanted = settings::env_or("INTERFACE", kept_interface).unwrap_or_default();
        let chosen = find(&wanted);
        let interface = chosen.map_or(wanted.clone(), |(name, addr)| format!("{name} {addr}"));
        let ttl = if chosen.is_some_and(|(_, addr)| addr.is_loopback()) || wanted.starts_with("127.") { 0 } else { 1 };
        // The TTL chosen last time goes with the interface chosen last time.
        let ttl = if from_env { ttl } else { kept_ttl.unwrap_or(ttl) };
        if !wanted.is_empty() {
            log::info!("multicast settings: interface {interface}, TTL {ttl}");
        }
        let nick = settings::env_or("NICK", kept.nick.clone())
            .or_else(|| std::env::var("USER").ok())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "guest".into());
        let server = settings::env_or("SERVER", kept.server.clone()).unwrap_or_else(|| DEFAULT_SERVER.into());
        ChatRoomRust {
            nick: QString::from(nick.as_str()),
            server: QString::from(server.as_str()),
            channel: QString::from(kept.channel.as_deref().unwrap_or(DEFAULT_CHANNEL)),
            status: QString::default(),
            security: QString::default(),
            fingerprint: QString::default(),
            state: QString::from(state::OFFLINE),
            hosting: false,
            host_for_network: std::env::var("LANMEET_HOST_FOR").map_or(true, |v| v != "this-computer"),
            join_at: QString::default(),
            host_shared: false,
            members: QStringList::default(),
            member_keys: QStringList::default(),
            passphrase: QString::from(std::env::var("LANMEET_PASSPHRASE").unwrap_or_default().as_str()),
            unopened: 0,
            topic: QString::default(),
            modes: QString::default(),
            away_members: QStringList::default(),
            mode: QString::from(if settings::env_or("MODE", kept.mode.clone()).as_deref() == Some(MODE_MULTICAST) { MODE_MULTICAST } else { MODE_UNICAST }),
            group: QString::from(settings::env_or("GROUP", kept.group.clone()).unwrap_or_else(|| DEFAULT_GROUP.into()).as_str()),
            interface: QString::from(interface.as_str()),
            plain: false,
            ttl,
            interfaces: interfaces.iter().map(|(name, addr)| QString::from(format!("{name} {addr}").as_str())).collect(),
            network_check: QString::default(),
            notify: QString::from(notify_level(kept.notify.as_deref().unwrap_or_default())),
            language: QString::from(language_code(&settings::env_or("LANGUAGE", kept.language.clone()).unwrap_or_default())),
            rows: Vec::new(),
            session_rows: 0,
            session: None,
            generation: 0,
            archive: None,
            archive_failed: false,
            scope: None,
            shown: archive::Shown::default(),
            room_conversation: String::new(),
            topics: Default::default(),
            joined_rooms: Vec::new(),
            convs: vec![conversations::Conv::default()],
            current: 0,
            conversations: QStringList::default(),
            current_conversation: 0,
            rooms: QStringList::default(),
            listing: Vec::new(),
        }
    }
}

/// The server as typed, and whether to speak TLS to it: `irc://HOST:PORT` asks for plain text
/// (a server that has no TLS), `ircs://` or nothing for TLS.
fn server_and_security(typed: &str) -> (String, bool) {
    let typed = typed.trim();
    let (rest, tls) = match typed.get(..6).map(str::to_ascii_lowercase).as_deref() {
        Some("irc://") => (&typed[6..], false),
        _ => match typed.get(..7).map(str::to_ascii_lowercase).as_deref() {
            Some("ircs://") => (&typed[7..], true),
            _ => (typed, true),
        },
    };
    (rest.trim_end_matches('/').to_string(), tls)
}

/// When a line was said: the time of day, with the date before it if it was not today (or
/// always, with `dated`).
fn clock_at(unix_ms: i64, dated: bool) -> String {
    use chrono::{Datelike, TimeZone};
    let now = chrono::Local::now();
    match chrono::Local.timestamp_millis_opt(unix_ms) {
        chrono::LocalResult::Single(t) if dated || t.year() != now.year() => t.format("%Y-%m-%d %H:%M").to_string(),
        chrono::LocalResult::Single(t) if t.date_naive() != now.date_naive() => t.format("%m-%d %H:%M").to_string(),
        chrono::LocalResult::Single(t) => t.format("%H:%M").to_string(),
        _ => String::new(),
    }
}

impl qobject::ChatRoom {
    pub fn connect_to_server(mut self: Pin<&mut Self>) {
        // The lines the chat writes from now on, in the window's language.
        crate::app::i18n::set_language(&self.language.to_string());
        self.as_mut().stop_session();
        self.remember_choices();
        if self.mode().to_string() == MODE_MULTICAST {
            self.join_group();
            return;
        }
        let (server, tls) = server_and_security(&self.server().to_string());
        let channel = normalise_channel(&self.channel().to_string());
        let scope = archive::Scope { place: archive::relay_place(&server, tls), conversation: channel.clone(), private: false };
        let seen_until = self.as_mut().open_scope(scope);
        self.as_mut().rust_mut().joined_rooms.clear();
        self.as_mut().reopen_private();
        // The other rooms the window was in on this server.
        let also = Some(settings::remembered()).filter(|kept| kept.rooms_server.as_deref() == Some(server.as_str())).and_then(|kept| kept.rooms).unwrap_or_default();
        let settings = ChatSettings {
            server,
            nick: self.nick().to_string().trim().to_string(),
            also,
            channel,
            password: None,
            host_if_missing: true,
            host_for_network: self.host_for_network,
            tls: tls.then(KnownServers::default_file),
            seen_until,
        };
        let generation = self.generation + 1;
        self.as_mut().rust_mut().generation = generation;
        let started = ChatSession::start(settings.clone(), self.as_mut().sink(generation));
        match started {
            Ok(session) => {
                self.as_mut().rust_mut().session = Some(Session::Unicast(session));
                self.as_mut().set_channel(QString::from(settings.channel.as_str()));
                self.as_mut().set_state(QString::from(state::CONNECTING));
            }
            Err(e) => self.failed(e.to_string()),
        }
    }

    /// What the person connects with is what the window opens with next time.
    fn remember_choices(&self) {
        let interface = self.interface().to_string();
        settings::remember(|kept| {
            kept.nick = Some(self.nick().to_string().trim().to_string());
            kept.server = Some(self.server().to_string().trim().to_string());
            kept.channel = Some(normalise_channel(&self.channel().to_string()));
            kept.mode = Some(self.mode().to_string());
            kept.group = Some(self.group().to_string().trim().to_string());
            // The chooser shows "name address"; the name finds the interface again.
            kept.interface = interface.split_whitespace().next().map(str::to_string);
            kept.ttl = Some(*self.ttl());
        });
    }

    pub fn typed_again(&self, row: i32) -> QString {
        let line = usize::try_from(row).ok().and_then(|row| self.rows.get(row));
        let text = line.and_then(|line| lines::typed_again(line, &self.nick.to_string()));
        QString::from(text.unwrap_or_default().as_str())
    }

    pub fn keep_unsent(mut self: Pin<&mut Self>, draft: &QString) {
        let (server, channel) = (self.server.to_string().trim().to_string(), self.channel.to_string());
        let nick = self.nick.to_string();
        // Only this session's lines: an earlier one's were given their chance when it ended.
        // Each is kept with its room, and goes there when the window is in it again.
        let pending: Vec<(String, String)> = self
            .pending()
            .into_iter()
            .filter_map(|(room, line)| Some((room.unwrap_or_else(|| channel.clone()), lines::typed_again(line, &nick)?)))
            .collect();
        let online = self.state.to_string() == state::ONLINE;
        if online && !pending.is_empty() {
            // On their way: they go out as the window leaves, given the time to.
            self.as_mut().stop_session();
            std::thread::sleep(LEAVE_PATIENCE);
        }
        let unsent: Vec<settings::Unsent> = if online { Vec::new() } else { pending }
            .into_iter()
            .map(|(channel, text)| settings::Unsent { server: server.clone(), channel, text })
            .collect();
        if !unsent.is_empty() {
            log::info!("keeping {} message(s) that have not gone out, for the next start", unsent.len());
        }
        let mut draft = draft.to_string();
        if crate::app::cut_at_char(&mut draft, settings::MOST_DRAFT) {
            log::warn!("the message box held more than {} bytes; its start is kept", settings::MOST_DRAFT);
        }
        settings::remember(|kept| {
            kept.draft = (!draft.trim().is_empty()).then_some(draft);
            kept.outbox.extend(unsent);
            settings::trim_outbox(&mut kept.outbox);
        });
    }

    pub fn take_draft(&self) -> QString {
        let draft = settings::remembered().draft;
        if draft.is_some() {
            settings::remember(|kept| kept.draft = None);
        }
        QString::from(draft.unwrap_or_default().as_str())
    }

    /// In a room at last: what was kept from the last time for this server and room goes out.
    /// What was kept unsent for `room` on this server goes out now that the window is in it:
    /// to that room by name (it may not be the one we talk in).
    fn send_kept(self: Pin<&mut Self>, room: &str) {
        let (server, channel) = (self.server.to_string().trim().to_string(), fold(room));
        let kept = settings::remembered().outbox;
        let (ours, others): (Vec<_>, Vec<_>) = kept.into_iter().partition(|u| u.server.trim() == server && fold(&u.channel) == channel);
        if ours.is_empty() {
            return;
        }
        let Some(Session::Unicast(session)) = &self.session else { return };
        let unsent: Vec<settings::Unsent> = ours.into_iter().filter(|u| !session.try_say(&conversations::addressed_to(room, &u.text))).collect();
        log::info!("sending what was kept from the last time; {} left", unsent.len());
        settings::remember(|kept| kept.outbox = others.into_iter().chain(unsent).collect());
    }

    pub fn remembered_place(&self) -> QString {
        let place = settings::remembered().window.map(|p| format!("{},{},{},{}", p.x, p.y, p.width, p.height));
        QString::from(place.unwrap_or_default().as_str())
    }

    pub fn remember_place(&self, x: i32, y: i32, width: i32, height: i32) {
        settings::remember(|kept| kept.window = Some(settings::Place { x, y, width, height }));
    }

    /// Where a session started now sends its events: queued to the Qt thread, and dropped
    /// there once a newer session has begun.
    fn sink(self: Pin<&mut Self>, generation: u64) -> impl FnMut(ChatEvent) + Send + 'static {
        let qt_thread = self.qt_thread();
        move |event| {
            // Fails only once the window is gone; then nobody is left to tell.
            let _ = qt_thread.queue(move |room| room.handle(generation, event));
        }
    }

    pub fn disconnect_from_server(mut self: Pin<&mut Self>) {
        self.as_mut().stop_session();
        self.as_mut().set_members(QStringList::default());
        self.as_mut().set_member_keys(QStringList::default());
        self.as_mut().set_away_members(QStringList::default());
        self.as_mut().set_modes(QString::default());
        self.as_mut().set_state(QString::from(state::OFFLINE));
        self.as_mut().set_hosting(false);
        self.as_mut().set_join_at(QString::default());
        self.as_mut().set_host_shared(false);
        let text = tr("Disconnected", &[]);
        self.as_mut().show_status(&text);
        self.push(Line::info(text));
    }

    /// Leave the current session without waiting for it: its threads deliver what is queued,
    /// say goodbye and end on their own, and their events no longer reach this room.
    fn stop_session(mut self: Pin<&mut Self>) {
        let started = Instant::now();
        let session = self.as_mut().rust_mut().session.take();
        let had_session = session.is_some();
        match session {
            Some(Session::Unicast(session)) => session.leave(LEAVE_PATIENCE),
            Some(Session::Multicast(chat)) => chat.leave(),
            None => {}
        }
        let generation = self.generation + 1;
        self.as_mut().rust_mut().generation = generation;
        let rows = self.rows.len();
        self.as_mut().rust_mut().session_rows = rows;
        for conv in self.as_mut().rust_mut().convs.iter_mut() {
            conv.session_rows = conv.rows.len();
        }
        self.as_mut().set_security(QString::default());
        self.as_mut().set_fingerprint(QString::default());
        if had_session {
            log::info!("left the chat in {:.2} ms", started.elapsed().as_secs_f64() * 1000.0);
        }
    }

    pub fn send(self: Pin<&mut Self>, text: &QString) -> bool {
        let text = text.to_string();
        if text.trim().is_empty() {
            return true;
        }
        if text.starts_with('/') && !text.starts_with("//") {
            log::info!("command: {}", text.lines().next().unwrap_or_default());
        }
        let with = self.shown_with().map(str::to_string);
        // On a group, the member as the group names them now (conversations match names in
        // any case).
        let mut member = None;
        if let (Some(Session::Multicast(_)), Some(with)) = (&self.session, &with) {
            member = self.members().iter().map(|m| m.to_string()).find(|m| fold(m) == fold(with));
            if member.is_none() {
                self.push(Line::error(tr("{0} is not in the group now; your text is still in the box", &[with])));
                return false;
            }
        }
        let taken = match &self.session {
            // One message at a time: a command takes only its first line.
            Some(Session::Unicast(session)) => self.addressed(&text).iter().all(|piece| session.try_say(piece)),
            Some(Session::Multicast(chat)) => match &member {
                Some(member) => chat.try_say_to(member, &text),
                None => chat.try_say(&text),
            },
            None => {
                self.push(Line::error(tr("Not connected: press Connect first; your text is still in the box", &[])));
                return false;
            }
        };
        if !taken {
            self.push(Line::error(tr("The text could not be queued (too much is waiting, or the connection stopped); it is still in the box", &[])));
            return false;
        }
        if matches!(self.session, Some(Session::Multicast(_))) {
            // No echo comes back on multicast: show our lines as sent.
            let sender = self.nick().to_string();
            let mut this = self;
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let conversation = with.clone().unwrap_or_default();
                let said = archive::Said { conversation, private: with.is_some(), kind: LineKind::Own, sender: sender.clone(), text: line.to_string(), unix_ms: lines::now_ms() };
                this.as_mut().push(lines::kept_line(&said));
                this.keep(said);
            }
        }
        true
    }

    pub fn switch_mode(mut self: Pin<&mut Self>, mode: &QString) {
        let mode = if mode.to_string() == MODE_MULTICAST { MODE_MULTICAST } else { MODE_UNICAST };
        if self.mode().to_string() == mode {
            return;
        }
        self.as_mut().set_mode(QString::from(mode));
        self.as_mut().set_members(QStringList::default());
        self.as_mut().set_member_keys(QStringList::default());
        self.as_mut().set_away_members(QStringList::default());
        self.as_mut().set_modes(QString::default());
        self.connect_to_server();
    }

    fn multicast_config(&self) -> Result<MulticastConfig, String> {
        let group_text = self.group().to_string();
        let group = group_text
            .trim()
            .parse()
            .map_err(|_| format!("{group_text} is not a group address and port like {DEFAULT_GROUP}"))?;
        let mut config = MulticastConfig::new(group, self.nick().to_string().trim());
        config.plain = self.plain;
        let interface = self.interface().to_string();
        // The chooser shows "name address"; the address is what counts.
        if let Some(addr) = interface.split_whitespace().last() {
            config.interface = multicast_chat::resolve_interface(addr)?;
        }
        config.ttl = self.ttl.clamp(0, 255) as u32;
        if config.interface.is_loopback() {
            // Nothing leaves this host through loopback anyway; say so to the kernel too.
            config.ttl = 0;
        }
        if !self.plain {
            config.set_passphrase(&self.passphrase().to_string());
            match identity::own_signer() {
                Ok(signer) => config.signer = Some(Arc::new(signer)),
                Err(e) => log::warn!("{e}; signing with a key for this session only"),
            }
            config.known_peers = Some(KnownPeers::default_file());
        }
        Ok(config)
    }

    fn join_group(mut self: Pin<&mut Self>) {
        let generation = self.generation + 1;
        self.as_mut().rust_mut().generation = generation;
        self.as_mut().set_hosting(false);
        self.as_mut().set_join_at(QString::default());
        self.as_mut().set_host_shared(false);
        let config = match self.multicast_config() {
            Ok(c) => c,
            Err(e) => return self.failed(e),
        };
        let scope = archive::Scope { place: archive::group_place(&config.group.to_string()), conversation: String::new(), private: false };
        self.as_mut().open_scope(scope);
        let started = MulticastChat::start(config, self.as_mut().sink(generation));
        match started {
            Ok(chat) => {
                self.as_mut().rust_mut().session = Some(Session::Multicast(chat));
                self.as_mut().set_state(QString::from(state::CONNECTING));
                self.as_mut().set_unopened(0);
            }
            Err(e) => self.failed(format!("{e}. Open “Check network” to pick an interface.")),
        }
    }

    fn failed(mut self: Pin<&mut Self>, text: String) {
        self.as_mut().set_state(QString::from(state::OFFLINE));
        self.as_mut().show_status(text.as_str());
        self.push(Line::error(text));
    }

    /// What a multicast event changes besides the conversation: state, status line, members.
    fn multicast_state(mut self: Pin<&mut Self>, event: &MulticastEvent) {
        match event {
            MulticastEvent::Joined { group, interface, sealed, fingerprint, .. } => {
                let how = if self.plain { tr(" in plain-text mode", &[]) } else { String::new() };
                let text = tr("Multicast chat on {0}, interface {1}{2}; no server", &[group, interface, &how]);
                self.as_mut().set_state(QString::from(state::ONLINE));
                self.as_mut().show_status(text.as_str());
                let security = match (sealed, fingerprint) {
                    (Some(_), _) => "sealed",
                    (None, Some(_)) => "signed",
                    (None, None) => "plain",
                };
                self.as_mut().set_security(QString::from(security));
                self.as_mut().set_fingerprint(QString::from(fingerprint.as_deref().unwrap_or_default()));
            }
            MulticastEvent::Error(text) => self.as_mut().show_status(text.as_str()),
            MulticastEvent::Unopened { total, .. } => {
                log::info!("could not open {total} datagram(s) of the group");
                self.as_mut().set_unopened((*total).min(i32::MAX as u64) as i32);
            }
            MulticastEvent::Chat(mchat::Event::Members { members }) => {
                let list: QStringList = members.iter().map(|m| QString::from(m.nick.as_str())).collect();
                let keys: QStringList = members
                    .iter()
                    .map(|m| {
                        let print = m.trust.fingerprint().unwrap_or_default();
                        let flag = if matches!(m.trust, Trust::Impostor(_)) { "!" } else { "" };
                        QString::from(format!("{flag}{print}").as_str())
                    })
                    .collect();
                self.as_mut().set_member_keys(keys);
                self.set_members(list);
            }
            MulticastEvent::Chat(_) | MulticastEvent::Stopped { .. } => {}
        }
    }

    pub fn check_network(mut self: Pin<&mut Self>) {
        let config = match self.multicast_config() {
            Ok(c) => c,
            Err(e) => return self.set_network_check(QString::from(e.as_str())),
        };
        self.as_mut().set_network_check(QString::from("Checking…"));
        let qt_thread = self.qt_thread();
        // Detached: the check ends on its own within seconds, and its report is dropped if the
        // window is gone by then.
        std::thread::spawn(move || {
            let report = multicast_chat::self_test(&config);
            let _ = qt_thread.queue(move |room| room.set_network_check(QString::from(report.as_str())));
        });
    }

    fn handle(mut self: Pin<&mut Self>, generation: u64, event: ChatEvent) {
        if generation != self.generation {
            return;
        }
        log::debug!("ui event: {event:?}");
        match &event {
            ChatEvent::HostingRelay(hosted) => {
                self.as_mut().set_join_at(QString::from(hosted.join_at_text().as_str()));
                self.as_mut().set_host_shared(hosted.shared);
                self.as_mut().set_hosting(true);
            }
            ChatEvent::Unicast(UnicastEvent::Status(status)) => self.as_mut().apply_status(status.clone()),
            ChatEvent::Unicast(UnicastEvent::Chat(chat)) => self.as_mut().relay_state(chat),
            ChatEvent::Multicast(event) => self.as_mut().multicast_state(event),
        }
        if matches!(&event, ChatEvent::Unicast(UnicastEvent::Chat(Event::RoomListed { .. } | Event::RoomsListed))) {
            // The window shows the list in its room browser, not in the chat.
            return;
        }
        let own = self.nick().to_string();
        let room = relay_room(&event);
        for line in lines::lines(&event, &own) {
            match line {
                Line { local_id: Some(id), pending: false, unix_ms, with, .. } => self.as_mut().delivered(id, unix_ms, with.as_deref().or(room)),
                line => self.as_mut().route(line, room),
            }
        }
        // Kept after the lines are shown: a private conversation opened for one of them
        // shows what was kept before it, not it twice.
        for said in lines::kept(&event, &own) {
            self.keep(said);
        }
        if let Some(attention) = lines::attention(&event, &own) {
            let (sender, text) = (QString::from(attention.sender.as_str()), QString::from(attention.text.as_str()));
            self.as_mut().message_arrived(sender, text, attention.private, attention.mention);
        }
    }

    pub fn choose_language(self: Pin<&mut Self>, language: &QString) {
        let language = language_code(&language.to_string());
        crate::app::i18n::set_language(language);
        log::info!("language: {}", if language.is_empty() { "the system's" } else { language });
        settings::remember(|kept| kept.language = (!language.is_empty()).then(|| language.to_string()));
        self.set_language(QString::from(language));
    }

    pub fn choose_notify(self: Pin<&mut Self>, level: &QString) {
        let level = notify_level(&level.to_string());
        settings::remember(|kept| kept.notify = Some(level.to_string()));
        self.set_notify(QString::from(level));
    }

    fn apply_status(mut self: Pin<&mut Self>, status: Status) {
        let (state, text) = match status {
            Status::Connecting { server } => (state::CONNECTING, tr("Connecting to {0}…", &[&server])),
            Status::Connected { server, tls: None } => {
                self.as_mut().set_security(QString::from("plain"));
                self.as_mut().set_fingerprint(QString::default());
                (state::CONNECTING, tr("Connected to {0} (not encrypted), joining…", &[&server]))
            }
            Status::Connected { server, tls: Some(seen) } => {
                let short = short_fingerprint(&seen.fingerprint);
                self.as_mut().set_security(QString::from("tls"));
                self.as_mut().set_fingerprint(QString::from(short.as_str()));
                log::info!("relay certificate SHA-256 {}", seen.fingerprint);
                let trust = if seen.first_use { tr("certificate pinned on first use", &[]) } else { tr("certificate as pinned", &[]) };
                (state::CONNECTING, tr("Connected to {0} over TLS ({1} {2}), joining…", &[&server, &trust, &short]))
            }
            Status::Reconnecting { in_ms, error } => {
                let seconds = (in_ms as f64 / 1000.0).ceil();
                self.as_mut().set_members(QStringList::default());
                self.as_mut().set_member_keys(QStringList::default());
                if self.state().to_string() == state::ONLINE {
                    let text = tr("Lost the connection ({0}); what you type is kept and sent on reconnect", &[&error]);
                    self.as_mut().push(Line::error(text));
                }
                (state::RECONNECTING, tr("{0} — reconnecting in {1} s", &[&error, &seconds]))
            }
            Status::Failed { error } => {
                self.as_mut().push(Line::error(tr("{0}: check the server address, then connect again", &[&error])));
                (state::OFFLINE, format!("{error}"))
            }
            Status::Stopped { undelivered } if undelivered > 0 => {
                (state::OFFLINE, tr("Stopped; {0} message(s) were not delivered", &[&undelivered]))
            }
            // After a failure its reason stays in the status line.
            Status::Stopped { .. } if self.state().to_string() == state::OFFLINE => return,
            Status::Stopped { .. } => (state::OFFLINE, "Disconnected".to_string()),
        };
        self.as_mut().set_state(QString::from(state));
        self.as_mut().show_status(text.as_str());
    }

    /// What a relay event changes besides the conversation: nick, state, members, topic.
    fn relay_state(mut self: Pin<&mut Self>, event: &Event) {
        match event {
            Event::Registered { nick } => self.as_mut().set_nick(QString::from(nick.as_str())),
            // Our own new name (from /nick or the nickname field) shows in the field.
            Event::NickChanged { old, new } if fold(old) == fold(&self.nick().to_string()) => {
                self.as_mut().set_nick(QString::from(new.as_str()));
            }
            Event::NickChanged { old, new } => self.as_mut().renamed(old, new),
            Event::RoomListed { name, members, topic } => {
                if self.listing.len() < MOST_LISTED {
                    // A tab cannot split an entry.
                    let clean = |t: &str| t.replace('\t', " ");
                    self.as_mut().rust_mut().listing.push((clean(name), *members, clean(topic)));
                }
            }
            Event::RoomsListed => {
                let mut listing = std::mem::take(&mut self.as_mut().rust_mut().listing);
                listing.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                log::info!("rooms listed: {}", listing.iter().map(|(name, members, _)| format!("{name} ({members})")).collect::<Vec<_>>().join(" "));
                let rooms: QStringList = listing.iter().map(|(name, members, topic)| QString::from(format!("{name}\t{members}\t{topic}").as_str())).collect();
                self.as_mut().set_rooms(rooms);
            }
            Event::Joined { channel } | Event::Switched { channel } => {
                // The room we talk in: the room field names it, its conversation shows (unless
                // this is the same room joined again while a private conversation is open), and
                // its topic, modes and members follow.
                let again = fold(channel) == fold(&self.channel().to_string());
                let private_shown = self.shown_with().is_some_and(|w| !w.starts_with('#'));
                self.as_mut().set_channel(QString::from(channel.as_str()));
                let topic = self.topics.get(&fold(channel)).cloned().unwrap_or_default();
                self.as_mut().set_topic(QString::from(topic.as_str()));
                self.as_mut().set_modes(QString::default());
                let index = self.as_mut().room_conversation_of(channel);
                if !(again && private_shown) {
                    self.as_mut().show_conversation(index as i32);
                }
                let hosting = if self.hosting { tr(" (hosted here)", &[]) } else { String::new() };
                let text = tr("In {0} on {1}{2}", &[channel, &self.server(), &hosting]);
                self.as_mut().set_state(QString::from(state::ONLINE));
                self.as_mut().show_status(text.as_str());
                if matches!(event, Event::Joined { .. }) {
                    self.as_mut().send_kept(channel);
                }
                self.as_mut().now_in(channel, true);
            }
            Event::Entered { channel } => {
                // Another room we are in: its conversation waits beside.
                self.as_mut().now_in(channel, true);
                self.as_mut().room_conversation_of(channel);
                self.as_mut().send_kept(channel);
            }
            Event::Parted { channel } => self.now_in(channel, false),
            Event::Topic { channel, text } if fold(channel) != fold(&self.channel().to_string()) => {
                if self.topics.len() < MOST_TOPICS {
                    self.as_mut().rust_mut().topics.insert(fold(channel), text.clone());
                }
            }
            // Of the rooms we are in, the one we talk in shows its members, modes and topic.
            Event::Members { channel, .. } | Event::Modes { channel, .. } if fold(channel) != fold(&self.channel().to_string()) => {}
            Event::Members { nicks, away, .. } => {
                log::info!("members: {} (away: {})", nicks.join(" "), away.join(" "));
                let list: QStringList = nicks.iter().map(|n| QString::from(n.as_str())).collect();
                let away: QStringList = away.iter().map(|n| QString::from(n.as_str())).collect();
                self.as_mut().set_away_members(away);
                self.set_members(list);
            }
            Event::Modes { modes, .. } => {
                log::info!("modes: {modes}");
                self.set_modes(QString::from(modes.as_str()));
            }
            Event::Topic { channel, text } => {
                self.as_mut().rust_mut().topics.insert(fold(channel), text.clone());
                self.set_topic(QString::from(text.as_str()));
            }
            _ => {}
        }
    }

    /// Our message `id` of this session, to `with` (a person or a room) or the first room,
    /// reached the relay.
    fn delivered(mut self: Pin<&mut Self>, id: LocalId, unix_ms: i64, with: Option<&str>) {
        let conv = with.and_then(|w| self.convs.iter().position(|c| !c.with.is_empty() && fold(&c.with) == fold(w))).unwrap_or(0);
        if conv != self.current {
            let mut rust = self.as_mut().rust_mut();
            let conv = &mut rust.convs[conv];
            let from = conv.session_rows.min(conv.rows.len());
            if let Some(line) = conv.rows[from..].iter_mut().rfind(|r| r.local_id == Some(id)) {
                line.pending = false;
                line.unix_ms = unix_ms;
            }
            return;
        }
        let from = self.session_rows.min(self.rows.len());
        let Some(position) = self.rows[from..].iter().rposition(|r| r.local_id == Some(id)).map(|p| p + from) else { return };
        {
            let mut rust = self.as_mut().rust_mut();
            let row = &mut rust.rows[position];
            row.pending = false;
            row.unix_ms = unix_ms;
        }
        let index = self.index(position as i32, 0, &QModelIndex::default());
        let mut roles = QVector::<i32>::default();
        roles.append(ROLE_PENDING);
        roles.append(ROLE_TIME);
        self.as_mut().data_changed(&index, &index, &roles);
    }

    /// The status line; logged, so that tests and bug reports can follow it.
    fn show_status(self: Pin<&mut Self>, text: &str) {
        log::info!("status: {text}");
        self.set_status(QString::from(text));
    }

    fn push(mut self: Pin<&mut Self>, row: Line) {
        let own = row.kind == LineKind::Own;
        let grouped = self.rows.last().is_some_and(|previous| lines::continues(previous, &row));
        log::info!("chat view: [{}] {} {}{}", kind_name(row.kind), row.sender, row.text, if grouped { " (same header)" } else { "" });
        let count = self.rows.len() as i32;
        unsafe {
            self.as_mut().begin_insert_rows(&QModelIndex::default(), count, count);
        }
        self.as_mut().rust_mut().rows.push(row);
        unsafe {
            self.as_mut().end_insert_rows();
        }
        self.line_added(own);
    }

    pub fn retry_now(&self) {
        if let Some(Session::Unicast(session)) = &self.session {
            log::info!("retrying now");
            session.retry_now();
        }
    }

    pub fn note(self: Pin<&mut Self>, text: &QString) {
        self.push(Line::info(text.to_string()));
    }

    pub fn hosted_others(&self) -> i32 {
        match &self.session {
            Some(Session::Unicast(session)) => {
                // Our own connection is one of them while it is up.
                let own = usize::from(self.state.to_string() == state::ONLINE);
                session.hosted_connections().saturating_sub(own).try_into().unwrap_or(i32::MAX)
            }
            _ => 0,
        }
    }

    pub fn link_opened(&self, url: &QString) {
        log::info!("open link: {url}");
    }

    pub fn view_shows(&self, what: &QString) {
        log::info!("view: {what}");
    }

    pub fn transcript(&self, from: i32, to: i32) -> QString {
        let (Ok(from), Ok(to)) = (usize::try_from(from), usize::try_from(to)) else {
            return QString::default();
        };
        let rows = self.rows.get(from..=to.min(self.rows.len().saturating_sub(1))).unwrap_or_default();
        QString::from(crate::app::terminal::transcript(rows).as_str())
    }

    pub fn data(&self, index: &QModelIndex, role: i32) -> QVariant {
        let Some(row) = usize::try_from(index.row()).ok().and_then(|i| self.rows.get(i)) else {
            return QVariant::default();
        };
        match role {
            ROLE_KIND => QVariant::from(&QString::from(kind_name(row.kind))),
            ROLE_SENDER => QVariant::from(&QString::from(row.sender.as_str())),
            ROLE_TEXT => QVariant::from(&QString::from(row.text.as_str())),
            ROLE_TIME => QVariant::from(&QString::from(clock_at(row.unix_ms, false).as_str())),
            ROLE_PENDING => QVariant::from(&row.pending),
            ROLE_MENTION => QVariant::from(&(matches!(row.kind, LineKind::Message | LineKind::Action | LineKind::Notice) && lines::mentions(&row.text, &self.nick.to_string()))),
            ROLE_CONTINUES => {
                let previous = index.row().checked_sub(1).and_then(|i| self.rows.get(i as usize));
                QVariant::from(&previous.is_some_and(|p| lines::continues(p, row)))
            }
            ROLE_RICH => {
                let shown = if row.kind == LineKind::Action { format!("{} {}", row.sender, row.text) } else { row.text.clone() };
                QVariant::from(&QString::from(lines::rich_text(&shown).as_str()))
            }
            _ => QVariant::default(),
        }
    }

    pub fn role_names(&self) -> QHash<QHashPair_i32_QByteArray> {
        let mut roles = QHash::<QHashPair_i32_QByteArray>::default();
        roles.insert(ROLE_KIND, QByteArray::from("kind"));
        roles.insert(ROLE_SENDER, QByteArray::from("sender"));
        roles.insert(ROLE_TEXT, QByteArray::from("text"));
        roles.insert(ROLE_TIME, QByteArray::from("time"));
        roles.insert(ROLE_PENDING, QByteArray::from("pending"));
        roles.insert(ROLE_CONTINUES, QByteArray::from("continues"));
        roles.insert(ROLE_RICH, QByteArray::from("rich"));
        roles.insert(ROLE_MENTION, QByteArray::from("mention"));
        roles
    }

    pub fn row_count(&self, _parent: &QModelIndex) -> i32 {
        self.rows.len() as i32
    }
}

/// A language the window speaks: "en", "zh_CN", else "" (the system's).
fn language_code(language: &str) -> &'static str {
    match language {
        "en" => "en",
        "zh_CN" => "zh_CN",
        _ => "",
    }
}

/// A notification level as kept: "all", "none", else "mentions".
fn notify_level(level: &str) -> &'static str {
    match level {
        "all" => "all",
        "none" => "none",
        _ => "mentions",
    }
}

/// Topics of rooms kept at most (a relay may send topics of rooms we are not in).
const MOST_TOPICS: usize = 64;

/// The relay room an event is about, if any: its lines go to that room's conversation.
fn relay_room(event: &ChatEvent) -> Option<&str> {
    let ChatEvent::Unicast(UnicastEvent::Chat(chat)) = event else { return None };
    let room = match chat {
        Event::Message { target, .. } | Event::Queued { target, .. } | Event::Delivered { target, .. } => target,
        Event::Joined { channel }
        | Event::Entered { channel }
        | Event::Switched { channel }
        | Event::MemberJoined { channel, .. }
        | Event::MemberLeft { channel, .. }
        | Event::Topic { channel, .. }
        | Event::History { channel, .. } => channel,
        _ => return None,
    };
    Some(room.as_str()).filter(|r| r.starts_with('#'))
}

fn normalise_channel(text: &str) -> String {
    let name = text.trim();
    if name.is_empty() {
        DEFAULT_CHANNEL.to_string()
    } else if name.starts_with('#') {
        name.to_string()
    } else {
        format!("#{name}")
    }
}

#[path = "chat_kept.rs"]
mod kept;
#[path = "chat_conversations.rs"]
mod conversations;
