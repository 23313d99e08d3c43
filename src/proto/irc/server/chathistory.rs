//! History: CHATHISTORY requests, and the store's answers sent as a batch.

use super::*;

impl Server {
    /// `CHATHISTORY LATEST|BEFORE|AFTER|AROUND <target> <ref> <limit>` and `BETWEEN <target>
    /// <ref> <ref> <limit>`: a channel's history, for its members, to a client that negotiated
    /// `batch` and `draft/chathistory`.
    pub(super) fn chathistory(&mut self, conn: ConnId, message: &Message, out: &mut Vec<Action>) {
        let fail = |server: &Server, code: &str, context: &[&str], text: &str, out: &mut Vec<Action>| {
            let mut params = vec!["CHATHISTORY", code];
            params.extend_from_slice(context);
            params.push(text);
            let mut reply = server.server_msg("FAIL", &params);
            fit_line(&mut reply);
            server.send(conn, reply, out);
        };
        if !self.config.history {
            self.numeric(conn, "421", &["CHATHISTORY", "Unknown command"], out);
            return;
        }
        let sub = message.param(0).unwrap_or("").to_ascii_uppercase();
        let (Some(target), Some(first)) = (message.param(1), message.param(2)) else {
            fail(self, "INVALID_PARAMS", &[&sub], "Not enough parameters", out);
            return;
        };
        let reference = |text: &str| parse_reference(text);
        let (query, limit) = match sub.as_str() {
            "LATEST" | "BEFORE" | "AFTER" | "AROUND" => {
                let (Some(r), Some(limit)) = (reference(first), message.param(3).and_then(|l| l.parse::<usize>().ok())) else {
                    fail(self, "INVALID_PARAMS", &[&sub], "Expected a reference (*, timestamp= or msgid=) and a limit", out);
                    return;
                };
                if r == Reference::Unbounded && sub != "LATEST" {
                    fail(self, "INVALID_PARAMS", &[&sub], "Only LATEST takes *", out);
                    return;
                }
                let query = match sub.as_str() {
                    "LATEST" => Query::Latest(r),
                    "BEFORE" => Query::Before(r),
                    "AFTER" => Query::After(r),
                    _ => Query::Around(r),
                };
                (query, limit)
            }
            "BETWEEN" => {
                let parsed = (reference(first), message.param(3).and_then(reference), message.param(4).and_then(|l| l.parse::<usize>().ok()));
                let (Some(a), Some(b), Some(limit)) = parsed else {
                    fail(self, "INVALID_PARAMS", &[&sub], "Expected two references and a limit", out);
                    return;
                };
                if a == Reference::Unbounded || b == Reference::Unbounded {
                    fail(self, "INVALID_PARAMS", &[&sub], "BETWEEN takes no *", out);
                    return;
                }
                (Query::Between(a, b), limit)
            }
            _ => {
                fail(self, "UNKNOWN_COMMAND", &[&sub], "Unknown subcommand", out);
                return;
            }
        };
        let caps = self.clients[&conn].caps;
        if !(caps.batch && caps.chathistory) {
            fail(self, "INVALID_PARAMS", &[&sub], "Ask for the batch and draft/chathistory capabilities first", out);
            return;
        }
        let conversation = fold(target);
        if !target.starts_with('#') || !self.channels.get(&conversation).is_some_and(|c| c.members.contains(&conn)) {
            fail(self, "INVALID_TARGET", &[&sub, target], "Only the history of a channel you are in is kept", out);
            return;
        }
        let limit = limit.clamp(1, history::MAX_LIMIT);
        out.push(Action::History(history::Request { conn, target: conversation, shown: target.to_string(), query, limit }));
    }

    /// The store's answer to a `CHATHISTORY` request: the messages as a `chathistory` batch
    /// (for a client with `batch`), each with its time and msgid where the client asked for
    /// them.
    pub fn history(&mut self, reply: history::Reply) -> Vec<Action> {
        let mut out = Vec::new();
        let Some(client) = self.clients.get(&reply.conn) else { return out };
        let caps = client.caps;
        self.next_batch += 1;
        let batch = format!("h{}", self.next_batch);
        if caps.batch {
            self.send(reply.conn, self.server_msg("BATCH", &[&format!("+{batch}"), "chathistory", &reply.shown]), &mut out);
        }
        for stored in reply.messages {
            let Ok(mut message) = Message::parse(&stored.line) else { continue };
            if !caps.message_tags {
                message.tags.clear();
            } else {
                message.tags.insert(0, ("msgid".into(), Some(stored.msgid)));
            }
            if caps.server_time {
                message.tags.insert(0, ("time".into(), Some(format_server_time(stored.unix_ms))));
            }
            if caps.batch {
                message.tags.insert(0, ("batch".into(), Some(batch.clone())));
            }
            self.send(reply.conn, message, &mut out);
        }
        if caps.batch {
            self.send(reply.conn, self.server_msg("BATCH", &[&format!("-{batch}")]), &mut out);
        }
        // Under flood control the answer is paid for as other long replies are.
        if self.config.flood.is_some() {
            let bytes: usize = out.iter().map(|a| if let Action::Send(_, b) = a { b.len() } else { 0 }).sum();
            if let Some(client) = self.clients.get_mut(&reply.conn) {
                client.tokens -= (bytes / REPLY_BYTES_PER_TOKEN) as f64;
            }
        }
        out
    }
}
