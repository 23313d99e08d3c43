//! Raw pictures: I420 (planar Y, then U and V at half resolution), the one format between
//! capture, codec and display; conversion to RGB for the window, and picture quality (PSNR).

/// An I420 picture with even width and height and no padding between rows.
#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Frame({}x{})", self.width, self.height)
    }
}

impl Frame {
    /// A black picture (video range: Y 16, chroma 128). Odd sizes are rounded down to even.
    pub fn black(width: usize, height: usize) -> Frame {
        let (width, height) = (width & !1, height & !1);
        let luma = width * height;
        let mut data = vec![16u8; luma + luma / 2];
        data[luma..].fill(128);
        Frame { width, height, data }
    }

    pub fn luma_len(&self) -> usize {
        self.width * self.height
    }

    pub fn y(&self) -> &[u8] {
        &self.data[..self.luma_len()]
    }

    pub fn u(&self) -> &[u8] {
        let l = self.luma_len();
        &self.data[l..l + l / 4]
    }

    pub fn v(&self) -> &[u8] {
        let l = self.luma_len();
        &self.data[l + l / 4..]
    }

    /// The three planes, writable.
    pub fn planes_mut(&mut self) -> (&mut [u8], &mut [u8], &mut [u8]) {
        let l = self.luma_len();
        let (y, chroma) = self.data.split_at_mut(l);
        let (u, v) = chroma.split_at_mut(l / 4);
        (y, u, v)
    }

    /// Packed RGB, 3 bytes a pixel, BT.601 video range (what cameras and H.264 use).
    pub fn to_rgb(&self) -> Vec<u8> {
        let (w, h) = (self.width, self.height);
        let mut out = vec![0u8; w * h * 3];
        let (y, u, v) = (self.y(), self.u(), self.v());
        for row in 0..h {
            let chroma_row = (row / 2) * (w / 2);
            let out_row = &mut out[row * w * 3..(row + 1) * w * 3];
            for col in 0..w {
                let c = (i32::from(y[row * w + col]) - 16) * 298;
                let d = i32::from(u[chroma_row + col / 2]) - 128;
                let e = i32::from(v[chroma_row + col / 2]) - 128;
                let px = &mut out_row[col * 3..col * 3 + 3];
                px[0] = ((c + 409 * e + 128) >> 8).clamp(0, 255) as u8;
                px[1] = ((c - 100 * d - 208 * e + 128) >> 8).clamp(0, 255) as u8;
                px[2] = ((c + 516 * d + 128) >> 8).clamp(0, 255) as u8;
            }
        }
        out
    }

    /// From packed RGB (3 bytes a pixel), BT.601 video range; chroma is averaged over 2x2.
    pub fn from_rgb(rgb: &[u8], width: usize, height: usize) -> Frame {
        let mut frame = Frame::black(width, height);
        let (w, h) = (frame.width, frame.height);
        let (y, u, v) = frame.planes_mut();
        let at = |row: usize, col: usize| {
            let i = (row * width + col) * 3;
            (i32::from(rgb[i]), i32::from(rgb[i + 1]), i32::from(rgb[i + 2]))
        };
        for row in 0..h {
            for col in 0..w {
                let (r, g, b) = at(row, col);
                y[row * w + col] = (((66 * r + 129 * g + 25 * b + 128) >> 8) + 16) as u8;
            }
        }
        for row in (0..h).step_by(2) {
            for col in (0..w).step_by(2) {
                let (mut r, mut g, mut b) = (0, 0, 0);
                for (dr, dc) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                    let p = at(row + dr, col + dc);
                    r += p.0;
                    g += p.1;
                    b += p.2;
                }
                let (r, g, b) = (r / 4, g / 4, b / 4);
                let i = (row / 2) * (w / 2) + col / 2;
                u[i] = (((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128).clamp(0, 255) as u8;
                v[i] = (((112 * r - 94 * g - 18 * b + 128) >> 8) + 128).clamp(0, 255) as u8;
            }
        }
        frame
    }

    /// From packed YUYV 4:2:2 (the format most webcams offer), keeping every other chroma row.
    pub fn from_yuyv(yuyv: &[u8], width: usize, height: usize, stride: usize) -> Frame {
        let mut frame = Frame::black(width, height);
        let (w, h) = (frame.width, frame.height);
        let (y, u, v) = frame.planes_mut();
        for row in 0..h {
            let line = &yuyv[row * stride..row * stride + w * 2];
            for col in 0..w {
                y[row * w + col] = line[col * 2];
            }
            if row % 2 == 0 {
                for pair in 0..w / 2 {
                    u[(row / 2) * (w / 2) + pair] = line[pair * 4 + 1];
                    v[(row / 2) * (w / 2) + pair] = line[pair * 4 + 3];
                }
            }
        }
        frame
    }
}

/// Peak signal-to-noise ratio of the luma planes in dB (infinite for identical pictures).
/// Pictures of different sizes compare as 0 dB.
pub fn psnr_y(a: &Frame, b: &Frame) -> f64 {
    if a.width != b.width || a.height != b.height {
        return 0.0;
    }
    let sum: u64 = a.y().iter().zip(b.y()).map(|(&p, &q)| u64::from(p.abs_diff(q)).pow(2)).sum();
    if sum == 0 {
        return f64::INFINITY;
    }
    let mse = sum as f64 / a.luma_len() as f64;
    10.0 * (255.0f64 * 255.0 / mse).log10()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgb_round_trip_is_close() {
        let (w, h) = (16, 8);
        // Colour constant over each 2x2 block, so that the shared chroma loses nothing.
        let rgb: Vec<u8> = (0..w * h)
            .flat_map(|i| {
                let block = (i / w / 2) * 8 + (i % w) / 2;
                [(block * 37 % 200 + 30) as u8, (block * 53 % 200 + 30) as u8, (block * 71 % 200 + 30) as u8]
            })
            .collect();
        let back = Frame::from_rgb(&rgb, w, h).to_rgb();
        for (a, b) in rgb.iter().zip(&back) {
            assert!(a.abs_diff(*b) <= 3, "{a} vs {b}");
        }
        assert_eq!(Frame::from_rgb(&[255; 12], 2, 2).y(), [235; 4]);
        assert_eq!(Frame::from_rgb(&[0; 12], 2, 2).y(), [16; 4]);
        assert_eq!(Frame::black(4, 2).to_rgb(), vec![0; 24]);
    }

    #[test]
    fn yuyv_is_split_into_planes() {
        // 4x2: Y0 U Y1 V Y2 U' Y3 V' per row.
        let row0 = [10, 100, 11, 200, 12, 101, 13, 201];
        let row1 = [20, 0, 21, 0, 22, 0, 23, 0];
        let bytes: Vec<u8> = row0.iter().chain(&row1).copied().collect();
        let frame = Frame::from_yuyv(&bytes, 4, 2, 8);
        assert_eq!(frame.y(), [10, 11, 12, 13, 20, 21, 22, 23]);
        assert_eq!(frame.u(), [100, 101]);
        assert_eq!(frame.v(), [200, 201]);
    }

    #[test]
    fn psnr_values() {
        let a = Frame::black(8, 8);
        let mut b = a.clone();
        assert!(psnr_y(&a, &b).is_infinite());
        // Every luma sample off by 1: MSE 1, PSNR 48.13 dB.
        b.planes_mut().0.fill(17);
        assert!((psnr_y(&a, &b) - 48.13).abs() < 0.01);
        assert_eq!(psnr_y(&a, &Frame::black(4, 4)), 0.0);
    }
}
