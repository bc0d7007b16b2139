//! Image files shared by the readers and the fake-data writers: 8-bit RGB PNG/JPEG and 0/255 (or 0/1) change masks read
//! into band-major [`Image`]s / [`Mask`]s, and RGB PNG, grey PNG, JPEG and (with the `gdal` feature) GeoTIFF
//! writers. Every error names the file.

use std::path::Path;

use super::dense::Mask;
use super::Image;
use crate::{Error, Result};

fn decode(path: &Path) -> Result<image::DynamicImage> {
    image::ImageReader::open(path)
        .map_err(|e| Error::io(path, e))?
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))?
        .decode()
        .map_err(|e| Error::bad_input(path, format!("cannot decode image: {e}")))
}

/// Reads an 8-bit RGB PNG or JPEG into a band-major image (0-255). Palette PNGs are expanded; other band counts
/// (grey, RGBA) are an error naming the file.
pub fn load_rgb(path: &Path) -> Result<Image> {
    let decoded = decode(path)?;
    let n_bands = decoded.color().channel_count() as usize;
    if n_bands != 3 {
        return Err(Error::bad_input(
            path,
            format!(
                "expected 3 bands (RGB), found {n_bands} ({}); save the image as 8-bit RGB",
                match n_bands {
                    1 => "grey",
                    2 => "grey with alpha",
                    4 => "RGBA",
                    _ => "an unusual colour type",
                }
            ),
        ));
    }
    let rgb = decoded.into_rgb8();
    Ok(Image {
        n_bands: 3,
        height: rgb.height() as usize,
        width: rgb.width() as usize,
        data: super::eurosat::interleaved_to_planar(rgb.as_raw(), 3),
    })
}

/// Reads a change mask (grey, or RGB with equal channels) as 0/1: 0 = no change and 255 = change (LEVIR-CD), or,
/// when the file holds no value but 0 and 1, 1 = change. Anything else (a colour, a grey level, 1 next to 255) is
/// an error naming the file, the values found, where the first odd one occurs and how many pixels have it.
pub fn load_binary_mask(path: &Path) -> Result<Mask> {
    let decoded = decode(path)?;
    let rgb = decoded.to_rgb8();
    let (width, height) = (rgb.width() as usize, rgb.height() as usize);
    let mut grey = Vec::with_capacity(width * height);
    let mut colour: Option<(usize, [u8; 3])> = None;
    let mut counts = [0usize; 256];
    for (px, p) in rgb.pixels().enumerate() {
        let [r, g, b] = p.0;
        if r != g || g != b {
            colour.get_or_insert((px, p.0));
        }
        counts[r as usize] += 1;
        grey.push(r);
    }
    let place = |px: usize| format!("row {}, column {}", px / width, px % width);
    if let Some((px, [r, g, b])) = colour {
        return Err(Error::bad_input(
            path,
            format!(
                "change mask must be grey (0/255 or 0/1), found the colour RGB ({r}, {g}, {b}) at {}",
                place(px)
            ),
        ));
    }
    let present: Vec<usize> = (0..256).filter(|&v| counts[v] > 0).collect();
    let change = if present.iter().all(|&v| v == 0 || v == 255) {
        255
    } else if present.iter().all(|&v| v <= 1) {
        1
    } else {
        let odd = present.iter().copied().find(|&v| v != 0 && v != 255).unwrap_or(0);
        let first = grey.iter().position(|&v| v as usize == odd).unwrap_or(0);
        let shown: Vec<String> = present.iter().take(8).map(|v| v.to_string()).collect();
        let more = if present.len() > 8 {
            format!(" and {} more", present.len() - 8)
        } else {
            String::new()
        };
        return Err(Error::bad_input(
            path,
            format!(
                "change mask values must be 0/255 or 0/1; found {}{more}: {odd} first at {} ({} such pixels)",
                shown.join(", "),
                place(first),
                counts[odd]
            ),
        ));
    };
    let data = grey.iter().map(|&v| u8::from(v == change)).collect();
    Ok(Mask { height, width, data })
}

/// Writes a band-major 3-band image (0-255) as an RGB PNG.
pub fn write_rgb_png(path: &Path, image: &Image) -> Result<()> {
    let n = image.height * image.width;
    let mut raw = vec![0u8; 3 * n];
    for b in 0..3 {
        for (px, &v) in image.band(b).iter().enumerate() {
            raw[3 * px + b] = v.clamp(0.0, 255.0).round() as u8;
        }
    }
    image::RgbImage::from_raw(image.width as u32, image.height as u32, raw)
        .ok_or_else(|| Error::bad_input(path, "image buffer of the wrong size"))?
        .save(path)
        .map_err(|e| Error::bad_input(path, format!("cannot write PNG: {e}")))
}

/// Writes a 0/1 mask as a 0/255 grey PNG.
pub fn write_binary_mask(path: &Path, mask: &Mask) -> Result<()> {
    let raw: Vec<u8> = mask.data.iter().map(|&v| if v != 0 { 255 } else { 0 }).collect();
    image::GrayImage::from_raw(mask.width as u32, mask.height as u32, raw)
        .ok_or_else(|| Error::bad_input(path, "mask buffer of the wrong size"))?
        .save(path)
        .map_err(|e| Error::bad_input(path, format!("cannot write PNG: {e}")))
}

