//! Rooms: JOIN, PART, NAMES, TOPIC, KICK and INVITE.

use super::*;

impl Server {
    pub(super) fn join(&mut self, conn: ConnId, message: &Message, now: Now, out: &mut Vec<Action>) {
        let Some(list) = message.param(0) else {
            self.numeric(conn, "461", &["JOIN", "Not enough parameters"], out);
            return;
        };
        if list == "0" {
            let joined = self.clients[&conn].channels.clone();
            for key in joined {
                let name = self.channels[&key].name.clone();
                self.leave_channel(conn, &key, Message::new("PART", &[&name]), now, out);
            }
            return;
        }
        let mut keys = message.param(1).unwrap_or("").split(',');
        for name in list.split(',').filter(|n| !n.is_empty()) {
            let given_key = keys.next().filter(|k| !k.is_empty());
            if !valid_channel(name) {
                self.numeric(conn, "476", &[name, "Bad Channel Mask"], out);
                continue;
            }
            let key = fold(name);
            let client = self.clients.get_mut(&conn).expect("caller checked");
            if client.channels.contains(&key) {
                continue;
            }
            if client.channels.len() >= MAX_CHANNELS_PER_CLIENT {
                self.numeric(conn, "405", &[name, "You have joined too many channels"], out);
                break;
            }
            let prefix = client.prefix();
            let invitation = self.channels.get(&key).and_then(|c| client.invites.iter().find(|(k, made, _)| *k == key && *made == c.instance));
            let (invited, by_operator) = (invitation.is_some(), invitation.is_some_and(|i| i.2));
            if let Some(channel) = self.channels.get(&key).filter(|_| !by_operator) {
                let refusal = if channel.banned(&prefix) {
                    Some(("474", "Cannot join channel (+b: you are banned)"))
                } else if channel.flags.invite_only && !invited {
                    Some(("473", "Cannot join channel (+i: by invitation only)"))
                } else if channel.key.is_some() && channel.key.as_deref() != given_key {
                    Some(("475", "Cannot join channel (+k: wrong or missing key)"))
                } else if channel.limit.is_some_and(|limit| channel.members.len() >= limit) {
                    Some(("471", "Cannot join channel (+l: the channel is full)"))
                } else {
                    None
                };
                if let Some((code, text)) = refusal {
                    let shown = channel.name.clone();
                    self.numeric(conn, code, &[&shown, text], out);
                    continue;
                }
            }
            let client = self.clients.get_mut(&conn).expect("caller checked");
            client.invites.retain(|(k, _, _)| k != &key);
            client.channels.push(key.clone());
            let away = client.away.clone();
            let instance = self.next_instance + 1;
            let channel = self.channels.entry(key.clone()).or_insert_with(|| Channel::new(name, conn, now.unix_millis() / 1000, instance));
            if channel.instance == instance {
                self.next_instance = instance;
            }
            let channel = self.channels.get_mut(&key).expect("just made");
            channel.members.push(conn);
            let name = channel.name.clone();
            let members = channel.members.clone();
            self.broadcast(&members, Message::new("JOIN", &[&name]).with_source(prefix.clone()), now, out);
            if let Some(away) = away {
                let notified: Vec<ConnId> = members.iter().copied().filter(|&m| m != conn && self.clients[&m].caps.away_notify).collect();
                self.broadcast(&notified, Message::new("AWAY", &[&away]).with_source(prefix), now, out);
            }
            self.send_topic(conn, &key, false, out);
            self.send_names(conn, &key, out);
        }
    }

    pub(super) fn part(&mut self, conn: ConnId, message: &Message, now: Now, out: &mut Vec<Action>) {
        let Some(list) = message.param(0) else {
            self.numeric(conn, "461", &["PART", "Not enough parameters"], out);
            return;
        };
        let reason = message.param(1);
        for name in list.split(',').filter(|n| !n.is_empty()) {
            let key = fold(name);
            let Some(channel) = self.channels.get(&key) else {
                self.numeric(conn, "403", &[name, "No such channel"], out);
                continue;
            };
            if !channel.members.contains(&conn) {
                self.numeric(conn, "442", &[name, "You're not on that channel"], out);
                continue;
            }
            let name = channel.name.clone();
            let part = match reason {
                Some(r) => Message::new("PART", &[&name, r]),
                None => Message::new("PART", &[&name]),
            };
            self.leave_channel(conn, &key, part, now, out);
        }
    }

