//! The chat room's conversations: the room (or group) first, the relay's other rooms we are
//! in, and private conversations with one person each. The model shows one of them; the
//! others' lines wait in `convs`, counting what came unread.

use super::qobject;
use super::Session;
use crate::app::archive::Scope;
use crate::app::i18n::tr;
use crate::app::lines::{Line, LineKind};
use crate::proto::irc::names::fold;
use core::pin::Pin;
use cxx_qt::CxxQtType;
use cxx_qt_lib::{QString, QStringList};

/// One typed line as it goes to `target` (a person or a room) by name: text as a message to
/// it, `/me` as an action to it; other commands stay commands.
pub(super) fn addressed_to(target: &str, line: &str) -> String {
    match line.strip_prefix("/me ") {
        Some(action) => format!("/msg {target} \x01ACTION {action}\x01"),
        None if line.starts_with('/') && !line.starts_with("//") => line.to_string(),
        None => format!("/msg {target} {}", line.strip_prefix('/').unwrap_or(line)),
    }
}

/// Private conversations open at once at most; opening one more closes the quietest.
pub const MOST_OPEN: usize = 50;
/// Private conversations kept on this computer that come back at a start (the latest ones).
pub const REOPENED: usize = 10;

/// One conversation. While it is the one shown, its lines are the model's (`rows`) and these
/// are empty.
#[derive(Debug, Default)]
pub struct Conv {
    /// The other person, as last seen (their nick), or another room (`#name`); empty for the
    /// first room or the group.
    pub with: String,
    pub rows: Vec<Line>,
    pub session_rows: usize,
    pub unread: i32,
}

impl qobject::ChatRoom {
    /// The conversation of private talk with `nick`, opened (with its kept lines) if it was
    /// not.
    fn conversation_with(mut self: Pin<&mut Self>, nick: &str) -> usize {
        let key = fold(nick);
        if let Some(found) = self.convs.iter().position(|c| !c.with.is_empty() && fold(&c.with) == key) {
            return found;
        }
        if self.convs.len() > MOST_OPEN {
            // The one heard from least lately (never the room, nor the one shown) makes room.
            let current = self.current;
            // Read ones go before unread ones.
            // A room's stays: we are in that room.
            let quiet = (1..self.convs.len())
                .filter(|&i| i != current && !self.convs[i].with.starts_with('#'))
                .min_by_key(|&i| (self.convs[i].unread > 0, self.convs[i].rows.last().map_or(0, |l| l.unix_ms)));
            if let Some(quiet) = quiet {
                self.as_mut().drop_conversation(quiet);
            }
        }
        let mut conv = Conv { with: nick.to_string(), ..Conv::default() };
        if let Some(place) = self.scope.as_ref().map(|s| s.place.clone()) {
            conv.rows = self.as_mut().kept_lines(&Scope { place, conversation: nick.to_string(), private: false });
            conv.session_rows = conv.rows.len();
        }
        self.as_mut().rust_mut().convs.push(conv);
        self.as_mut().publish_conversations();
        self.convs.len() - 1
    }

    /// The conversation of room `room`: the first, or one of its own (opened if it was not).
    pub(super) fn room_conversation_of(mut self: Pin<&mut Self>, room: &str) -> usize {
        if fold(room) == fold(&self.room_conversation) {
            return 0;
        }
        self.as_mut().conversation_with(room)
    }

    /// The room (relay) conversation `index` is of, if it is one.
    fn room_of(&self, index: usize) -> Option<String> {
        let conv = self.convs.get(index)?;
        if index == 0 {
            return Some(self.room_conversation.clone()).filter(|r| r.starts_with('#'));
        }
        Some(conv.with.clone()).filter(|w| w.starts_with('#'))
    }

    /// Whether `room` is one of the relay's rooms we are in now.
    fn is_in(&self, room: &str) -> bool {
        self.joined_rooms.iter().any(|r| fold(r) == fold(room))
    }

    /// We are in `room` now, or not any more: what the next start joins follows.
    pub(super) fn now_in(mut self: Pin<&mut Self>, room: &str, inside: bool) {
        let known = self.is_in(room);
        if inside && !known {
            self.as_mut().rust_mut().joined_rooms.push(room.to_string());
        } else if !inside && known {
            self.as_mut().rust_mut().joined_rooms.retain(|r| fold(r) != fold(room));
        }
        self.remember_rooms();
    }