/// Writes a 1- or 3-band image (values 0-255) as a JPEG of quality 95.
pub fn write_jpeg(path: &Path, image: &Image) -> Result<()> {
    let n = image.height * image.width;
    let mut raw = vec![0u8; n * image.n_bands];
    for b in 0..image.n_bands {
        for (px, &v) in image.band(b).iter().enumerate() {
            raw[px * image.n_bands + b] = v.clamp(0.0, 255.0).round() as u8;
        }
    }
    let color = match image.n_bands {
        1 => image::ExtendedColorType::L8,
        3 => image::ExtendedColorType::Rgb8,
        n => return Err(Error::bad_input(path, format!("cannot write a {n}-band JPEG"))),
    };
    let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    let mut encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(std::io::BufWriter::new(file), 95);
    encoder
        .encode(&raw, image.width as u32, image.height as u32, color)
        .map_err(|e| Error::bad_input(path, format!("JPEG encoding failed: {e}")))
}

/// Writes a uint16 GeoTIFF (UTM-like 10 m geotransform) with one band per image band.
pub fn write_geotiff_u16(path: &Path, image: &Image) -> Result<()> {
    write_geotiff(path, image, |v| v.clamp(0.0, 65535.0).round() as u16)
}

/// Writes a uint8 GeoTIFF (SeCo stores its bands as uint8) with one band per image band.
pub fn write_geotiff_u8(path: &Path, image: &Image) -> Result<()> {
    write_geotiff(path, image, |v| v.clamp(0.0, 255.0).round() as u8)
}

#[cfg(feature = "gdal")]
fn write_geotiff<T: gdal::raster::GdalType + Copy>(path: &Path, image: &Image, convert: fn(f32) -> T) -> Result<()> {
    let gdal_err = |e: gdal::errors::GdalError| Error::bad_input(path, format!("GDAL: {e}"));
    let driver = gdal::DriverManager::get_driver_by_name("GTiff").map_err(gdal_err)?;
    let mut dataset = driver
        .create_with_band_type::<T, _>(path, image.width, image.height, image.n_bands)
        .map_err(gdal_err)?;
    dataset
        .set_geo_transform(&[500_000.0, 10.0, 0.0, 5_000_000.0, 0.0, -10.0])
        .map_err(gdal_err)?;
    for b in 0..image.n_bands {
        let values: Vec<T> = image.band(b).iter().map(|&v| convert(v)).collect();
        let mut buffer = gdal::raster::Buffer::new((image.width, image.height), values);
        let mut band = dataset.rasterband(b + 1).map_err(gdal_err)?;
        band.write((0, 0), (image.width, image.height), &mut buffer)
            .map_err(gdal_err)?;
    }
    Ok(())
}

#[cfg(not(feature = "gdal"))]
fn write_geotiff<T>(path: &Path, _image: &Image, _convert: fn(f32) -> T) -> Result<()> {
    Err(Error::bad_input(path, "GeoTIFF writing needs caco's `gdal` feature"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err_text<T: std::fmt::Debug>(r: Result<T>) -> String {
        r.expect_err("expected an error").to_string()
    }

    #[test]
    fn mask_values_are_0_255_or_0_1_and_others_are_refused_with_values_and_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test_001.png");
        // 0/1 reads as 0/1.
        let mut grey = image::GrayImage::new(27, 21);
        grey.put_pixel(5, 2, image::Luma([1]));
        grey.put_pixel(6, 2, image::Luma([1]));
        grey.save(&path).unwrap();
        let mask = load_binary_mask(&path).unwrap();
        assert_eq!(mask.data.iter().filter(|&&v| v == 1).count(), 2);
        assert_eq!(mask.data[2 * 27 + 5], 1);
        // 1 next to 255 is neither coding.
        grey.put_pixel(0, 0, image::Luma([255]));
        grey.save(&path).unwrap();
        let msg = err_text(load_binary_mask(&path));
        assert!(
            msg.contains("test_001.png")
                && msg.contains("values must be 0/255 or 0/1; found 0, 1, 255")
                && msg.contains("1 first at row 2, column 5 (2 such pixels)"),
            "{msg}"
        );
        let mut rgb = image::RgbImage::new(4, 4);
        rgb.put_pixel(3, 2, image::Rgb([255, 0, 0]));
        rgb.save(&path).unwrap();
        let msg = err_text(load_binary_mask(&path));
        assert!(msg.contains("RGB (255, 0, 0) at row 2, column 3"), "{msg}");
        // An RGB mask with equal channels is fine.
        let mut rgb = image::RgbImage::new(2, 1);
        rgb.put_pixel(1, 0, image::Rgb([255, 255, 255]));
        rgb.save(&path).unwrap();
        assert_eq!(load_binary_mask(&path).unwrap().data, vec![0, 1]);
    }
}
