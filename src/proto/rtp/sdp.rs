//! The SDP description (RFC 8866) of a conference, so that a player that knows nothing of
//! lanmeet (ffplay, VLC, GStreamer) can receive its video: H.264 per RFC 6184, packetization
//! mode 1, on the multicast group.

use std::net::Ipv4Addr;

/// What a receiver needs to know to join the conference's video.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Session name shown by players.
    pub name: String,
    /// The address the description comes from (the `o=` line).
    pub origin: Ipv4Addr,
    pub group: Ipv4Addr,
    pub ttl: u32,
    /// RTP port of the video; RTCP is on the next port (RFC 3550 §11).
    pub video_port: u16,
    /// RTP port of the audio (Opus, RFC 7587), if the conference has audio.
    pub audio_port: Option<u16>,
    pub payload_type: u8,
    /// SRTP (RFC 3711) with this master key and salt, base64 as SDES gives it (RFC 4568):
    /// the media are `RTP/SAVP` with an `a=crypto` line. None: plain `RTP/AVP`.
    pub crypto: Option<String>,
    /// An id for the `o=` line; a new one for each description.
    pub session_id: u64,
    /// The H.264 sequence and picture parameter sets (without start codes), so that a player
    /// decodes from the first slice (RFC 6184 `sprop-parameter-sets`); the profile and level
    /// come from the SPS too.
    pub parameter_sets: Option<(Vec<u8>, Vec<u8>)>,
}

/// H.264 constrained baseline, level 3.1: what the encoder produces at every offered size.
pub const PROFILE_LEVEL_ID: &str = "42e01f";
/// Dynamic payload type of Opus.
const OPUS: u8 = 111;

/// The `a=fmtp` parameters of the video: the profile and level the SPS says (else the
/// default), and the parameter sets when they are known.
fn video_format(parameter_sets: &Option<(Vec<u8>, Vec<u8>)>) -> String {
    use base64::Engine;
    match parameter_sets {
        Some((sps, pps)) if sps.len() >= 4 => {
            let b64 = |unit: &[u8]| base64::engine::general_purpose::STANDARD.encode(unit);
            format!(
                "packetization-mode=1;profile-level-id={:02x}{:02x}{:02x};sprop-parameter-sets={},{}",
                sps[1],
                sps[2],
                sps[3],
                b64(sps),
                b64(pps)
            )
        }
        _ => format!("packetization-mode=1;profile-level-id={PROFILE_LEVEL_ID}"),
    }
}

pub fn describe(session: &Session) -> String {
    let (profile, crypto) = match &session.crypto {
        // Only base64 reaches the line: nothing a caller passes can add a line of its own.
        Some(key) => ("RTP/SAVP", format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{}\r\n", key.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=')).collect::<String>())),
        None => ("RTP/AVP", String::new()),
    };
    let name: String = session.name.chars().filter(|c| !c.is_control()).collect();
    let name = if name.trim().is_empty() { "lanmeet conference".to_string() } else { name };
    format!(
        "v=0\r\n\
         o=- {id} {id} IN IP4 {origin}\r\n\
         s={name}\r\n\
         c=IN IP4 {group}/{ttl}\r\n\
         t=0 0\r\n\
         a=tool:lanmeet\r\n\
         a=recvonly\r\n\
         m=video {port} {profile} {pt}\r\n\
         a=rtpmap:{pt} H264/90000\r\n\
         a=fmtp:{pt} {format}\r\n{crypto}{audio}",
        id = session.session_id,
        origin = session.origin,
        group = session.group,
        ttl = session.ttl,
        port = session.video_port,
        pt = session.payload_type,
        format = video_format(&session.parameter_sets),
        audio = session.audio_port.map_or(String::new(), |port| format!(
            "m=audio {port} {profile} {OPUS}\r\na=rtpmap:{OPUS} opus/48000/2\r\na=fmtp:{OPUS} useinbandfec=1;stereo=0\r\n{crypto}"
        )),
        profile = profile,
        crypto = crypto,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(name: &str, crypto: Option<&str>) -> Session {
        Session {
            name: name.into(),
            origin: Ipv4Addr::LOCALHOST,
            group: Ipv4Addr::new(239, 0, 0, 222),
            ttl: 1,
            video_port: 23334,
            audio_port: Some(23336),
            payload_type: 96,
            crypto: crypto.map(String::from),
            session_id: 42,
            parameter_sets: None,
        }
    }

    #[test]
    fn the_parameter_sets_and_the_profile_come_from_the_encoder() {
        let mut with_sets = session("x", None);
        with_sets.parameter_sets = Some((vec![0x67, 0x42, 0xc0, 0x1e, 0xda], vec![0x68, 0xce, 0x3c, 0x80]));
        let text = describe(&with_sets);
        assert!(text.contains("a=fmtp:96 packetization-mode=1;profile-level-id=42c01e;sprop-parameter-sets=Z0LAHto=,aM48gA==\r\n"), "{text}");
    }

    #[test]
    fn description_has_every_line_a_player_needs() {
        let text = describe(&session("周会\n", None));
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(
            lines,
            [
                "v=0",
                "o=- 42 42 IN IP4 127.0.0.1",
                "s=周会",
                "c=IN IP4 239.0.0.222/1",
                "t=0 0",
                "a=tool:lanmeet",
                "a=recvonly",
                "m=video 23334 RTP/AVP 96",
                "a=rtpmap:96 H264/90000",
                "a=fmtp:96 packetization-mode=1;profile-level-id=42e01f",
                "m=audio 23336 RTP/AVP 111",
                "a=rtpmap:111 opus/48000/2",
                "a=fmtp:111 useinbandfec=1;stereo=0",
                "",
            ]
        );
    }

    #[test]
    fn an_encrypted_call_is_savp_with_its_key_on_each_medium() {
        let text = describe(&session("x", Some("QUJD+/=\r\na=evil")));
        assert!(text.contains("m=video 23334 RTP/SAVP 96\r\n"), "{text}");
        assert!(text.contains("m=audio 23336 RTP/SAVP 111\r\n"), "{text}");
        assert_eq!(text.matches("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:QUJD+/=a=evil\r\n").count(), 2, "{text}");
    }

    #[test]
    fn empty_name_gets_a_default() {
        let mut session = session(" ", None);
        assert!(describe(&session).contains("\r\ns=lanmeet conference\r\n"));
        session.name = "x".into();
        assert!(describe(&session).contains("\r\ns=x\r\n"));
    }
}
