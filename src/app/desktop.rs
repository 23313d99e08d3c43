//! The desktop, over the session D-Bus: whether the person prefers a dark or a light colour
//! scheme, from the XDG desktop portal's `Settings` interface (`org.freedesktop.appearance`
//! `color-scheme`, which GNOME, KDE and others implement), followed also when it changes while
//! the window is open; and desktop notifications (`org.freedesktop.Notifications`).
//!
//! `LANMEET_SCHEME=dark` or `light` overrides the desktop's scheme.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;
use zbus::zvariant::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Light,
    Dark,
}

impl Scheme {
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Light => "light",
            Scheme::Dark => "dark",
        }
    }
}

const PORTAL: &str = "org.freedesktop.portal.Desktop";
const PORTAL_PATH: &str = "/org/freedesktop/portal/desktop";
const SETTINGS: &str = "org.freedesktop.portal.Settings";
const NAMESPACE: &str = "org.freedesktop.appearance";
const KEY: &str = "color-scheme";

/// How long the window waits for the desktop's answer before it opens in the light scheme (it
/// switches when the answer comes later).
const FIRST_ANSWER_WAIT: Duration = Duration::from_millis(400);

/// The portal's `color-scheme`: 0 no preference, 1 prefer dark, 2 prefer light. The value may
/// come wrapped in variants (the older `Read` method wraps it twice).
pub fn scheme_of(value: &Value<'_>) -> Option<Scheme> {
    match value {
        Value::U32(1) => Some(Scheme::Dark),
        Value::U32(0 | 2) => Some(Scheme::Light),
        Value::Value(inner) => scheme_of(inner),
        _ => None,
    }
}

/// The scheme `LANMEET_SCHEME` asks for, if it is set to something we know.
fn scheme_from_env() -> Option<Scheme> {
    match std::env::var("LANMEET_SCHEME").ok()?.to_ascii_lowercase().as_str() {
        "dark" => Some(Scheme::Dark),
        "light" => Some(Scheme::Light),
        other => {
            log::warn!("LANMEET_SCHEME={other:?} is neither dark nor light; following the desktop");
            None
        }
    }
}

/// The scheme to open with, and from then on `changed` with each change the desktop reports
/// (from a thread of its own). Without a session bus or a portal, the light scheme.
pub fn follow_scheme(changed: impl Fn(Scheme) + Send + 'static) -> Scheme {
    if let Some(scheme) = scheme_from_env() {
        log::info!("desktop: colour scheme {} (LANMEET_SCHEME)", scheme.name());
        return scheme;
    }
    let (first_tx, first_rx) = crossbeam_channel::bounded(1);
    let spawned = std::thread::Builder::new().name("desktop".into()).spawn(move || {
        let connection = match zbus::blocking::Connection::session() {
            Ok(connection) => connection,
            Err(e) => {
                log::info!("desktop: no session bus ({e}); colour scheme light");
                return;
            }
        };
        // Subscribe before reading, so that no change falls between the two.
        let rule = format!("type='signal',sender='{PORTAL}',interface='{SETTINGS}',member='SettingChanged',path='{PORTAL_PATH}'");
        let changes = zbus::blocking::MessageIterator::for_match_rule(rule.as_str(), &connection, Some(16));
        let first = read_scheme(&connection);
        match &first {
            Ok(scheme) => log::info!("desktop: colour scheme {} (desktop portal)", scheme.name()),
            Err(e) => log::info!("desktop: the desktop portal does not say ({e}); colour scheme light"),
        }
        let first = first.unwrap_or(Scheme::Light);
        // Also through `changed`: the answer may come just after the window stopped waiting
        // for it (setting the same scheme again changes nothing).
        let _ = first_tx.send(first);
        changed(first);
        let Ok(changes) = changes else { return };
        for message in changes {
            let Ok(message) = message else { break };
            let body = message.body();
            let Ok((namespace, key, value)) = body.deserialize::<(String, String, Value<'_>)>() else { continue };
            if namespace != NAMESPACE || key != KEY {
                continue;
            }
            if let Some(scheme) = scheme_of(&value) {
                log::info!("desktop: colour scheme now {}", scheme.name());
                changed(scheme);
            }
        }
    });
    if spawned.is_err() {
        return Scheme::Light;
    }
    first_rx.recv_timeout(FIRST_ANSWER_WAIT).unwrap_or(Scheme::Light)
}

/// Asks the portal: `ReadOne` (version 2 of the interface), else the older `Read`.
fn read_scheme(connection: &zbus::blocking::Connection) -> Result<Scheme, String> {
    let ask = |method: &str| {
        connection
            .call_method(Some(PORTAL), PORTAL_PATH, Some(SETTINGS), method, &(NAMESPACE, KEY))
            .map_err(|e| e.to_string())
    };
    let reply = ask("ReadOne").or_else(|_| ask("Read"))?;
    let body = reply.body();
    let value: Value<'_> = body.deserialize().map_err(|e| e.to_string())?;
    scheme_of(&value).ok_or_else(|| format!("unexpected {KEY} value {value:?}"))
}

/// Notifications waiting for the notifier thread; more are dropped (a flood of messages does
/// not become a flood of bubbles, nor memory).
const NOTIFY_QUEUE: usize = 8;

type Queue = (crossbeam_channel::Sender<(String, String)>, crossbeam_channel::Receiver<(String, String)>);

static NOTIFIER: OnceLock<Option<Queue>> = OnceLock::new();

/// Text from other people as a notification shows it: no control or direction-changing
/// characters, at most `most` characters.
fn shown(text: &str, most: usize) -> String {
    let bidi = |c: char| matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    let mut out: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).filter(|&c| !bidi(c)).take(most).collect();
    if text.chars().count() > most {
        out.push('…');
    }
    out
}

