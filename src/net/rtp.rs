//! The sockets of one RTP session on a multicast group: RTP on the group's port and RTCP on
//! the next (RFC 3550 §11), joined on one interface. A receiving thread waits on both with mio
//! (and a waker to stop it); sending threads get blocking copies of the same sockets.

use super::multicast::{open_group_socket, MulticastError};
use super::srtp::{Srtp, SrtpError, SrtpKey, MAX_TRAILER};
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const RTP: Token = Token(0);
pub const RTCP: Token = Token(1);
const WAKE: Token = Token(2);

/// The receiving side: both sockets registered with one poll.
pub struct SessionSockets {
    rtp: UdpSocket,
    rtcp: UdpSocket,
    poll: Poll,
    events: Events,
    buffer: Vec<u8>,
    /// Wakes `receive` early (to stop the thread).
    pub waker: Arc<Waker>,
    /// SRTP: what arrives is opened with the conference's key (None: plain RTP).
    srtp: Option<Srtp>,
    /// Packets that did not open (another key, or altered) and replays, dropped.
    pub unopened: u64,
    pub replayed: u64,
    /// Our own source: its packets, looped back by multicast, are dropped unopened.
    own_ssrc: Option<u32>,
}

/// The sending side: copies of the same two sockets, and where they send to.
pub struct SendSockets {
    pub rtp: std::net::UdpSocket,
    pub rtcp: std::net::UdpSocket,
    pub group: SocketAddrV4,
    /// SRTP for what we send, shared by every copy: one sending context per SSRC, so that no
    /// packet index is ever used twice under the key.
    srtp: Option<Arc<Mutex<Srtp>>>,
}

fn rtcp_of(group: SocketAddrV4) -> SocketAddrV4 {
    SocketAddrV4::new(*group.ip(), group.port().wrapping_add(1))
}

/// Joins `group` (RTP) and the next port (RTCP) on `interface`, sending with `ttl`; with
/// `key`, everything sent and received is SRTP and SRTCP.
pub fn open(group: SocketAddrV4, interface: Ipv4Addr, ttl: u32, receive_buffer: usize, key: Option<&SrtpKey>) -> Result<(SessionSockets, SendSockets), MulticastError> {
    let srtp_error = |e: String| MulticastError::Socket(io::Error::other(e));
    let (srtp_in, srtp_out) = match key {
        Some(key) => (Some(Srtp::inbound(key).map_err(srtp_error)?), Some(Arc::new(Mutex::new(Srtp::outbound(key).map_err(srtp_error)?)))),
        None => (None, None),
    };
    let rtp = open_group_socket(group, interface, ttl)?;
    let rtcp = open_group_socket(rtcp_of(group), interface, ttl)?;
    let _ = rtp.set_recv_buffer_size(receive_buffer);
    let _ = rtp.set_send_buffer_size(1 << 20);
    let send = SendSockets {
        rtp: rtp.try_clone().map_err(MulticastError::Socket)?.into(),
        rtcp: rtcp.try_clone().map_err(MulticastError::Socket)?.into(),
        group,
        srtp: srtp_out,
    };
    let mut rtp = UdpSocket::from_std(rtp.into());
    let mut rtcp = UdpSocket::from_std(rtcp.into());
    let poll = Poll::new().map_err(MulticastError::Socket)?;
    poll.registry().register(&mut rtp, RTP, Interest::READABLE).map_err(MulticastError::Socket)?;
    poll.registry().register(&mut rtcp, RTCP, Interest::READABLE).map_err(MulticastError::Socket)?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKE).map_err(MulticastError::Socket)?);
    let sockets = SessionSockets { rtp, rtcp, poll, events: Events::with_capacity(64), buffer: vec![0; 65536], waker, srtp: srtp_in, unopened: 0, replayed: 0, own_ssrc: None };
    Ok((sockets, send))
}

impl SessionSockets {
    /// Drop our own packets (RTP and RTCP of `ssrc`) as they arrive, before any decryption:
    /// the session would drop them anyway.
    pub fn set_own_ssrc(&mut self, ssrc: u32) {
        self.own_ssrc = Some(ssrc);
    }


