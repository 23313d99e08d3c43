//! Messages: PRIVMSG and NOTICE to rooms and people, and what of them history keeps.

use super::*;

impl Server {
    pub(super) fn privmsg(&mut self, conn: ConnId, message: &Message, now: Now, out: &mut Vec<Action>) {
        let notice = message.command == "NOTICE";
        let Some(targets) = message.param(0).filter(|t| !t.is_empty()) else {
            if !notice {
                self.numeric(conn, "411", &[&format!("No recipient given ({})", message.command)], out);
            }
            return;
        };
        let Some(text) = message.param(1).filter(|t| !t.is_empty()) else {
            if !notice {
                self.numeric(conn, "412", &["No text to send"], out);
            }
            return;
        };
        let client = self.clients.get_mut(&conn).expect("caller checked");
        client.last_spoke = now.mono;
        let echo = client.caps.echo_message;
        let prefix = client.prefix();
        for target in targets.split(',').filter(|t| !t.is_empty()).take(4) {
            let key = fold(target);
            let mut recipients: Vec<ConnId> = if target.starts_with('#') {
                match self.channels.get(&key) {
                    Some(channel) => {
                        if let Some(why) = channel.refuses_speech(conn, &prefix) {
                            if !notice {
                                self.numeric(conn, "404", &[target, why], out);
                            }
                            continue;
                        }
                        channel.members.iter().copied().filter(|&m| m != conn).collect()
                    }
                    None => {
                        if !notice {
                            self.numeric(conn, "403", &[target, "No such channel"], out);
                        }
                        continue;
                    }
                }
            } else {
                match self.nicks.get(&key) {
                    Some(&to) => {
                        if let Some(away) = self.clients[&to].away.clone().filter(|_| !notice) {
                            let nick = self.clients[&to].nick().to_string();
                            self.numeric(conn, "301", &[&nick, &away], out);
                        }
                        vec![to]
                    }
                    None => {
                        if !notice {
                            self.numeric(conn, "401", &[target, "No such nick/channel"], out);
                        }
                        continue;
                    }
                }
            };
            if echo && !recipients.contains(&conn) {
                recipients.push(conn);
            }
            let mut relayed = Message::new(message.command.clone(), &[target, text]).with_source(prefix.clone());
            relayed.tags = message.tags.iter().filter(|(k, _)| k.starts_with('+')).cloned().collect();
            // Only open rooms keep history: private talk is keyed by nicknames, which change
            // hands, and a room's lock does not outlive the room.
            let kept = self.config.history && self.channels.get(&key).is_some_and(Channel::keeps_history);
            // Kept with the sender's tags where they are short (a reply, a reaction); long ones
            // would let one line take 8 KB of disk.
            let line = kept.then(|| {
                let tag_bytes: usize = relayed.tags.iter().map(|(k, v)| k.len() + v.as_ref().map_or(0, |v| v.len() + 1) + 1).sum();
                if tag_bytes <= history::MAX_KEPT_TAG_BYTES {
                    relayed.to_line()
                } else {
                    let tags = std::mem::take(&mut relayed.tags);
                    let line = relayed.to_line();
                    relayed.tags = tags;
                    line
                }
            });
            self.broadcast(&recipients, relayed, now, out);
            if let Some(line) = line {
                let conversation = key;
                let (msgid, unix_ms) = (history::msgid(self.next_msgid), history::msgid_time(self.next_msgid));
                out.push(Action::Store(Stored { target: conversation, msgid, unix_ms, line }));
            }
        }
    }
}
