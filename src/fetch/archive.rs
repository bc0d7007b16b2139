//! Archive extraction for downloads and `--from` imports: zip (PKWARE APPNOTE, stored and deflate), tar (POSIX
//! ustar/GNU) plain, gzip-compressed (RFC 1952) or Zstandard-compressed (RFC 8878). Entries that would land outside
//! the destination (absolute paths, `..`) are refused. Also: the "content root" of an extracted tree (wrapping
//! folders such as EuroSAT's `2750/` removed) and a merge of several extracted trees into one folder.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Component, Path, PathBuf};

use crate::progress::Progress;
use crate::{Error, Result};

/// What a file is, by name, else by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Zip,
    Tar,
    TarGz,
    TarZst,
    /// Not an archive: copied as is.
    Plain,
}

impl Kind {
    pub fn of(path: &Path) -> Kind {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        if name.ends_with(".zip") {
            Kind::Zip
        } else if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
            Kind::TarGz
        } else if name.ends_with(".tar.zst") || name.ends_with(".tzst") {
            Kind::TarZst
        } else if name.ends_with(".tar") {
            Kind::Tar
        } else {
            Kind::sniff(path).unwrap_or(Kind::Plain)
        }
    }

    /// By magic numbers: zip `PK\x03\x04`, gzip `1f 8b`, zstd `28 b5 2f fd`, tar `ustar` at offset 257.
    fn sniff(path: &Path) -> Option<Kind> {
        let mut head = [0u8; 262];
        let mut file = File::open(path).ok()?;
        let mut n = 0;
        while n < head.len() {
            match file.read(&mut head[n..]) {
                Ok(0) | Err(_) => break,
                Ok(k) => n += k,
            }
        }
        let head = &head[..n];
        if head.starts_with(b"PK\x03\x04") {
            Some(Kind::Zip)
        } else if head.starts_with(&[0x1f, 0x8b]) {
            Some(Kind::TarGz)
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Kind::TarZst)
        } else if head.len() >= 262 && &head[257..262] == b"ustar" {
            Some(Kind::Tar)
        } else {
            None
        }
    }

    pub fn is_archive(self) -> bool {
        self != Kind::Plain
    }
}

/// Extracts `archive` into `dest` (created), or copies it there when it is not an archive. Returns the number of
/// files written. Progress counts compressed bytes read (zip: entries).
pub fn extract(archive: &Path, dest: &Path, quiet: bool) -> Result<u64> {
    std::fs::create_dir_all(dest).map_err(|e| Error::io(dest, e))?;
    let name = archive.file_name().unwrap_or_default().to_string_lossy().to_string();
    match Kind::of(archive) {
        Kind::Zip => extract_zip(archive, dest, &name, quiet),
        Kind::Plain => {
            let target = dest.join(&name);
            std::fs::copy(archive, &target).map_err(|e| Error::io(&target, e))?;
            Ok(1)
        }
        kind => {
            let len = std::fs::metadata(archive).map_err(|e| Error::io(archive, e))?.len();
            let progress = Progress::bytes(len, &format!("extract {name}"), quiet);
            let file = File::open(archive).map_err(|e| Error::io(archive, e))?;
            let counted = Counted {
                inner: BufReader::with_capacity(1 << 20, file),
                progress: &progress,
            };
            let reader: Box<dyn Read + '_> = match kind {
                Kind::Tar => Box::new(counted),
                Kind::TarGz => Box::new(flate2::read::MultiGzDecoder::new(counted)),
                Kind::TarZst => Box::new(
                    zstd::stream::read::Decoder::new(counted)
                        .map_err(|e| Error::bad_input(archive, format!("not a zstd stream: {e}")))?,
                ),
                Kind::Zip | Kind::Plain => unreachable!("handled above"),
            };
            let n = extract_tar(reader, archive, dest)?;
            progress.finish();
            Ok(n)
        }
    }
}

struct Counted<'a, R> {
    inner: R,
    progress: &'a Progress,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.inc(n as u64);
        Ok(n)
    }
}