    /// Waits up to `timeout` for datagrams and returns all that arrived, with the socket
    /// (`RTP` or `RTCP`) each came on and where it came from. Empty on timeout or wake-up.
    pub fn receive(&mut self, timeout: Duration) -> io::Result<Vec<Datagram>> {
        if let Err(e) = self.poll.poll(&mut self.events, Some(timeout)) {
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        let mut datagrams = Vec::new();
        for token in self.events.iter().map(|e| e.token()) {
            let socket = match token {
                RTP => &self.rtp,
                RTCP => &self.rtcp,
                _ => continue,
            };
            loop {
                match socket.recv_from(&mut self.buffer) {
                    Ok((len, from)) => {
                        // The sender's SSRC is in the clear: bytes 8-11 of RTP, 4-7 of RTCP.
                        let at = if token == RTP { 8 } else { 4 };
                        let ssrc = self.buffer.get(at..at + 4).filter(|_| len >= at + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                        if ssrc.is_some() && ssrc == self.own_ssrc {
                            continue;
                        }
                        let mut bytes = self.buffer[..len].to_vec();
                        if let Some(srtp) = &mut self.srtp {
                            let opened = if token == RTP { srtp.unprotect_rtp(&mut bytes) } else { srtp.unprotect_rtcp(&mut bytes) };
                            match opened {
                                Ok(()) => {}
                                Err(SrtpError::Replay) => {
                                    self.replayed += 1;
                                    continue;
                                }
                                Err(_) => {
                                    self.unopened += 1;
                                    continue;
                                }
                            }
                        }
                        datagrams.push(Datagram { token, from, bytes });
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        log::debug!("receive: {e}");
                        break;
                    }
                }
            }
        }
        Ok(datagrams)
    }
}

/// One datagram as it arrived.
pub struct Datagram {
    /// `RTP` or `RTCP`: the socket it came on.
    pub token: Token,
    pub from: SocketAddr,
    pub bytes: Vec<u8>,
}

/// What an RTP session does with what arrives. `from` lets a session tie a source to the
/// address it first came from, so that another host cannot speak (or say goodbye) for it.
pub trait RtpSession {
    fn on_rtp(&mut self, bytes: &[u8], from: SocketAddr);
    fn on_rtcp(&mut self, bytes: &[u8], from: SocketAddr);
}

/// Hands each datagram that `SessionSockets::receive` returned to `session`.
pub fn dispatch(datagrams: Vec<Datagram>, session: &mut impl RtpSession) {
    for datagram in datagrams {
        if datagram.token == RTP {
            session.on_rtp(&datagram.bytes, datagram.from);
        } else {
            session.on_rtcp(&datagram.bytes, datagram.from);
        }
    }
}

impl SendSockets {
    pub fn try_clone(&self) -> io::Result<SendSockets> {
        Ok(SendSockets { rtp: self.rtp.try_clone()?, rtcp: self.rtcp.try_clone()?, group: self.group, srtp: self.srtp.clone() })
    }

    /// Whether what goes out is SRTP.
    pub fn encrypted(&self) -> bool {
        self.srtp.is_some()
    }

    pub fn send_rtp(&self, bytes: &[u8]) -> bool {
        match self.protect(bytes, false) {
            Some(packet) => send(&self.rtp, &packet, self.group),
            None => send(&self.rtp, bytes, self.group),
        }
    }

    pub fn send_rtcp(&self, bytes: &[u8]) -> bool {
        match self.protect(bytes, true) {
            Some(packet) => send(&self.rtcp, &packet, rtcp_of(self.group)),
            None => send(&self.rtcp, bytes, rtcp_of(self.group)),
        }
    }

    /// The packet protected, or None when the session is plain RTP. A packet that cannot be
    /// protected is sent as nothing (an empty datagram is never sent: see `send`).
    fn protect(&self, bytes: &[u8], rtcp: bool) -> Option<Vec<u8>> {
        let srtp = self.srtp.as_ref()?;
        let mut packet = Vec::with_capacity(bytes.len() + MAX_TRAILER);
        packet.extend_from_slice(bytes);
        let mut srtp = srtp.lock().unwrap_or_else(|e| e.into_inner());
        let done = if rtcp { srtp.protect_rtcp(&mut packet) } else { srtp.protect_rtp(&mut packet) };
        if let Err(e) = done {
            log::warn!("cannot protect a packet: {e:?}");
            packet.clear();
        }
        Some(packet)
    }
}

/// Sends one datagram, waiting a little when the socket's buffer is full (a keyframe is a burst
/// of packets). False if it failed.
fn send(socket: &std::net::UdpSocket, bytes: &[u8], to: SocketAddrV4) -> bool {
    if bytes.is_empty() {
        return false;
    }
    // At most 40 ms of waiting: media that late is better dropped.
    match super::send_patiently(|| socket.send_to(bytes, SocketAddr::V4(to)), Duration::from_micros(200), 200) {
        Ok(()) => true,
        Err(e) => {
            log::debug!("send to {to}: {e}");
            false
        }
    }
}
