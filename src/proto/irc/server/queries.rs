//! Looking people and rooms up: WHO, LIST, WHOIS, WHOWAS, AWAY, INFO, ISON, USERHOST.

use super::*;

const USERHOST_TARGETS: usize = 5;

impl Server {
    pub(super) fn who(&mut self, conn: ConnId, message: &Message, out: &mut Vec<Action>) {
        let mask = message.param(0).unwrap_or("*").to_string();
        let key = fold(&mask);
        let mut rows = Vec::new();
        let all = self.clients[&conn].caps.multi_prefix;
        if let Some(channel) = self.channels.get(&key) {
            if !channel.flags.secret || channel.members.contains(&conn) {
                for member in &channel.members {
                    rows.push((channel.name.clone(), *member, channel.prefixes(*member, all)));
                }
            }
        } else if let Some(&id) = self.nicks.get(&key) {
            rows.push(("*".to_string(), id, ""));
        }
        for (channel, id, op) in rows {
            let c = &self.clients[&id];
            let here = if c.away.is_some() { 'G' } else { 'H' };
            let params = [
                channel.as_str(),
                c.user.as_deref().unwrap_or("~u"),
                &c.ip.to_string(),
                &self.config.name,
                c.nick(),
                &format!("{here}{op}"),
                &format!("0 {}", c.realname),
            ]
            .map(str::to_string);
            let refs: Vec<&str> = params.iter().map(String::as_str).collect();
            self.numeric(conn, "352", &refs, out);
        }
        self.numeric(conn, "315", &[&mask, "End of /WHO list"], out);
    }

    pub(super) fn list(&mut self, conn: ConnId, message: &Message, out: &mut Vec<Action>) {
        // Targets are channel names, masks (`*` and `?`), `!mask` to leave out, and `>N`, `<N`
        // on the number of members (ELIST=MNU).
        let (mut names, mut masks, mut not_masks) = (Vec::new(), Vec::new(), Vec::new());
        let (mut more_than, mut fewer_than) = (None, None);
        for target in message.param(0).unwrap_or("").split(',').filter(|t| !t.is_empty()).take(16) {
            if let Some(n) = target.strip_prefix('>') {
                more_than = n.parse::<usize>().ok();
            } else if let Some(n) = target.strip_prefix('<') {
                fewer_than = n.parse::<usize>().ok();
            } else if let Some(mask) = target.strip_prefix('!') {
                not_masks.push(fold(mask));
            } else if target.contains(['*', '?']) {
                masks.push(fold(target));
            } else {
                names.push(fold(target));
            }
        }
        let mut rows: Vec<(String, usize, String)> = self
            .channels
            .iter()
            .filter(|(key, c)| {
                (!c.flags.secret || c.members.contains(&conn))
                    && (names.is_empty() || names.contains(key))
                    && (masks.is_empty() || masks.iter().any(|m| mask_matches(m, key)))
                    && !not_masks.iter().any(|m| mask_matches(m, key))
                    && more_than.is_none_or(|n| c.members.len() > n)
                    && fewer_than.is_none_or(|n| c.members.len() < n)
            })
            .map(|(_, c)| (c.name.clone(), c.members.len(), c.topic.as_ref().map(|t| t.0.clone()).unwrap_or_default()))
            .collect();
        rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        self.numeric(conn, "321", &["Channel", "Users  Name"], out);
        for (name, count, topic) in rows {
            self.numeric(conn, "322", &[&name, &count.to_string(), &topic], out);
        }
        self.numeric(conn, "323", &["End of /LIST"], out);
    }

    pub(super) fn whois(&mut self, conn: ConnId, message: &Message, now: Now, out: &mut Vec<Action>) {
        // WHOIS [server] nick: the nick is the last parameter.
        let Some(nick) = message.params.last().and_then(|p| p.split(',').next()).filter(|n| !n.is_empty()) else {
            self.numeric(conn, "431", &["No nickname given"], out);
            return;
        };
        let nick = nick.to_string();
        let Some(&id) = self.nicks.get(&fold(&nick)) else {
            self.numeric(conn, "401", &[&nick, "No such nick/channel"], out);
            self.numeric(conn, "318", &[&nick, "End of /WHOIS list"], out);
            return;
        };
        let c = &self.clients[&id];
        let shown = c.nick().to_string();
        let (user, host, realname) = (c.user.clone().unwrap_or_default(), c.ip.to_string(), c.realname.clone());
        let away = c.away.clone();
        let idle = now.mono.saturating_duration_since(c.last_spoke).as_secs().to_string();
        let signon = c.signon_unix.to_string();
        let channels: Vec<String> = c
            .channels
            .iter()
            .filter_map(|k| self.channels.get(k))
            .filter(|ch| !ch.flags.secret || ch.members.contains(&conn))
            .map(|ch| format!("{}{}", ch.prefixes(id, false), ch.name))
            .collect();
        self.numeric(conn, "311", &[&shown, &user, &host, "*", &realname], out);
        for line in self.pack_words(&channels, &[&shown]) {
            self.numeric(conn, "319", &[&shown, &line], out);
        }
        let server = self.config.name.clone();
        self.numeric(conn, "312", &[&shown, &server, "lanmeet relay"], out);
        if let Some(away) = away {
            self.numeric(conn, "301", &[&shown, &away], out);
        }
        self.numeric(conn, "317", &[&shown, &idle, &signon, "seconds idle, signon time"], out);
        self.numeric(conn, "318", &[&shown, "End of /WHOIS list"], out);
    }