fn extract_tar(reader: impl Read, archive: &Path, dest: &Path) -> Result<u64> {
    let bad = |e: io::Error| Error::bad_input(archive, format!("broken tar archive: {e}"));
    let mut tar = tar::Archive::new(reader);
    tar.set_preserve_permissions(false);
    tar.set_overwrite(true);
    let mut n = 0;
    for entry in tar.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let path = entry.path().map_err(bad)?.into_owned();
        if !is_safe(&path) {
            return Err(Error::bad_input(
                archive,
                format!("entry `{}` would be written outside the destination", path.display()),
            ));
        }
        // unpack_in also refuses paths that escape `dest`; it returns false for those.
        let is_file = entry.header().entry_type().is_file();
        if !entry.unpack_in(dest).map_err(bad)? {
            return Err(Error::bad_input(
                archive,
                format!("entry `{}` escapes the destination", path.display()),
            ));
        }
        n += u64::from(is_file);
    }
    Ok(n)
}

fn extract_zip(archive: &Path, dest: &Path, name: &str, quiet: bool) -> Result<u64> {
    let bad = |reason: String| Error::bad_input(archive, reason);
    let file = File::open(archive).map_err(|e| Error::io(archive, e))?;
    let mut zip = zip::ZipArchive::new(BufReader::new(file)).map_err(|e| bad(format!("broken zip archive: {e}")))?;
    let progress = Progress::new(zip.len() as u64, &format!("extract {name}"), "entries", quiet);
    let mut n = 0;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| bad(format!("broken zip entry {i}: {e}")))?;
        let Some(relative) = entry.enclosed_name().map(Path::to_path_buf).filter(|p| is_safe(p)) else {
            return Err(bad(format!(
                "entry `{}` would be written outside the destination",
                entry.name()
            )));
        };
        let target = dest.join(relative);
        if entry.is_dir() {
            std::fs::create_dir_all(&target).map_err(|e| Error::io(&target, e))?;
        } else {
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            }
            let mut out = File::create(&target).map_err(|e| Error::io(&target, e))?;
            io::copy(&mut entry, &mut out).map_err(|e| bad(format!("entry `{}`: {e}", entry.name())))?;
            n += 1;
        }
        progress.inc(1);
    }
    progress.finish();
    Ok(n)
}

