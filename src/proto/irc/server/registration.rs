//! Registration: capability negotiation, PASS, NICK, USER, and the welcome (MOTD, LUSERS).

use super::*;

impl Server {
    pub(super) fn cap(&mut self, conn: ConnId, message: &Message, now: Now, out: &mut Vec<Action>) {
        let Some(sub) = message.param(0).map(str::to_ascii_uppercase) else {
            self.numeric(conn, "461", &["CAP", "Not enough parameters"], out);
            return;
        };
        let nick = self.clients[&conn].nick().to_string();
        match sub.as_str() {
            "LS" | "LIST" => {
                let list = if sub == "LS" { self.offered_caps().join(" ") } else { self.clients[&conn].caps.names() };
                let client = self.clients.get_mut(&conn).expect("caller checked");
                if sub == "LS" && !client.registered {
                    client.negotiating_caps = true;
                }
                self.send(conn, self.server_msg("CAP", &[&nick, &sub, &list]), out);
            }
            "REQ" => {
                let request = message.param(1).unwrap_or("");
                // The answer echoes the request: one too long for a line is refused whole.
                let fits = self.server_msg("CAP", &[&nick, "ACK", request]).to_line().len() + 2 <= MAX_LINE;
                let client = self.clients.get_mut(&conn).expect("caller checked");
                if !client.registered {
                    client.negotiating_caps = true;
                }
                let mut caps = client.caps;
                let history = self.config.history;
                let all_known = request.split(' ').filter(|c| !c.is_empty()).all(|c| match c.strip_prefix('-') {
                    Some(name) => caps.set(name, false),
                    None => (history || c != "draft/chathistory") && caps.set(c, true),
                });
                let verdict = if all_known && fits {
                    client.caps = caps;
                    "ACK"
                } else {
                    "NAK"
                };
                let mut reply = self.server_msg("CAP", &[&nick, verdict, request]);
                fit_line(&mut reply);
                self.send(conn, reply, out);
            }
            "END" => {
                if let Some(client) = self.clients.get_mut(&conn) {
                    client.negotiating_caps = false;
                }
                self.try_register(conn, now, out);
            }
            _ => self.numeric(conn, "410", &[&sub, "Invalid CAP command"], out),
        }
    }

    pub(super) fn pass(&mut self, conn: ConnId, message: &Message, out: &mut Vec<Action>) {
        let client = self.clients.get_mut(&conn).expect("caller checked");
        if client.registered {
            self.numeric(conn, "462", &["You may not reregister"], out);
        } else if let Some(password) = message.param(0) {
            client.password = Some(password.to_string());
        } else {
            self.numeric(conn, "461", &["PASS", "Not enough parameters"], out);
        }
    }

    pub(super) fn nick(&mut self, conn: ConnId, message: &Message, now: Now, out: &mut Vec<Action>) {
        let Some(wanted) = message.param(0).filter(|n| !n.is_empty()) else {
            self.numeric(conn, "431", &["No nickname given"], out);
            return;
        };
        if !valid_nick(wanted) {
            self.numeric(conn, "432", &[wanted, "Erroneous nickname"], out);
            return;
        }
        let key = fold(wanted);
        if let Some(&holder) = self.nicks.get(&key) {
            if holder != conn {
                self.numeric(conn, "433", &[wanted, "Nickname is already in use"], out);
                return;
            }
        }
        // A new name must not slip past a ban (ERR_BANONCHAN), as on other servers.
        let client = &self.clients[&conn];
        if client.registered {
            let new_prefix = format!("{wanted}!{}@{}", client.user.as_deref().unwrap_or("~u"), client.ip);
            let barred = client.channels.iter().filter_map(|k| self.channels.get(k)).find(|ch| {
                !ch.is_op(conn) && !ch.is_voiced(conn) && (ch.banned(&new_prefix) || ch.banned(&client.prefix()))
            });
            if let Some(channel) = barred {
                let name = channel.name.clone();
                self.numeric(conn, "435", &[wanted, &name, "Cannot change nickname while banned on channel"], out);
                return;
            }
        }
        let client = self.clients.get_mut(&conn).expect("caller checked");
        let old = client.nick.replace(wanted.to_string());
        if let Some(old) = &old {
            self.nicks.remove(&fold(old));
        }
        self.nicks.insert(key, conn);
        if client.registered && old.as_deref().is_some_and(|o| fold(o) != fold(wanted)) {
            let (user, host, realname) = (client.user.clone().unwrap_or_default(), client.ip.to_string(), client.realname.clone());
            self.remember(old.as_deref().unwrap_or_default(), user, host, realname, now);
        }
        let client = self.clients.get_mut(&conn).expect("caller checked");
        if client.registered {
            let old = old.unwrap_or_default();
            let source = format!("{}!{}@{}", old, client.user.as_deref().unwrap_or("~u"), client.ip);
            let change = Message::new("NICK", &[wanted]).with_source(source);
            let mut recipients = self.neighbours(conn);
            recipients.push(conn);
            self.broadcast(&recipients, change, now, out);
        } else {
            self.try_register(conn, now, out);
        }
    }