    /// Tell the channel (the leaver included) and drop the member; an empty channel goes.
    pub(super) fn leave_channel(&mut self, conn: ConnId, key: &str, message: Message, now: Now, out: &mut Vec<Action>) {
        let prefix = self.clients[&conn].prefix();
        let members = self.channels[key].members.clone();
        self.broadcast(&members, message.with_source(prefix), now, out);
        self.drop_membership(conn, key);
    }

    pub(super) fn drop_membership(&mut self, conn: ConnId, key: &str) {
        if let Some(channel) = self.channels.get_mut(key) {
            channel.members.retain(|&m| m != conn);
            channel.operators.retain(|&m| m != conn);
            channel.voiced.retain(|&m| m != conn);
            if channel.members.is_empty() {
                self.channels.remove(key);
            }
        }
        if let Some(client) = self.clients.get_mut(&conn) {
            client.channels.retain(|c| c != key);
        }
    }

    pub(super) fn names(&mut self, conn: ConnId, message: &Message, out: &mut Vec<Action>) {
        match message.param(0) {
            Some(list) => {
                let mut asked = Vec::new();
                for name in list.split(',').filter(|n| !n.is_empty()) {
                    let key = fold(name);
                    if asked.contains(&key) {
                        continue;
                    }
                    if asked.len() == MAX_NAMES_TARGETS {
                        self.numeric(conn, "407", &[name, "Too many targets"], out);
                        break;
                    }
                    asked.push(key.clone());
                    if self.channels.get(&key).is_some_and(|c| !c.flags.secret || c.members.contains(&conn)) {
                        self.send_names(conn, &key, out);
                    } else {
                        self.numeric(conn, "366", &[name, "End of /NAMES list"], out);
                    }
                }
            }
            None => self.numeric(conn, "366", &["*", "End of /NAMES list"], out),
        }
    }

    pub(super) fn send_names(&mut self, conn: ConnId, key: &str, out: &mut Vec<Action>) {
        let channel = &self.channels[key];
        let all = self.clients[&conn].caps.multi_prefix;
        let mut entries = Vec::with_capacity(channel.members.len());
        for member in &channel.members {
            entries.push(format!("{}{}", channel.prefixes(*member, all), self.clients[member].nick()));
        }
        let symbol = if channel.flags.secret { "@" } else { "=" };
        let name = channel.name.clone();
        for line in self.pack_words(&entries, &[symbol, &name]) {
            self.numeric(conn, "353", &[symbol, &name, &line], out);
        }
        self.numeric(conn, "366", &[&name, "End of /NAMES list"], out);
    }

    pub(super) fn topic(&mut self, conn: ConnId, message: &Message, now: Now, out: &mut Vec<Action>) {
        let Some(name) = message.param(0) else {
            self.numeric(conn, "461", &["TOPIC", "Not enough parameters"], out);
            return;
        };
        let key = fold(name);
        let Some(channel) = self.channels.get_mut(&key) else {
            self.numeric(conn, "403", &[name, "No such channel"], out);
            return;
        };
        if !channel.members.contains(&conn) {
            self.numeric(conn, "442", &[name, "You're not on that channel"], out);
            return;
        }
        match message.param(1) {
            None => self.send_topic(conn, &key, true, out),
            Some(_) if channel.flags.topic_lock && !channel.is_op(conn) => {
                let name = channel.name.clone();
                self.numeric(conn, "482", &[&name, "You're not channel operator (+t: only operators set the topic)"], out);
            }
            Some(text) => {
                let text: String = text.chars().scan(0, |n, c| { *n += c.len_utf8(); (*n <= 390).then_some(c) }).collect();
                let setter = self.clients[&conn].nick().to_string();
                let prefix = self.clients[&conn].prefix();
                channel.topic = if text.is_empty() { None } else { Some((text.clone(), setter, now.unix_millis() / 1000)) };
                let name = channel.name.clone();
                let members = channel.members.clone();
                self.broadcast(&members, Message::new("TOPIC", &[&name, &text]).with_source(prefix), now, out);
            }
        }
    }

    pub(super) fn send_topic(&mut self, conn: ConnId, key: &str, say_when_unset: bool, out: &mut Vec<Action>) {
        let channel = &self.channels[key];
        let name = channel.name.clone();
        match channel.topic.clone() {
            Some((text, setter, when)) => {
                self.numeric(conn, "332", &[&name, &text], out);
                self.numeric(conn, "333", &[&name, &setter, &when.to_string()], out);
            }
            None if say_when_unset => self.numeric(conn, "331", &[&name, "No topic is set"], out),
            None => {}
        }
    }

