//! Checksums of downloaded files: MD5 (RFC 1321) or SHA-256 (FIPS 180-4) against the published value, or, where
//! none is published, trust on first use: the first complete download's SHA-256 is written to `<file>.sha256` and
//! every later download of that file must match it. A mismatch moves the file to `<file>.bad` and is an error that
//! names both paths and both hashes.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use md5::Md5;
use sha2::{Digest, Sha256};

use super::registry::Checksum;
use crate::error::ChecksumMismatch;
use crate::{Error, Result};

/// Hex digest of a file with the algorithm `"md5"` or `"sha256"`.
pub fn hash_file(path: &Path, algorithm: &str) -> Result<String> {
    fn run<D: Digest>(path: &Path) -> Result<String> {
        let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
        let mut digest = D::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut buf).map_err(|e| Error::io(path, e))?;
            if n == 0 {
                break;
            }
            digest.update(&buf[..n]);
        }
        Ok(digest.finalize().iter().map(|b| format!("{b:02x}")).collect())
    }
    match algorithm {
        "md5" => run::<Md5>(path),
        "sha256" => run::<Sha256>(path),
        other => Err(Error::Config(format!("unknown checksum algorithm `{other}`"))),
    }
}

/// `<file>.bad`, where a file that failed its check is kept.
pub fn bad_path(path: &Path) -> PathBuf {
    with_suffix(path, ".bad")
}

/// `<file>.sha256`, the trust-on-first-use record.
pub fn sidecar_path(path: &Path) -> PathBuf {
    with_suffix(path, ".sha256")
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// Checks a downloaded file. `origin` (its URL) goes into the messages. Returns one line for the user.
pub fn verify_download(path: &Path, expected: Option<&Checksum>, origin: &str) -> Result<String> {
    let name = path.file_name().unwrap_or_default().to_string_lossy().to_string();
    match expected {
        Some(checksum) => {
            let actual = hash_file(path, checksum.algorithm())?;
            if actual != checksum.hex() {
                return Err(keep_aside(path, origin, checksum.algorithm(), checksum.hex(), &actual));
            }
            Ok(format!(
                "{name}: {} {actual} matches the published checksum",
                checksum.algorithm()
            ))
        }
        None => {
            let actual = hash_file(path, "sha256")?;
            let sidecar = sidecar_path(path);
            match std::fs::read_to_string(&sidecar) {
                Ok(recorded) => {
                    let recorded = recorded.split_whitespace().next().unwrap_or("").to_ascii_lowercase();
                    if recorded != actual {
                        let algorithm = format!("sha256 (recorded at the first download in {})", sidecar.display());
                        return Err(keep_aside(path, origin, &algorithm, &recorded, &actual));
                    }
                    Ok(format!(
                        "{name}: sha256 {actual} matches the one recorded at the first download ({})",
                        sidecar.display()
                    ))
                }
                Err(_) => {
                    std::fs::write(&sidecar, format!("{actual}  {name}\n")).map_err(|e| Error::io(&sidecar, e))?;
                    Ok(format!(
                        "{name}: no published checksum; recorded sha256 {actual} in {} (trust on first use: later \
                         downloads must match it)",
                        sidecar.display()
                    ))
                }
            }
        }
    }
}

/// Checks a user's file (`--from`) against a published checksum without moving it.
pub fn verify_user_file(path: &Path, checksum: &Checksum) -> Result<String> {
    let actual = hash_file(path, checksum.algorithm())?;
    if actual != checksum.hex() {
        return Err(Error::bad_input(
            path,
            format!(
                "{} {actual} differs from the published {}; not imported (a different release or a damaged copy)",
                checksum.algorithm(),
                checksum.hex()
            ),
        ));
    }
    Ok(format!(
        "{}: {} matches the published checksum",
        path.display(),
        checksum.algorithm()
    ))
}

fn keep_aside(path: &Path, origin: &str, algorithm: &str, expected: &str, actual: &str) -> Error {
    let kept = bad_path(path);
    if let Err(e) = std::fs::rename(path, &kept) {
        return Error::io(&kept, e);
    }
    Error::Checksum(Box::new(ChecksumMismatch {
        path: path.to_path_buf(),
        source_name: origin.to_string(),
        algorithm: algorithm.to_string(),
        expected: expected.to_string(),
        actual: actual.to_string(),
        kept,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc");
        std::fs::write(&path, b"abc").unwrap();
        assert_eq!(hash_file(&path, "md5").unwrap(), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            hash_file(&path, "sha256").unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn trust_on_first_use_records_then_rejects_other_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.tar.gz");
        std::fs::write(&path, b"first").unwrap();
        let line = verify_download(&path, None, "http://h/x").unwrap();
        assert!(
            line.contains("recorded sha256") && sidecar_path(&path).is_file(),
            "{line}"
        );
        assert!(verify_download(&path, None, "http://h/x")
            .unwrap()
            .contains("matches the one recorded"));
        std::fs::write(&path, b"second").unwrap();
        let err = verify_download(&path, None, "http://h/x").unwrap_err().to_string();
        assert!(err.contains("x.tar.gz.bad") && err.contains("http://h/x"), "{err}");
        assert!(!path.exists() && bad_path(&path).is_file());
    }
}