/// Show a desktop notification, `summary` over `body`, without waiting: a thread of its own
/// talks to the notification service. Nothing happens where there is none (the log says so
/// once).
pub fn notify(summary: &str, body: &str) {
    let sender = NOTIFIER.get_or_init(|| {
        let (tx, rx) = crossbeam_channel::bounded::<(String, String)>(NOTIFY_QUEUE);
        let queue = (tx, rx.clone());
        let spawned = std::thread::Builder::new().name("notifier".into()).spawn(move || {
            let connection = match zbus::blocking::Connection::session() {
                Ok(connection) => connection,
                Err(e) => return log::info!("notifications: no session bus ({e})"),
            };
            // One bubble for the conversation, replaced by the next message.
            let mut replaces = 0u32;
            for (summary, body) in rx {
                let hints: HashMap<&str, Value<'_>> = HashMap::from([("category", Value::from("im.received"))]);
                let call = connection.call_method(
                    Some("org.freedesktop.Notifications"),
                    "/org/freedesktop/Notifications",
                    Some("org.freedesktop.Notifications"),
                    "Notify",
                    &("lanmeet", replaces, "", summary.as_str(), body.as_str(), Vec::<&str>::new(), hints, -1i32),
                );
                match call.and_then(|reply| reply.body().deserialize::<u32>()) {
                    Ok(id) => replaces = id,
                    Err(e) => log::info!("notifications: not shown ({e})"),
                }
            }
        });
        spawned.ok().map(|_| queue)
    });
    let summary = shown(summary, 80);
    // The service may read markup in the body: what people wrote stays text.
    let body = shown(body, 300).replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    // What people wrote in private stays out of the log.
    log::info!("notification: {summary} ({} characters)", body.chars().count());
    if let Some((tx, rx)) = sender {
        // A flood: the oldest waiting bubble gives way to the newest.
        if let Err(crossbeam_channel::TrySendError::Full(waiting)) = tx.try_send((summary, body)) {
            let _ = rx.try_recv();
            let _ = tx.try_send(waiting);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_show_text_without_controls_or_direction_marks() {
        assert_eq!(shown("ann\n-!- fake\u{202e}txt", 80), "ann -!- faketxt");
        assert_eq!(shown("窗口窗口窗口", 2), "窗口…");
    }

    #[test]
    fn the_portal_values_map_to_schemes_however_wrapped() {
        assert_eq!(scheme_of(&Value::U32(1)), Some(Scheme::Dark));
        assert_eq!(scheme_of(&Value::U32(2)), Some(Scheme::Light));
        assert_eq!(scheme_of(&Value::U32(0)), Some(Scheme::Light));
        assert_eq!(scheme_of(&Value::U32(7)), None);
        assert_eq!(scheme_of(&Value::from("dark")), None);
        let twice = Value::Value(Box::new(Value::Value(Box::new(Value::U32(1)))));
        assert_eq!(scheme_of(&twice), Some(Scheme::Dark));
    }
}
