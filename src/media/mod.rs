//! Media: pictures and their conversions, the synthetic camera, the v4l camera, and the video
//! codecs. No sockets here; `app::conference` wires capture, codec and network together.

pub mod camera;
pub mod codec;
pub mod frame;
pub mod pattern;