    pub(super) fn user(&mut self, conn: ConnId, message: &Message, now: Now, out: &mut Vec<Action>) {
        let client = self.clients.get_mut(&conn).expect("caller checked");
        if client.registered {
            self.numeric(conn, "462", &["You may not reregister"], out);
            return;
        }
        if message.params.len() < 4 || message.params[0].is_empty() {
            self.numeric(conn, "461", &["USER", "Not enough parameters"], out);
            return;
        }
        let user: String = message.params[0].chars().filter(|c| !"@!*?".contains(*c)).take(10).collect();
        client.user = Some(format!("~{user}"));
        client.realname = message.params[3][..floor_char_boundary(&message.params[3], REALNAME_LEN)].to_string();
        self.try_register(conn, now, out);
    }

    pub(super) fn try_register(&mut self, conn: ConnId, now: Now, out: &mut Vec<Action>) {
        let Some(client) = self.clients.get_mut(&conn) else { return };
        if client.registered || client.negotiating_caps || client.nick.is_none() || client.user.is_none() {
            return;
        }
        if let Some(password) = &self.config.password {
            if client.password.as_ref() != Some(password) {
                self.numeric(conn, "464", &["Password incorrect"], out);
                self.kill(conn, "Bad password", now, out);
                return;
            }
        }
        client.registered = true;
        let prefix = client.prefix();
        let name = self.config.name.clone();
        let welcome = format!("Welcome to the {} network, {}", self.config.network, prefix);
        self.numeric(conn, "001", &[&welcome], out);
        self.numeric(conn, "002", &[&format!("Your host is {name}, running lanmeet-{}", env!("CARGO_PKG_VERSION"))], out);
        self.numeric(conn, "003", &[&format!("This server was created {}", self.created)], out);
        self.numeric(conn, "004", &[&name, concat!("lanmeet-", env!("CARGO_PKG_VERSION")), "i", "biklmnostv", "bklov"], out);
        let isupport = [
            "CASEMAPPING=ascii".to_string(),
            "CHANTYPES=#".into(),
            "CHANMODES=b,k,l,imnst".into(),
            "PREFIX=(ov)@+".into(),
            format!("MODES={MODES_PER_COMMAND}"),
            format!("MAXLIST=b:{MAX_BANS}"),
            format!("KEYLEN={}", channel::KEY_LEN),
            format!("NICKLEN={NICK_LEN}"),
            format!("CHANNELLEN={CHANNEL_LEN}"),
            "TOPICLEN=390".into(),
            format!("AWAYLEN={AWAYLEN}"),
            format!("KICKLEN={KICKLEN}"),
            format!("NETWORK={}", self.config.network),
            format!("TARGMAX=PRIVMSG:4,NOTICE:4,NAMES:{MAX_NAMES_TARGETS},KICK:4,JOIN:,PART:"),
            format!("CHANLIMIT=#:{MAX_CHANNELS_PER_CLIENT}"),
            "ELIST=MNU".into(),
            "UTF8ONLY".into(),
        ];
        let history = [format!("CHATHISTORY={}", history::MAX_LIMIT), "MSGREFTYPES=timestamp,msgid".into()];
        let isupport: Vec<String> = isupport.into_iter().chain(history.into_iter().filter(|_| self.config.history)).collect();
        // At most 13 tokens in one 005 line.
        for chunk in isupport.chunks(12) {
            let mut params: Vec<&str> = chunk.iter().map(String::as_str).collect();
            params.push("are supported by this server");
            self.numeric(conn, "005", &params, out);
        }
        self.lusers(conn, out);
        self.motd(conn, out);
    }

    /// The capabilities offered in `CAP LS`.
    pub(super) fn offered_caps(&self) -> Vec<&'static str> {
        CAPABILITIES.iter().copied().filter(|c| self.config.history || *c != "draft/chathistory").collect()
    }

    pub(super) fn motd(&mut self, conn: ConnId, out: &mut Vec<Action>) {
        if self.config.motd.is_empty() {
            self.numeric(conn, "422", &["MOTD File is missing"], out);
            return;
        }
        self.numeric(conn, "375", &[&format!("- {} Message of the day - ", self.config.name)], out);
        for line in self.config.motd.clone() {
            self.numeric(conn, "372", &[&format!("- {line}")], out);
        }
        self.numeric(conn, "376", &["End of /MOTD command."], out);
    }

    pub(super) fn lusers(&mut self, conn: ConnId, out: &mut Vec<Action>) {
        let users = self.clients.values().filter(|c| c.registered).count();
        let unknown = self.clients.len() - users;
        self.numeric(conn, "251", &[&format!("There are {users} users and 0 invisible on 1 servers")], out);
        self.numeric(conn, "252", &["0", "operator(s) online"], out);
        self.numeric(conn, "253", &[&unknown.to_string(), "unknown connection(s)"], out);
        self.numeric(conn, "254", &[&self.channels.len().to_string(), "channels formed"], out);
        self.numeric(conn, "255", &[&format!("I have {users} clients and 0 servers")], out);
    }
}