    pub(super) fn whowas(&mut self, conn: ConnId, message: &Message, out: &mut Vec<Action>) {
        let Some(nick) = message.param(0).filter(|n| !n.is_empty()) else {
            self.numeric(conn, "431", &["No nickname given"], out);
            return;
        };
        let wanted = message.param(1).and_then(|n| n.parse::<usize>().ok()).filter(|&n| n > 0).unwrap_or(WHOWAS_REPLIES).min(WHOWAS_REPLIES);
        let key = fold(nick);
        let rows: Vec<(String, String, String, String, i64)> = self
            .whowas
            .iter()
            .rev()
            .filter(|w| w.key == key)
            .take(wanted)
            .map(|w| (w.nick.clone(), w.user.clone(), w.host.clone(), w.realname.clone(), w.gone_unix))
            .collect();
        if rows.is_empty() {
            self.numeric(conn, "406", &[nick, "There was no such nickname"], out);
        }
        let server = self.config.name.clone();
        for (shown, user, host, realname, gone) in rows {
            self.numeric(conn, "314", &[&shown, &user, &host, "*", &realname], out);
            let when = chrono::DateTime::from_timestamp(gone, 0).map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string()).unwrap_or_default();
            self.numeric(conn, "312", &[&shown, &server, &when], out);
        }
        self.numeric(conn, "369", &[nick, "End of WHOWAS"], out);
    }

    pub(super) fn away(&mut self, conn: ConnId, message: &Message, now: Now, out: &mut Vec<Action>) {
        let text = message.param(0).filter(|t| !t.is_empty()).map(|t| t[..floor_char_boundary(t, AWAYLEN)].to_string());
        let client = self.clients.get_mut(&conn).expect("caller checked");
        let changed = client.away != text;
        client.away = text.clone();
        let prefix = client.prefix();
        match &text {
            Some(_) => self.numeric(conn, "306", &["You have been marked as being away"], out),
            None => self.numeric(conn, "305", &["You are no longer marked as being away"], out),
        }
        if changed {
            let line = match &text {
                Some(text) => Message::new("AWAY", &[text]),
                None => Message::new("AWAY", &[]),
            };
            let notified: Vec<ConnId> = self.neighbours(conn).into_iter().filter(|m| self.clients[m].caps.away_notify).collect();
            self.broadcast(&notified, line.with_source(prefix), now, out);
        }
    }

    pub(super) fn info(&mut self, conn: ConnId, out: &mut Vec<Action>) {
        for line in [
            concat!("lanmeet ", env!("CARGO_PKG_VERSION"), ": a chat relay for the local network"),
            "IRC (RFC 1459, RFC 2812) with IRCv3 capabilities, over TLS or plain TCP",
        ] {
            self.numeric(conn, "371", &[line], out);
        }
        self.numeric(conn, "374", &["End of /INFO list"], out);
    }

    /// Keep who had `nick` for WHOWAS.
    pub(super) fn remember(&mut self, nick: &str, user: String, host: String, realname: String, now: Now) {
        self.whowas.push_back(WhoWas { key: fold(nick), nick: nick.to_string(), user, host, realname, gone_unix: now.unix_millis() / 1000 });
        if self.whowas.len() > WHOWAS_KEPT {
            self.whowas.pop_front();
        }
    }

    pub(super) fn ison(&mut self, conn: ConnId, message: &Message, out: &mut Vec<Action>) {
        let online: Vec<&str> =
            message.params.iter().flat_map(|p| p.split(' ')).filter(|n| self.nicks.contains_key(&fold(n))).collect();
        self.numeric(conn, "303", &[&online.join(" ")], out);
    }

    /// At most five nicknames, as RFC 2812 says: each answer is longer than what asked for it.
    pub(super) fn userhost(&mut self, conn: ConnId, message: &Message, out: &mut Vec<Action>) {
        let replies: Vec<String> = message
            .params
            .iter()
            .take(USERHOST_TARGETS)
            .filter_map(|n| self.nicks.get(&fold(n)).and_then(|id| self.clients.get(id)))
            .map(|c| format!("{}={}{}@{}", c.nick(), if c.away.is_some() { '-' } else { '+' }, c.user.as_deref().unwrap_or("~u"), c.ip))
            .collect();
        self.numeric(conn, "302", &[&replies.join(" ")], out);
    }
}
