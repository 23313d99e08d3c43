//! Channel modes: MODE for rooms (+o +v +m +n +t +k +l +i +s +b) and for oneself.

use super::*;

impl Server {
    pub(super) fn mode(&mut self, conn: ConnId, message: &Message, now: Now, out: &mut Vec<Action>) {
        let Some(target) = message.param(0) else {
            self.numeric(conn, "461", &["MODE", "Not enough parameters"], out);
            return;
        };
        let key = fold(target);
        if !target.starts_with('#') {
            if self.nicks.get(&key) == Some(&conn) {
                self.numeric(conn, "221", &["+i"], out);
            } else {
                self.numeric(conn, "502", &["Can't change mode for other users"], out);
            }
            return;
        }
        let Some(channel) = self.channels.get(&key) else {
            self.numeric(conn, "403", &[target, "No such channel"], out);
            return;
        };
        let name = channel.name.clone();
        if channel.flags.secret && !channel.members.contains(&conn) {
            self.numeric(conn, "403", &[target, "No such channel"], out);
            return;
        }
        let Some(changes) = message.param(1) else {
            let mut params = vec![name.clone()];
            params.extend(channel.mode_string(channel.members.contains(&conn)));
            let refs: Vec<&str> = params.iter().map(String::as_str).collect();
            self.numeric(conn, "324", &refs, out);
            self.numeric(conn, "329", &[&name, &channel.created_unix.to_string()], out);
            return;
        };
        let is_op = channel.is_op(conn);
        let setter = self.clients[&conn].nick().to_string();
        let mut args = message.params.iter().skip(2).map(String::as_str);
        let mut adding = true;
        let mut with_parameter = 0;
        let mut listed_bans = false;
        let mut refused = false;
        // What changed, as the MODE line to the channel will say it.
        let mut applied: Vec<(bool, char, Option<String>)> = Vec::new();
        let mut replies: Vec<(&str, Vec<String>)> = Vec::new();
        for letter in changes.chars() {
            let channel = self.channels.get_mut(&key).expect("looked up above");
            match letter {
                '+' => adding = true,
                '-' => adding = false,
                'b' | 'o' | 'v' | 'k' | 'l' if with_parameter == MODES_PER_COMMAND => break,
                'b' => {
                    let Some(mask) = args.next() else {
                        if !listed_bans {
                            listed_bans = true;
                            for ban in &channel.bans {
                                replies.push(("367", vec![name.clone(), ban.mask.clone(), ban.setter.clone(), ban.set_unix.to_string()]));
                            }
                            replies.push(("368", vec![name.clone(), "End of channel ban list".into()]));
                        }
                        continue;
                    };
                    with_parameter += 1;
                    if !is_op {
                        refused = true;
                        continue;
                    }
                    let Some(mask) = normalize_mask(mask) else {
                        replies.push(("696", vec![name.clone(), "b".into(), mask.into(), "Invalid ban mask".into()]));
                        continue;
                    };
                    let present = channel.bans.iter().position(|b| b.mask == mask);
                    match (adding, present) {
                        (true, None) if channel.bans.len() >= MAX_BANS => {
                            replies.push(("478", vec![name.clone(), "b".into(), "Channel ban list is full".into()]));
                        }
                        (true, None) => {
                            channel.bans.push(Ban { mask: mask.clone(), setter: setter.clone(), set_unix: now.unix_millis() / 1000 });
                            applied.push((true, 'b', Some(mask)));
                        }
                        (false, Some(at)) => {
                            channel.bans.remove(at);
                            applied.push((false, 'b', Some(mask)));
                        }
                        _ => {}
                    }
                }
                'o' | 'v' => {
                    let Some(nick) = args.next() else { continue };
                    with_parameter += 1;
                    if !is_op {
                        refused = true;
                        continue;
                    }
                    let Some(&member) = self.nicks.get(&fold(nick)) else {
                        replies.push(("401", vec![nick.into(), "No such nick/channel".into()]));
                        continue;
                    };
                    if !channel.members.contains(&member) {
                        replies.push(("441", vec![nick.into(), name.clone(), "They aren't on that channel".into()]));
                        continue;
                    }
                    let list = if letter == 'o' { &mut channel.operators } else { &mut channel.voiced };
                    let has = list.contains(&member);
                    if adding && !has {
                        list.push(member);
                    } else if !adding && has {
                        list.retain(|&m| m != member);
                    } else {
                        continue;
                    }
                    applied.push((adding, letter, Some(self.clients[&member].nick().to_string())));
                }
                'k' => {
                    let given = args.next();
                    if adding && given.is_none() {
                        continue;
                    }
                    with_parameter += 1;
                    if !is_op {
                        refused = true;
                        continue;
                    }
                    if adding {
                        let given = given.expect("checked above");
                        if !valid_key(given) {
                            replies.push(("525", vec![name.clone(), "Key is not well-formed".into()]));
                            continue;
                        }
                        channel.key = Some(given.to_string());
                        applied.push((true, 'k', Some(given.to_string())));
                    } else if channel.key.take().is_some() {
                        applied.push((false, 'k', Some("*".into())));
                    }
                }
                'l' => {
                    if !is_op {
                        refused = true;
                        continue;
                    }
                    if adding {
                        let Some(given) = args.next() else { continue };
                        with_parameter += 1;
                        match given.parse::<usize>() {
                            Ok(limit) if (1..=channel::MAX_LIMIT).contains(&limit) => {
                                channel.limit = Some(limit);
                                applied.push((true, 'l', Some(limit.to_string())));
                            }
                            _ => replies.push(("696", vec![name.clone(), "l".into(), given.into(), "The limit must be a number from 1 to 100000".into()])),
                        }
                    } else if channel.limit.take().is_some() {
                        applied.push((false, 'l', None));
                    }
                }
                letter => match channel.flags.get_mut(letter) {
                    Some(_) if !is_op => refused = true,
                    Some(flag) => {
                        if *flag != adding {
                            *flag = adding;
                            applied.push((adding, letter, None));
                        }
                    }
                    None => replies.push(("472", vec![letter.to_string(), "is unknown mode char to me".into()])),
                },
            }
        }
        if refused {
            replies.push(("482", vec![name.clone(), "You're not channel operator".into()]));
        }
        for (code, params) in replies {
            let refs: Vec<&str> = params.iter().map(String::as_str).collect();
            self.numeric(conn, code, &refs, out);
        }
        if applied.is_empty() {
            return;
        }
        let prefix = self.clients[&conn].prefix();
        let members = self.channels[&key].members.clone();
        // Six ban masks fill more than a line: as many changes to a MODE line as fit.
        let budget = MAX_LINE - 2 - prefix.len() - " MODE  :".len() - name.len() - 2;
        let mut groups: Vec<Vec<(bool, char, Option<String>)>> = vec![Vec::new()];
        let mut used = 0;
        for change in applied {
            let cost = 2 + change.2.as_ref().map_or(0, |v| v.len() + 1);
            if used + cost > budget && !groups.last().is_some_and(Vec::is_empty) {
                groups.push(Vec::new());
                used = 0;
            }
            used += cost;
            groups.last_mut().expect("one group at least").push(change);
        }
        for group in groups {
            let mut letters = String::new();
            let mut sign = None;
            let mut params = vec![name.clone()];
            let mut values = Vec::new();
            for (adding, letter, value) in group {
                if sign != Some(adding) {
                    letters.push(if adding { '+' } else { '-' });
                    sign = Some(adding);
                }
                letters.push(letter);
                values.extend(value);
            }
            params.push(letters);
            params.extend(values);
            let refs: Vec<&str> = params.iter().map(String::as_str).collect();
            self.broadcast(&members, Message::new("MODE", &refs).with_source(prefix.clone()), now, out);
        }
    }
}
