//! A multicast chat session: the group's socket thread (`net::multicast`) with its events as
//! [`ChatEvent`]s, beside the relay session of `chat.rs`. The front ends reach the multicast
//! options (interfaces, the network check) through here.

use super::chat::ChatEvent;
use crate::net::multicast::{self, MulticastError, MulticastHandle};
pub use crate::net::multicast::{interfaces, resolve_interface, self_test, MulticastConfig};

/// The report's group and port.
pub const DEFAULT_GROUP: &str = "239.0.0.222:23333";

pub struct MulticastChat {
    handle: MulticastHandle,
}

impl MulticastChat {
    /// Join the group. Set-up errors (no such interface, cannot join) come back here, in words.
    pub fn start<F>(config: MulticastConfig, mut sink: F) -> Result<MulticastChat, MulticastError>
    where
        F: FnMut(ChatEvent) + Send + 'static,
    {
        let handle = multicast::spawn(config, move |event| sink(ChatEvent::Multicast(event)))?;
        Ok(MulticastChat { handle })
    }

    /// Send text; waits only while a thousand lines are queued.
    pub fn say(&self, text: &str) {
        self.handle.say(text);
    }

    /// Send text without waiting; false when it was not taken (the caller keeps it).
    pub fn try_say(&self, text: &str) -> bool {
        self.handle.try_say(text)
    }

    /// Send text to one participant alone (the one shown as `nick`); waits only while a
    /// thousand lines are queued.
    pub fn say_to(&self, nick: &str, text: &str) {
        self.handle.say_to(nick, text);
    }

    /// Send text to one participant alone, without waiting; false when it was not taken.
    pub fn try_say_to(&self, nick: &str, text: &str) -> bool {
        self.handle.try_say_to(nick, text)
    }

    /// Say goodbye and leave the group, waiting for the thread.
    pub fn stop(self) {
        self.handle.stop();
    }

    /// As `stop`, returning at once; the last event is `Stopped`.
    pub fn leave(self) {
        self.handle.leave();
    }
}
