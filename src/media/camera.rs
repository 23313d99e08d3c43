//! Cameras through Video4Linux2: YUYV or MJPEG, whichever the device offers, converted to I420
//! once, here. A device that stops answering (unplugged) is an error the caller turns into
//! "camera lost"; the call goes on without it.

use super::frame::Frame;
use std::io;
use std::path::Path;
use std::time::Duration;
use thiserror::Error;
use v4l::buffer::Type;
use v4l::io::mmap::Stream;
use v4l::io::traits::CaptureStream;
use v4l::video::Capture;
use v4l::{Device, FourCC};

#[derive(Debug, Error)]
pub enum CameraError {
    #[error("cannot open camera {path}: {source}")]
    Open { path: String, source: io::Error },
    #[error("{0} is not a video capture device")]
    NotCapture(String),
    #[error("camera {path} offers neither YUYV nor MJPEG (it offers {offered})")]
    NoFormat { path: String, offered: String },
    #[error("camera lost: {0}")]
    Lost(io::Error),
    #[error("camera sent a picture that cannot be read: {0}")]
    BadPicture(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pixels {
    Yuyv,
    Mjpeg,
}

pub struct Camera {
    // The stream holds the device's handle; the device is kept for its lifetime.
    _device: Device,
    stream: Stream<'static>,
    pixels: Pixels,
    width: usize,
    height: usize,
    stride: usize,
    pub path: String,
}

/// Capture devices present now, as (path, name).
pub fn list() -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = v4l::context::enum_devices()
        .into_iter()
        .filter_map(|node| {
            let path = node.path().to_string_lossy().into_owned();
            let device = Device::with_path(node.path()).ok()?;
            let caps = device.query_caps().ok()?;
            caps.capabilities
                .contains(v4l::capability::Flags::VIDEO_CAPTURE)
                .then(|| (path, node.name().unwrap_or_else(|| caps.card.clone())))
        })
        .collect();
    found.sort();
    found
}

impl Camera {
    /// Opens `path` near `width` x `height` (the device may pick another size; the picture
    /// keeps the size the device gives).
    pub fn open(path: &str, width: u32, height: u32) -> Result<Camera, CameraError> {
        let open_error = |source| CameraError::Open { path: path.to_string(), source };
        let device = Device::with_path(Path::new(path)).map_err(open_error)?;
        let caps = device.query_caps().map_err(open_error)?;
        if !caps.capabilities.contains(v4l::capability::Flags::VIDEO_CAPTURE) {
            return Err(CameraError::NotCapture(path.to_string()));
        }
        let offered: Vec<FourCC> = device.enum_formats().map_err(open_error)?.into_iter().map(|d| d.fourcc).collect();
        let yuyv = FourCC::new(b"YUYV");
        let mjpeg = FourCC::new(b"MJPG");
        let (fourcc, pixels) = if offered.contains(&yuyv) {
            (yuyv, Pixels::Yuyv)
        } else if offered.contains(&mjpeg) {
            (mjpeg, Pixels::Mjpeg)
        } else {
            let offered = offered.iter().map(|f| f.to_string()).collect::<Vec<_>>().join(", ");
            return Err(CameraError::NoFormat { path: path.to_string(), offered });
        };
        let mut format = device.format().map_err(open_error)?;
        format.width = width;
        format.height = height;
        format.fourcc = fourcc;
        let format = device.set_format(&format).map_err(open_error)?;
        let mut stream = Stream::with_buffers(&device, Type::VideoCapture, 4).map_err(open_error)?;
        stream.set_timeout(Duration::from_secs(2));
        let stride = if format.stride == 0 { format.width as usize * 2 } else { format.stride as usize };
        Ok(Camera {
            _device: device,
            stream,
            pixels,
            width: format.width as usize,
            height: format.height as usize,
            stride,
            path: path.to_string(),
        })
    }

    /// The next picture; waits for the device (at most two seconds).
    pub fn capture(&mut self) -> Result<Frame, CameraError> {
        let (buffer, meta) = self.stream.next().map_err(CameraError::Lost)?;
        let used = (meta.bytesused as usize).min(buffer.len());
        let bytes = &buffer[..if used == 0 { buffer.len() } else { used }];
        match self.pixels {
            Pixels::Yuyv => {
                if bytes.len() < self.stride * self.height {
                    return Err(CameraError::BadPicture(format!("{} bytes for a {}x{} picture", bytes.len(), self.width, self.height)));
                }
                Ok(Frame::from_yuyv(bytes, self.width, self.height, self.stride))
            }
            Pixels::Mjpeg => decode_jpeg(bytes),
        }
    }
}

/// A JPEG picture (what MJPEG cameras send) as I420.
pub fn decode_jpeg(bytes: &[u8]) -> Result<Frame, CameraError> {
    let mut decoder = jpeg_decoder::Decoder::new(bytes);
    let pixels = decoder.decode().map_err(|e| CameraError::BadPicture(e.to_string()))?;
    let info = decoder.info().ok_or_else(|| CameraError::BadPicture("no picture header".into()))?;
    let (w, h) = (usize::from(info.width), usize::from(info.height));
    match info.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 => Ok(Frame::from_rgb(&pixels, w, h)),
        jpeg_decoder::PixelFormat::L8 => {
            let rgb: Vec<u8> = pixels.iter().flat_map(|&l| [l, l, l]).collect();
            Ok(Frame::from_rgb(&rgb, w, h))
        }
        other => Err(CameraError::BadPicture(format!("unsupported JPEG pixel format {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_device_is_a_clear_error() {
        let error = Camera::open("/dev/video-lanmeet-absent", 640, 480).err().expect("no such device");
        let text = error.to_string();
        assert!(text.starts_with("cannot open camera /dev/video-lanmeet-absent:"), "{text}");
    }

    #[test]
    fn not_a_camera() {
        match Camera::open("/dev/null", 640, 480) {
            Err(CameraError::Open { .. }) | Err(CameraError::NotCapture(_)) => {}
            Err(other) => panic!("{other}"),
            Ok(_) => panic!("/dev/null opened as a camera"),
        }
    }

    #[test]
    fn garbage_jpeg_is_an_error() {
        assert!(matches!(decode_jpeg(b"\xff\xd8 not really"), Err(CameraError::BadPicture(_))));
    }
}