    pub(super) fn kick(&mut self, conn: ConnId, message: &Message, now: Now, out: &mut Vec<Action>) {
        let (Some(name), Some(nicks)) = (message.param(0), message.param(1)) else {
            self.numeric(conn, "461", &["KICK", "Not enough parameters"], out);
            return;
        };
        let key = fold(name);
        let Some(channel) = self.channels.get(&key) else {
            self.numeric(conn, "403", &[name, "No such channel"], out);
            return;
        };
        let name = channel.name.clone();
        if !channel.members.contains(&conn) {
            self.numeric(conn, "442", &[&name, "You're not on that channel"], out);
            return;
        }
        if !channel.is_op(conn) {
            self.numeric(conn, "482", &[&name, "You're not channel operator"], out);
            return;
        }
        let kicker = self.clients[&conn].nick().to_string();
        let reason = message.param(2).filter(|r| !r.is_empty()).unwrap_or(&kicker);
        let reason = reason[..floor_char_boundary(reason, KICKLEN)].to_string();
        for nick in nicks.split(',').filter(|n| !n.is_empty()).take(4) {
            let target = self.nicks.get(&fold(nick)).copied().filter(|t| self.channels.get(&key).is_some_and(|c| c.members.contains(t)));
            let Some(target) = target else {
                self.numeric(conn, "441", &[nick, &name, "They aren't on that channel"], out);
                continue;
            };
            let shown = self.clients[&target].nick().to_string();
            let prefix = self.clients[&conn].prefix();
            let members = self.channels[&key].members.clone();
            self.broadcast(&members, Message::new("KICK", &[&name, &shown, &reason]).with_source(prefix), now, out);
            self.drop_membership(target, &key);
        }
    }

    pub(super) fn invite(&mut self, conn: ConnId, message: &Message, now: Now, out: &mut Vec<Action>) {
        let (Some(nick), Some(name)) = (message.param(0), message.param(1)) else {
            if message.params.is_empty() {
                // The channels we are invited to.
                let invites: Vec<String> = self.clients[&conn]
                    .invites
                    .iter()
                    .filter_map(|(k, made, _)| self.channels.get(k).filter(|c| c.instance == *made))
                    .map(|c| c.name.clone())
                    .collect();
                for name in invites {
                    self.numeric(conn, "336", &[&name], out);
                }
                self.numeric(conn, "337", &["End of /INVITE list"], out);
            } else {
                self.numeric(conn, "461", &["INVITE", "Not enough parameters"], out);
            }
            return;
        };
        let Some(&target) = self.nicks.get(&fold(nick)) else {
            self.numeric(conn, "401", &[nick, "No such nick/channel"], out);
            return;
        };
        let key = fold(name);
        // An invitation is to a room that exists, from one of its members, for someone else.
        let Some(channel) = self.channels.get(&key) else {
            self.numeric(conn, "403", &[name, "No such channel"], out);
            return;
        };
        let name = channel.name.clone();
        let made = channel.instance;
        let by_operator = channel.is_op(conn);
        let notify: Vec<ConnId>;
        {
            if !channel.members.contains(&conn) {
                self.numeric(conn, "442", &[&name, "You're not on that channel"], out);
                return;
            }
            if channel.flags.invite_only && !channel.is_op(conn) {
                self.numeric(conn, "482", &[&name, "You're not channel operator"], out);
                return;
            }
            if channel.members.contains(&target) {
                let shown = self.clients[&target].nick().to_string();
                self.numeric(conn, "443", &[&shown, &name, "is already on channel"], out);
                return;
            }
            notify = channel.members.iter().copied().filter(|&m| m != conn && self.clients[&m].caps.invite_notify).collect();
        }
        let mut notify = notify;
        let invited = self.clients.get_mut(&target).expect("nicks index clients");
        invited.invites.retain(|(k, _, _)| k != &key);
        invited.invites.push_back((key, made, by_operator));
        if invited.invites.len() > MAX_INVITES {
            invited.invites.pop_front();
        }
        let shown = invited.nick().to_string();
        let away = invited.away.clone();
        self.numeric(conn, "341", &[&shown, &name], out);
        if let Some(away) = away {
            self.numeric(conn, "301", &[&shown, &away], out);
        }
        let line = Message::new("INVITE", &[&shown, &name]).with_source(self.clients[&conn].prefix());
        notify.push(target);
        self.broadcast(&notify, line, now, out);
    }
}