    /// A line of a chat event, to the conversation it belongs to: a private one to the
    /// conversation with its other person, one of a room to that room's (if it is one of
    /// ours), the rest to the conversation shown.
    pub(super) fn route(mut self: Pin<&mut Self>, line: Line, room: Option<&str>) {
        let current = self.current;
        let target = match (&line.with, room) {
            (Some(with), _) => self.as_mut().conversation_with(with),
            (None, Some(room)) if self.is_in(room) || fold(room) == fold(&self.room_conversation) || self.convs.iter().any(|c| fold(&c.with) == fold(room)) => {
                self.as_mut().room_conversation_of(room)
            }
            (None, _) => current,
        };
        if target == self.current {
            return self.push(line);
        }
        let unread = matches!(line.kind, LineKind::Message | LineKind::Action | LineKind::Notice);
        log::info!("conversation {target}: [{}] {} {}", super::kind_name(line.kind), line.sender, line.text);
        {
            let mut rust = self.as_mut().rust_mut();
            let conv = &mut rust.convs[target];
            conv.rows.push(line);
            if unread {
                conv.unread += 1;
            }
        }
        if unread {
            self.publish_conversations();
        }
    }

    /// The list QML shows: "with TAB unread" a conversation, the room's first (its `with`
    /// empty).
    fn publish_conversations(mut self: Pin<&mut Self>) {
        // A tab in a name (from a relay that lets one through) cannot split its entry. The
        // first room shows its name; the group none.
        let first = self.room_of(0).unwrap_or_default();
        let list: QStringList = self
            .convs
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let name = if i == 0 { &first } else { &c.with };
                QString::from(format!("{}\t{}", name.replace('\t', " "), c.unread).as_str())
            })
            .collect();
        self.as_mut().set_conversations(list);
        let current = self.current as i32;
        self.set_current_conversation(current);
    }

    /// The scope of kept messages conversation `index` shows.
    fn scope_of(&self, index: usize) -> Option<Scope> {
        let scope = self.scope.clone()?;
        Some(match self.convs.get(index) {
            Some(conv) if !conv.with.is_empty() => Scope { conversation: conv.with.clone(), ..scope },
            _ => Scope { conversation: self.room_conversation.clone(), ..scope },
        })
    }

    /// Shows conversation `index` in the model.
    pub fn show_conversation(mut self: Pin<&mut Self>, index: i32) {
        let Ok(index) = usize::try_from(index) else { return };
        if index >= self.convs.len() || index == self.current {
            return;
        }
        unsafe {
            self.as_mut().begin_reset_model();
        }
        {
            let mut rust = self.as_mut().rust_mut();
            let rust = &mut *rust;
            let current = rust.current;
            std::mem::swap(&mut rust.rows, &mut rust.convs[current].rows);
            std::mem::swap(&mut rust.session_rows, &mut rust.convs[current].session_rows);
            rust.current = index;
            std::mem::swap(&mut rust.rows, &mut rust.convs[index].rows);
            std::mem::swap(&mut rust.session_rows, &mut rust.convs[index].session_rows);
            rust.convs[index].unread = 0;
        }
        unsafe {
            self.as_mut().end_reset_model();
        }
        if let Some(scope) = self.scope_of(index) {
            self.as_mut().rust_mut().scope = Some(scope);
        }
        let with = self.convs[index].with.clone();
        log::info!("conversation shown: {}", if with.is_empty() { "the room" } else { &with });
        self.as_mut().publish_conversations();
        // The conversation of a room we are in: we talk there now.
        if let (Some(room), Some(Session::Unicast(session))) = (self.room_of(index), &self.session) {
            if fold(&room) != fold(&self.channel().to_string()) && self.is_in(&room) {
                session.try_say(&format!("/join {room}"));
            }
        }
    }

    /// Opens (or shows) the private conversation with `nick`.
    pub fn open_private(mut self: Pin<&mut Self>, nick: &QString) {
        let nick = nick.to_string().trim().trim_start_matches(['@', '+', '%', '~', '&']).to_string();
        if nick.is_empty() || fold(&nick) == fold(&self.nick().to_string()) {
            return;
        }
        match &self.session {
            Some(Session::Unicast(_)) => {}
            Some(Session::Multicast(_)) if !self.plain => {}
            Some(Session::Multicast(_)) => {
                let text = tr("Private conversations need the lanmeet protocol; in plain-text mode everything said reaches the whole group", &[]);
                return self.push(Line::info(text));
            }
            None => return,
        }
        let index = self.as_mut().conversation_with(&nick);
        self.show_conversation(index as i32);
    }

    /// Removes conversation `index` (not the one shown); opened again, it shows its kept lines
    /// anew.
    fn drop_conversation(mut self: Pin<&mut Self>, index: usize) {
        if let Some(scope) = self.scope_of(index) {
            self.as_mut().rust_mut().shown.close(&scope);
        }
        let mut rust = self.as_mut().rust_mut();
        rust.convs.remove(index);
        if index < rust.current {
            rust.current -= 1;
        }
    }

    /// Closes conversation `index` (its messages stay kept): a private one, or another room,
    /// which we leave. The first room cannot be.
    pub fn close_conversation(mut self: Pin<&mut Self>, index: i32) {
        let Ok(index) = usize::try_from(index) else { return };
        if index == 0 || index >= self.convs.len() {
            return;
        }
        if let (Some(room), Some(Session::Unicast(session))) = (self.room_of(index), &self.session) {
            if self.is_in(&room) {
                session.try_say(&format!("/part {room}"));
            }
        }
        if index == self.current {
            self.as_mut().show_conversation(0);
        }
        self.as_mut().drop_conversation(index);
        self.as_mut().publish_conversations();
        self.remember_rooms();
    }

    /// The rooms we are in, as the next start joins them: the one we talk in, then the others.
    pub(super) fn remember_rooms(&self) {
        if !matches!(self.session, Some(Session::Unicast(_))) {
            return;
        }
        let current = self.channel().to_string();
        let rooms: Vec<String> = self.joined_rooms.iter().filter(|r| fold(r) != fold(&current)).cloned().collect();
        let server = super::server_and_security(&self.server().to_string()).0;
        crate::app::settings::remember(|kept| {
            kept.channel = Some(current.clone());
            kept.rooms = Some(rooms.clone());
            kept.rooms_server = Some(server.clone());
        });
    }

    /// The other person of the conversation shown; None for the room or group.
    pub(super) fn shown_with(&self) -> Option<&str> {
        Some(self.convs[self.current].with.as_str()).filter(|w| !w.is_empty())
    }

    /// The text typed in the shown conversation as it goes out to a relay, one piece per
    /// message: in a private one each line is a private message to its person, `/me` an
    /// action to them, and other commands stay commands.
    pub(super) fn addressed(&self, text: &str) -> Vec<String> {
        // A room's conversation names its room, so that its text cannot go to another.
        let room = self.room_of(self.current);
        let with = room.as_ref().unwrap_or(&self.convs[self.current].with);
        if with.is_empty() {
            return vec![text.to_string()];
        }
        text.lines().filter(|l| !l.trim().is_empty()).map(|l| addressed_to(with, l)).collect()
    }

    /// Only the room's conversation is left, shown (a new server or group).
    pub(super) fn forget_conversations(mut self: Pin<&mut Self>) {
        self.as_mut().show_conversation(0);
        while self.convs.len() > 1 {
            let last = self.convs.len() - 1;
            self.as_mut().drop_conversation(last);
        }
        self.publish_conversations();
    }

    /// Someone took another name: their private conversation follows them.
    pub(super) fn renamed(mut self: Pin<&mut Self>, old: &str, new: &str) {
        let (old, new_key) = (fold(old), fold(new));
        let taken = self.convs.iter().any(|c| !c.with.is_empty() && fold(&c.with) == new_key);
        let Some(index) = self.convs.iter().position(|c| !c.with.is_empty() && fold(&c.with) == old) else { return };
        if taken {
            return;
        }
        let scope = self.scope_of(index);
        {
            let mut rust = self.as_mut().rust_mut();
            let rust = &mut *rust;
            rust.convs[index].with = new.to_string();
            // The lines to come (and those waiting to be confirmed) belong to the new name.
            let rows = if index == rust.current { &mut rust.rows } else { &mut rust.convs[index].rows };
            for line in rows.iter_mut().filter(|l| l.with.is_some()) {
                line.with = Some(new.to_string());
            }
            if let Some(scope) = scope {
                rust.shown.close(&scope);
            }
        }
        if index == self.current {
            if let Some(scope) = self.scope_of(index) {
                self.as_mut().rust_mut().scope = Some(scope);
            }
        }
        self.publish_conversations();
    }

    /// The private conversations kept of this place come back, the latest first.
    pub(super) fn reopen_private(mut self: Pin<&mut Self>) {
        let Some(place) = self.scope.as_ref().map(|s| s.place.clone()) else { return };
        let Some(archive) = self.archive.as_ref() else { return };
        for with in archive.private_conversations(&place, REOPENED).into_iter().rev() {
            self.as_mut().conversation_with(&with);
        }
    }

    /// The lines still pending of this session, each with the room of its conversation (None
    /// for a private one, or the group).
    pub(super) fn pending(&self) -> Vec<(Option<String>, &Line)> {
        let current = self.current;
        let shown = self.rows[self.session_rows.min(self.rows.len())..].iter().map(|l| (self.room_of(current), l));
        let others = self
            .convs
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != current)
            .flat_map(|(i, c)| c.rows[c.session_rows.min(c.rows.len())..].iter().map(move |l| (self.room_of(i), l)));
        shown.chain(others).filter(|(_, l)| l.pending).collect()
    }
}