/// Relative, no `..`, no root or prefix.
fn is_safe(path: &Path) -> bool {
    path.components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

/// Entries that are packaging noise, not data.
fn is_noise(name: &str) -> bool {
    matches!(name, "__MACOSX" | ".DS_Store" | "Thumbs.db")
}

/// The folder holding the data: `dir`, or the single folder inside it, repeatedly (EuroSAT's `2750/`, the
/// MS archive's `ds/images/remote_sensing/otherDatasets/sentinel_2/tif/`, `clean_10k_geography/`), but never into a
/// folder for which `keep` is true (one that belongs to the layout, such as LEVIR-CD's `train/`).
pub fn content_root(dir: &Path, keep: impl Fn(&Path) -> bool) -> Result<PathBuf> {
    let mut root = dir.to_path_buf();
    loop {
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(&root).map_err(|e| Error::io(&root, e))? {
            let entry = entry.map_err(|e| Error::io(&root, e))?;
            if !is_noise(&entry.file_name().to_string_lossy()) {
                entries.push(entry.path());
            }
        }
        match entries.as_slice() {
            [only] if only.is_dir() && !keep(only) => root = only.clone(),
            _ => return Ok(root),
        }
    }
}

/// Moves the content of `from` into `into` (created), merging folders that exist on both sides; a file present on
/// both sides is replaced. Packaging noise is dropped. Returns the number of files moved.
pub fn merge_into(from: &Path, into: &Path) -> Result<u64> {
    std::fs::create_dir_all(into).map_err(|e| Error::io(into, e))?;
    let mut n = 0;
    for entry in std::fs::read_dir(from).map_err(|e| Error::io(from, e))? {
        let entry = entry.map_err(|e| Error::io(from, e))?;
        let name = entry.file_name();
        if is_noise(&name.to_string_lossy()) {
            continue;
        }
        let (source, target) = (entry.path(), into.join(&name));
        if source.is_dir() && target.is_dir() {
            n += merge_into(&source, &target)?;
        } else {
            if target.is_dir() {
                std::fs::remove_dir_all(&target).map_err(|e| Error::io(&target, e))?;
            }
            let files = if source.is_dir() { count_files(&source) } else { 1 };
            std::fs::rename(&source, &target).map_err(|e| Error::io(&target, e))?;
            n += files;
        }
    }
    Ok(n)
}

/// Copies the tree `from` into `into`, hard-linking files where the file system allows (a large `--from` folder
/// then costs no space), copying otherwise. Returns the number of files.
pub fn link_or_copy_tree(from: &Path, into: &Path) -> Result<u64> {
    std::fs::create_dir_all(into).map_err(|e| Error::io(into, e))?;
    let mut n = 0;
    for entry in std::fs::read_dir(from).map_err(|e| Error::io(from, e))? {
        let entry = entry.map_err(|e| Error::io(from, e))?;
        let (source, target) = (entry.path(), into.join(entry.file_name()));
        if source.is_dir() {
            n += link_or_copy_tree(&source, &target)?;
        } else {
            if std::fs::hard_link(&source, &target).is_err() {
                std::fs::copy(&source, &target).map_err(|e| Error::io(&target, e))?;
            }
            n += 1;
        }
    }
    Ok(n)
}

fn count_files(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .map(|p| if p.is_dir() { count_files(&p) } else { 1 })
                .sum()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn tar_bytes(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, data) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, path, *data).unwrap();
        }
        builder.into_inner().unwrap()
    }

    #[test]
    fn extracts_tar_gz_and_tar_zst_by_name_and_by_magic() {
        let dir = tempfile::tempdir().unwrap();
        let tar = tar_bytes(&[("top/a/x.txt", b"x"), ("top/b.txt", b"bb")]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::stream::encode_all(tar.as_slice(), 1).unwrap();
        for (name, bytes, kind) in [
            ("a.tar.gz", &gz, Kind::TarGz),
            ("a.tar.zst", &zst, Kind::TarZst),
            ("a.tar", &tar, Kind::Tar),
            ("noext-gz", &gz, Kind::TarGz),
            ("noext-zst", &zst, Kind::TarZst),
            ("noext-tar", &tar, Kind::Tar),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            assert_eq!(Kind::of(&path), kind, "{name}");
            let out = dir.path().join(format!("out-{name}"));
            assert_eq!(extract(&path, &out, true).unwrap(), 2, "{name}");
            assert_eq!(std::fs::read(out.join("top/b.txt")).unwrap(), b"bb");
            assert_eq!(content_root(&out, |_| false).unwrap(), out.join("top"));
        }
    }

    #[test]
    fn refuses_entries_outside_the_destination() {
        let dir = tempfile::tempdir().unwrap();
        // tar::Builder refuses `..`, so write the name into the header by hand.
        let mut header = tar::Header::new_gnu();
        header.as_gnu_mut().unwrap().name[..9].copy_from_slice(b"../evil.t");
        header.set_size(1);
        header.set_mode(0o644);
        header.set_cksum();
        let mut builder = tar::Builder::new(Vec::new());
        builder.append(&header, &b"e"[..]).unwrap();
        let path = dir.path().join("evil.tar");
        std::fs::write(&path, builder.into_inner().unwrap()).unwrap();
        let err = extract(&path, &dir.path().join("out"), true).unwrap_err().to_string();
        assert!(
            err.contains("outside the destination") && err.contains("evil.tar"),
            "{err}"
        );
        assert!(!dir.path().join("evil.t").exists());
    }

    #[test]
    fn merges_trees_and_finds_the_content_root() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, into) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("into"));
        for (path, text) in [
            (a.join("paris/imgs_1/B01.tif"), "1"),
            (b.join("paris/cm/cm.png"), "cm"),
            (b.join("train.txt"), "paris"),
            (a.join("__MACOSX/junk"), "j"),
        ] {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        assert_eq!(merge_into(&a, &into).unwrap(), 1);
        assert_eq!(merge_into(&b, &into).unwrap(), 2);
        assert!(into.join("paris/imgs_1/B01.tif").is_file() && into.join("paris/cm/cm.png").is_file());
        assert!(!into.join("__MACOSX").exists());
        assert_eq!(content_root(&into, |_| false).unwrap(), into);
        let nested = dir.path().join("x/only/inner");
        std::fs::create_dir_all(nested.join("c1")).unwrap();
        std::fs::write(nested.join("f.txt"), "f").unwrap();
        std::fs::create_dir_all(dir.path().join("x/__MACOSX")).unwrap();
        assert_eq!(content_root(&dir.path().join("x"), |_| false).unwrap(), nested);
        // A folder that belongs to the layout is not descended into.
        let keep_inner = |p: &Path| p.ends_with("inner");
        assert_eq!(
            content_root(&dir.path().join("x"), keep_inner).unwrap(),
            dir.path().join("x/only")
        );
    }
}
