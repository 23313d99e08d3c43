//! RTP (RFC 3550) for the conference: the packet header and the H.264 payload format
//! (RFC 6184), sans-IO. Loss, duplicates and reordering are handled here, not in the socket
//! code.

pub mod h264;
pub mod packet;
