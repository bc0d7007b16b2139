//! The work cache of `reproduce-table`: every unit of work (a pre-training run, an evaluation) is keyed by a hash
//! of its fully resolved config, so a re-run skips what is finished, resumes what is not, and recomputes what
//! changed. `--force` redoes everything.

use std::cell::Cell;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::eval::features::stable_hash;
use crate::{Error, Result};

/// Cached results, one TOML file per key.
#[derive(Debug)]
pub struct WorkCache {
    dir: PathBuf,
    force: bool,
    hits: Cell<usize>,
    misses: Cell<usize>,
}

/// The revision of the methods' and protocols' semantics (METHODS.md). It enters every key, so that results
/// computed under earlier rules are recomputed rather than reused; bump it whenever a change alters what a
/// config computes without changing the config's text.
pub const SEMANTICS: &str = "methods.md 2026-12-03";

/// `<kind>-<16 hex digits of the hash of the semantics revision and the description>`.
pub fn key(kind: &str, description: &str) -> String {
    format!("{kind}-{:016x}", stable_hash(&format!("{SEMANTICS}\n{description}")))
}

impl WorkCache {
    pub fn new(dir: impl Into<PathBuf>, force: bool) -> Self {
        WorkCache {
            dir: dir.into(),
            force,
            hits: Cell::new(0),
            misses: Cell::new(0),
        }
    }

    pub fn force(&self) -> bool {
        self.force
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.toml"))
    }

    /// The stored result of `key`, unless forced, absent, or unreadable (then it is recomputed).
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        let found = if self.force {
            None
        } else {
            std::fs::read_to_string(self.path(key))
                .ok()
                .and_then(|text| toml::from_str(&text).ok())
        };
        match found {
            Some(_) => self.hits.set(self.hits.get() + 1),
            None => self.misses.set(self.misses.get() + 1),
        }
        found
    }

    /// Stores `value` under `key` (atomically: a killed run never leaves a half-written result).
    pub fn put<T: Serialize>(&self, key: &str, value: &T) -> Result<()> {
        let path = self.path(key);
        let text = toml::to_string(value).map_err(|e| Error::Report(format!("{key} does not serialise: {e}")))?;
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        let tmp = path.with_extension("toml.tmp");
        std::fs::write(&tmp, text).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))
    }

    /// `get`, else `compute` and `put`.
    pub fn get_or<T: Serialize + DeserializeOwned>(&self, key: &str, compute: impl FnOnce() -> Result<T>) -> Result<T> {
        if let Some(found) = self.get(key) {
            return Ok(found);
        }
        let value = compute()?;
        self.put(key, &value)?;
        Ok(value)
    }

    /// (hits, misses) so far.
    pub fn counts(&self) -> (usize, usize) {
        (self.hits.get(), self.misses.get())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Identity of a weights file for cache keys: path, size and modification time.
pub fn file_identity(path: &Path) -> Result<String> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    Ok(format!("{}:{}:{:?}", path.display(), meta.len(), meta.modified().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Score {
        value: f64,
    }

    #[test]
    fn hit_after_put_miss_on_change_and_force() {
        let dir = tempfile::tempdir().unwrap();
        let cache = WorkCache::new(dir.path(), false);
        let k1 = key("eval", "config A");
        assert_ne!(k1, key("eval", "config B"));
        assert_eq!(k1, key("eval", "config A"));
        let mut computed = 0;
        let v: Score = cache
            .get_or(&k1, || {
                computed += 1;
                Ok(Score { value: 1.5 })
            })
            .unwrap();
        let again: Score = cache
            .get_or(&k1, || {
                computed += 1;
                Ok(Score { value: 9.0 })
            })
            .unwrap();
        assert_eq!((v.value, again.value, computed), (1.5, 1.5, 1));
        assert_eq!(cache.counts(), (1, 1));
        // Another config misses.
        assert!(cache.get::<Score>(&key("eval", "config B")).is_none());
        // A forced cache recomputes even what is stored.
        let forced = WorkCache::new(dir.path(), true);
        assert!(forced.get::<Score>(&k1).is_none());
        // A corrupt entry is a miss, not an error.
        std::fs::write(dir.path().join(format!("{k1}.toml")), "not = [toml").unwrap();
        assert!(cache.get::<Score>(&k1).is_none());
    }
}
