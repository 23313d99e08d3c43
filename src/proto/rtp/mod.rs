//! RTP (RFC 3550) for the conference: the packet header, the H.264 payload format (RFC 6184),
//! RTCP reports and feedback, and the SDP description, sans-IO. Loss, duplicates and
//! reordering are handled here, not in the socket code.

pub mod h264;
pub mod jitter;
pub mod packet;
pub mod rtcp;
pub mod sdp;
pub mod session;
