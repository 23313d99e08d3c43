//! The sockets of one RTP session on a multicast group: RTP on the group's port and RTCP on
//! the next (RFC 3550 §11), joined on one interface. A receiving thread waits on both with mio
//! (and a waker to stop it); sending threads get blocking copies of the same sockets.

use super::multicast::{open_group_socket, MulticastError};
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
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
}

/// The sending side: copies of the same two sockets, and where they send to.
pub struct SendSockets {
    pub rtp: std::net::UdpSocket,
    pub rtcp: std::net::UdpSocket,
    pub group: SocketAddrV4,
}

fn rtcp_of(group: SocketAddrV4) -> SocketAddrV4 {
    SocketAddrV4::new(*group.ip(), group.port().wrapping_add(1))
}

/// Joins `group` (RTP) and the next port (RTCP) on `interface`, sending with `ttl`.
pub fn open(group: SocketAddrV4, interface: Ipv4Addr, ttl: u32, receive_buffer: usize) -> Result<(SessionSockets, SendSockets), MulticastError> {
    let rtp = open_group_socket(group, interface, ttl)?;
    let rtcp = open_group_socket(rtcp_of(group), interface, ttl)?;
    let _ = rtp.set_recv_buffer_size(receive_buffer);
    let _ = rtp.set_send_buffer_size(1 << 20);
    let send = SendSockets {
        rtp: rtp.try_clone().map_err(MulticastError::Socket)?.into(),
        rtcp: rtcp.try_clone().map_err(MulticastError::Socket)?.into(),
        group,
    };
    let mut rtp = UdpSocket::from_std(rtp.into());
    let mut rtcp = UdpSocket::from_std(rtcp.into());
    let poll = Poll::new().map_err(MulticastError::Socket)?;
    poll.registry().register(&mut rtp, RTP, Interest::READABLE).map_err(MulticastError::Socket)?;
    poll.registry().register(&mut rtcp, RTCP, Interest::READABLE).map_err(MulticastError::Socket)?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKE).map_err(MulticastError::Socket)?);
    let sockets = SessionSockets { rtp, rtcp, poll, events: Events::with_capacity(64), buffer: vec![0; 65536], waker };
    Ok((sockets, send))
}

impl SessionSockets {
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
                    Ok((len, from)) => datagrams.push(Datagram { token, from, bytes: self.buffer[..len].to_vec() }),
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
        Ok(SendSockets { rtp: self.rtp.try_clone()?, rtcp: self.rtcp.try_clone()?, group: self.group })
    }

    pub fn send_rtp(&self, bytes: &[u8]) -> bool {
        send(&self.rtp, bytes, self.group)
    }

    pub fn send_rtcp(&self, bytes: &[u8]) -> bool {
        send(&self.rtcp, bytes, rtcp_of(self.group))
    }
}

/// Sends one datagram, waiting a little when the socket's buffer is full (a keyframe is a burst
/// of packets). False if it failed.
fn send(socket: &std::net::UdpSocket, bytes: &[u8], to: SocketAddrV4) -> bool {
    // At most 40 ms of waiting: media that late is better dropped.
    match super::send_patiently(|| socket.send_to(bytes, SocketAddr::V4(to)), Duration::from_micros(200), 200) {
        Ok(()) => true,
        Err(e) => {
            log::debug!("send to {to}: {e}");
            false
        }
    }
}
