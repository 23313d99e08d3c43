//! The kept conversations in the chat room: every message is kept on this computer
//! (`app::archive`), the latest of a conversation show again when the window comes back to it,
//! and a search finds older ones and brings them into view.

use crate::proto::irc::names::fold;
use super::qobject;
use super::clock_at;
use crate::app::archive::{self, Archive, Said, Scope};
use crate::app::i18n::tr;
use crate::app::lines::{self, Line};
use core::pin::Pin;
use cxx_qt::CxxQtType;
use cxx_qt_lib::{QModelIndex, QString, QStringList};

/// Search results at most.
const MOST_FOUND: usize = 200;
/// Characters of a found message shown in the results.
const FOUND_TEXT: usize = 300;

impl qobject::ChatRoom {
    /// The kept conversations, opened the first time they are needed; None if they cannot be
    /// (said once in the chat, and the chat goes on without them).
    fn archive(mut self: Pin<&mut Self>) -> Option<&Archive> {
        if self.archive.is_none() && !self.archive_failed {
            let file = archive::default_file();
            match Archive::open(&file) {
                Ok(archive) => self.as_mut().rust_mut().archive = Some(archive),
                Err(e) => {
                    self.as_mut().rust_mut().archive_failed = true;
                    self.as_mut().push(Line::error(tr("Messages are not kept on this computer: {0}", &[&e])));
                }
            }
        }
        self.into_ref().get_ref().archive.as_ref()
    }

    /// The room or group the view now shows is `scope`; the first time, its latest kept lines
    /// come in below what is there. Returns the time of the newest kept message of each room
    /// of its place.
    pub(super) fn open_scope(mut self: Pin<&mut Self>, scope: Scope) -> std::collections::HashMap<String, i64> {
        self.as_mut().show_conversation(0);
        // Another place, or another first room: the other conversations were of the old one.
        if self.scope.as_ref().is_some_and(|s| s.place != scope.place) || fold(&self.room_conversation) != fold(&scope.conversation) {
            self.as_mut().forget_conversations();
        }
        // Another first room of the same place (the window talked in another room when it
        // connected again): the old room's lines leave the first conversation, and show in
        // that room's own when it comes back.
        let old = self.scope.clone().filter(|s| s.place == scope.place && fold(&s.conversation) != fold(&scope.conversation));
        if let Some(old) = old {
            unsafe {
                self.as_mut().begin_reset_model();
            }
            {
                let mut rust = self.as_mut().rust_mut();
                rust.rows.clear();
                rust.session_rows = 0;
                rust.shown.close(&old);
            }
            unsafe {
                self.as_mut().end_reset_model();
            }
        }
        self.as_mut().rust_mut().room_conversation = scope.conversation.clone();
        self.as_mut().rust_mut().scope = Some(scope.clone());
        let Some(archive) = self.as_mut().archive() else { return Default::default() };
        let seen = archive.seen_until(&scope.place);
        let shown = self.as_mut().kept_lines(&scope);
        let at = self.rows.len();
        self.as_mut().insert_rows(at, shown);
        seen
    }

    /// The latest kept lines of `scope` the first time the view shows it, with a line under
    /// them; nothing after.
    pub(super) fn kept_lines(mut self: Pin<&mut Self>, scope: &Scope) -> Vec<Line> {
        if self.as_mut().archive().is_none() {
            return Vec::new();
        }
        let kept = self.as_mut().with_shown(|shown, archive| shown.open(archive, scope)).unwrap_or_default();
        if kept.is_empty() {
            return Vec::new();
        }
        log::info!("chat view: {} kept line(s) of {} {}", kept.len(), scope.place, scope.conversation);
        let mut lines: Vec<Line> = kept.iter().map(|k| lines::kept_line(&k.said)).collect();
        lines.push(Line::info(tr("── {0} earlier message(s), above ──", &[&kept.len()])));
        for line in &lines {
            log::info!("chat view (kept): [{}] {} {}", super::kind_name(line.kind), line.sender, line.text);
        }
        lines
    }

    /// `work` with what the view shows and the archive, borrowed apart; None without an
    /// archive.
    fn with_shown<T>(mut self: Pin<&mut Self>, work: impl FnOnce(&mut archive::Shown, &Archive) -> T) -> Option<T> {
        let mut rust = self.as_mut().rust_mut();
        let rust = &mut *rust;
        Some(work(&mut rust.shown, rust.archive.as_ref()?))
    }

