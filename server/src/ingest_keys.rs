//! Ingest keys: per-environment credentials that can do one thing, report
//! counts (`POST /api/metrics`). In `DIR/ingest-keys.json`, only SHA-256 hashes;
//! a key is shown once, when it is made. Changes from the server and from the
//! CLI happen under a cross-process lock and re-read the file inside it (as
//! `users.rs` does); the server re-reads the file when it changes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use evaluator::digest::hex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::util::{now_rfc3339, random_hex, write_atomic};

pub const KEYS_FILE: &str = "ingest-keys.json";
const LOCK_FILE: &str = ".lock-ingest-keys";
/// What every ingest key starts with, so it is told apart from a user's token.
pub const PREFIX: &str = "sgi_";

pub use stagegate_api::IngestKeyInfo;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredKey {
    #[serde(flatten)]
    info: IngestKeyInfo,
    key_sha256: String,
}

#[derive(Default, Serialize, Deserialize)]
struct KeysFile {
    keys: Vec<StoredKey>,
}

#[derive(Default)]
struct Loaded {
    stamp: Option<(SystemTime, u64)>,
    keys: Arc<Vec<IngestKeyInfo>>,
    /// Hash of a key → its environment.
    by_hash: HashMap<String, String>,
}

pub struct IngestKeys {
    dir: PathBuf,
    loaded: RwLock<Loaded>,
}

#[derive(Debug)]
pub enum KeyError {
    BadField(&'static str, String),
    Missing(String),
    Io(anyhow::Error),
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyError::BadField(_, message) => f.write_str(message),
            KeyError::Missing(id) => write!(f, "ingest key '{id}' does not exist"),
            KeyError::Io(error) => write!(f, "{error:#}"),
        }
    }
}

impl std::error::Error for KeyError {}

impl IngestKeys {
    pub fn open(dir: &Path) -> anyhow::Result<IngestKeys> {
        let keys = IngestKeys {
            dir: dir.to_path_buf(),
            loaded: RwLock::default(),
        };
        keys.reload()?;
        Ok(keys)
    }

    /// Every key (no secrets), as last loaded.
    pub fn list(&self) -> Arc<Vec<IngestKeyInfo>> {
        self.read().keys.clone()
    }

    /// The environment `key` reports for, if it is a key nobody revoked. The
    /// lookup is by the key's hash, so it leaks nothing of other keys' text.
    pub fn environment(&self, key: &str) -> Option<String> {
        let hash = hex(&Sha256::digest(key.as_bytes()));
        self.read().by_hash.get(&hash).cloned()
    }

    /// Makes a key for `environment`; returns its record and the key itself.
    pub fn create(
        &self,
        environment: &str,
        name: &str,
        by: &str,
    ) -> Result<(IngestKeyInfo, String), KeyError> {
        check("environment", environment)?;
        if name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(KeyError::BadField(
                "name",
                "name must be at most 100 characters, none of them control characters".into(),
            ));
        }
        let io = |error: std::io::Error| KeyError::Io(error.into());
        let key = format!("{PREFIX}{}", random_hex(32).map_err(io)?);
        let info = IngestKeyInfo {
            id: random_hex(6).map_err(io)?,
            environment: environment.into(),
            name: name.into(),
            created: now_rfc3339(),
            created_by: by.into(),
        };
        let stored = StoredKey {
            info: info.clone(),
            key_sha256: hex(&Sha256::digest(key.as_bytes())),
        };
        self.change(|file| {
            file.keys.push(stored);
            Ok(())
        })?;
        Ok((info, key))
    }

    /// Revokes a key: it stops working at once in this process, and within a
    /// re-read in others.
    pub fn revoke(&self, id: &str) -> Result<IngestKeyInfo, KeyError> {
        let mut revoked = None;
        self.change(|file| {
            let at = file
                .keys
                .iter()
                .position(|k| k.info.id == id)
                .ok_or_else(|| KeyError::Missing(id.into()))?;
            revoked = Some(file.keys.remove(at).info);
            Ok(())
        })?;
        revoked.ok_or_else(|| KeyError::Missing(id.into()))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Loaded> {
        self.loaded
            .read()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Re-reads the file if it changed on disk; returns whether it did.
    pub fn reload(&self) -> anyhow::Result<bool> {
        let path = self.dir.join(KEYS_FILE);
        let stamp = crate::util::file_stamp(&path);
        if stamp.is_some() && self.read().stamp == stamp {
            return Ok(false);
        }
        let file = self.read_file()?;
        let by_hash = file
            .keys
            .iter()
            .map(|k| (k.key_sha256.clone(), k.info.environment.clone()))
            .collect();
        let keys = Arc::new(file.keys.into_iter().map(|k| k.info).collect());
        *self
            .loaded
            .write()
            .unwrap_or_else(|poison| poison.into_inner()) = Loaded {
            stamp,
            keys,
            by_hash,
        };
        Ok(true)
    }

    fn read_file(&self) -> anyhow::Result<KeysFile> {
        crate::util::read_json_or_default(&self.dir.join(KEYS_FILE))
    }

    fn change(
        &self,
        edit: impl FnOnce(&mut KeysFile) -> Result<(), KeyError>,
    ) -> Result<(), KeyError> {
        let io = |error: std::io::Error| KeyError::Io(error.into());
        let lock = crate::util::lock_file(&self.dir, LOCK_FILE).map_err(io)?;
        let mut file = self.read_file().map_err(KeyError::Io)?;
        edit(&mut file)?;
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| KeyError::Io(e.into()))?;
        write_atomic(&self.dir, KEYS_FILE, &bytes).map_err(io)?;
        // Always re-read: a write within the file system's timestamp resolution
        // may leave the stamp as it was.
        self.loaded
            .write()
            .unwrap_or_else(|poison| poison.into_inner())
            .stamp = None;
        self.reload().map_err(KeyError::Io)?;
        drop(lock); // closing the file releases the lock
        Ok(())
    }
}

fn check(field: &'static str, value: &str) -> Result<(), KeyError> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(KeyError::BadField(
            field,
            format!("{field} '{value}' must be 1–64 letters, digits, '-', '_' or '.'"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stored_hashed_name_their_environment_and_stop_when_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let keys = IngestKeys::open(dir.path()).unwrap();
        let (info, key) = keys.create("production", "web app", "admin").unwrap();
        assert!(key.starts_with(PREFIX) && key.len() == PREFIX.len() + 64);
        let stored = std::fs::read_to_string(dir.path().join(KEYS_FILE)).unwrap();
        assert!(!stored.contains(&key));
        assert_eq!(keys.environment(&key).as_deref(), Some("production"));
        assert_eq!(keys.environment("sgi_not-a-key"), None);
        // Another process (the CLI) sees it, and its revocation reaches us.
        let other = IngestKeys::open(dir.path()).unwrap();
        assert_eq!(other.environment(&key).as_deref(), Some("production"));
        other.revoke(&info.id).unwrap();
        keys.reload().unwrap();
        assert_eq!(keys.environment(&key), None);
        assert!(matches!(keys.revoke(&info.id), Err(KeyError::Missing(_))));
        assert!(matches!(
            keys.create("prod uction", "", "admin"),
            Err(KeyError::BadField("environment", _))
        ));
    }
}
