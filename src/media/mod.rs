//! Media: pictures and their conversions, the synthetic camera, the v4l camera, the video
//! codecs, and Opus audio with the synthetic voice. No sockets here; `app::conference` wires
//! capture, codec and network together.

pub mod audio;
pub mod camera;
pub mod codec;
pub mod echo;
pub mod frame;
pub mod pattern;
pub mod sound;