    /// Keeps a message of the conversation the view shows.
    pub(super) fn keep(&self, said: Said) {
        if let (Some(archive), Some(scope)) = (&self.archive, &self.scope) {
            archive.keep(&scope.place, said);
        }
    }

    /// Adds `shown` at row `at`, in one step.
    fn insert_rows(mut self: Pin<&mut Self>, at: usize, shown: Vec<Line>) {
        if shown.is_empty() {
            return;
        }
        let (first, last) = (at as i32, (at + shown.len() - 1) as i32);
        unsafe {
            self.as_mut().begin_insert_rows(&QModelIndex::default(), first, last);
        }
        let count = shown.len();
        {
            let mut rust = self.as_mut().rust_mut();
            rust.rows.splice(at..at, shown);
            if at <= rust.session_rows {
                rust.session_rows += count;
            }
        }
        unsafe {
            self.as_mut().end_insert_rows();
        }
    }

    /// Kept messages of what the view shows that hold every word of `text`, newest first, as
    /// "number TAB when TAB sender TAB text" (text on one line, shortened).
    pub fn search_history(self: Pin<&mut Self>, text: &QString) -> QStringList {
        let query = text.to_string();
        let Some(scope) = self.scope.clone() else { return QStringList::default() };
        let Some(archive) = self.archive() else { return QStringList::default() };
        let started = std::time::Instant::now();
        let found = archive.search(&scope, &query, MOST_FOUND);
        log::info!("search {:?}: {} found in {:.1} ms", query, found.len(), started.elapsed().as_secs_f64() * 1000.0);
        found
            .iter()
            .map(|k| {
                let line = lines::kept_line(&k.said);
                let mut text: String = line.text.chars().take(FOUND_TEXT).map(|c| if c.is_control() { ' ' } else { c }).collect();
                if line.text.chars().count() > FOUND_TEXT {
                    text.push('…');
                }
                QString::from(format!("{}\t{}\t{}\t{}", k.id, clock_at(k.said.unix_ms, true), line.sender.replace('\t', " "), text).as_str())
            })
            .collect()
    }

    /// Brings kept message `id` into view (with what lies between it and what the view shows)
    /// and gives its row, or -1.
    pub fn reach_message(mut self: Pin<&mut Self>, id: i64) -> i32 {
        let Some(scope) = self.scope.clone() else { return -1 };
        let Some(kept) = self.as_mut().archive().and_then(|a| a.get(id)) else { return -1 };
        let (reached, left_out) = self.as_mut().with_shown(|shown, archive| shown.reach(archive, &scope, id)).unwrap_or_default();
        if !reached.is_empty() {
            log::info!("chat view: {} earlier kept line(s) taken in", reached.len());
            let mut above: Vec<Line> = reached.iter().map(|k| lines::kept_line(&k.said)).collect();
            if left_out > 0 {
                above.push(Line::info(tr("── {0} more kept message(s) between, not shown ──", &[&left_out])));
            }
            self.as_mut().insert_rows(0, above);
        }
        let wanted = lines::kept_line(&kept.said);
        let row = self.rows.iter().rposition(|r| r.kind == wanted.kind && r.unix_ms == wanted.unix_ms && r.sender == wanted.sender && r.text == wanted.text);
        log::info!("search result {id}: row {row:?}");
        row.map_or(-1, |r| r as i32)
    }

    /// Forgets every kept message of this server or group, here and on the disk.
    pub fn clear_history(mut self: Pin<&mut Self>) {
        let Some(scope) = self.scope.clone() else { return };
        let Some(archive) = self.as_mut().archive() else { return };
        archive.clear(&scope.place);
        let next = archive.next_id();
        self.as_mut().forget_conversations();
        let scope = self.scope.clone().unwrap_or(scope);
        self.as_mut().rust_mut().shown.cleared(&scope, next);
        unsafe {
            self.as_mut().begin_reset_model();
        }
        {
            let mut rust = self.as_mut().rust_mut();
            rust.rows.clear();
            rust.session_rows = 0;
        }
        unsafe {
            self.as_mut().end_reset_model();
        }
        let place = self.kept_place().to_string();
        self.push(Line::info(tr("Messages kept of {0} cleared", &[&place])));
    }

    pub fn kept_place(&self) -> QString {
        let place = self.scope.as_ref().map(|s| s.place.split_once("://").map_or(s.place.as_str(), |(_, rest)| rest)).unwrap_or_default();
        QString::from(place)
    }
}
