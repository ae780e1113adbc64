//! The apps' keys, per environment, each able to do one thing: ingest keys
//! report counts (`POST /api/metrics`), SDK keys evaluate over OFREP
//! (`/ofrep/v1/…`). One implementation, two files (`DIR/ingest-keys.json`,
//! `DIR/sdk-keys.json`), only SHA-256 hashes in them; a key is shown once, when
//! it is made. A revoked key's hash stays, so it can be told apart from one
//! that never existed. Changes from the server and from the CLI happen under a
//! cross-process lock and re-read the file inside it (as `users.rs` does); the
//! server re-reads the file when it changes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use evaluator::digest::hex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::util::{now_rfc3339, random_hex, write_atomic};

pub const KEYS_FILE: &str = "ingest-keys.json";
/// What every ingest key starts with, so it is told apart from a user's token.
pub const PREFIX: &str = "sgi_";

pub use stagegate_api::IngestKeyInfo;

/// Which keys: each kind has its own prefix, file and lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// `sgi_…`: reports counts.
    Ingest,
    /// `sgk_…`: evaluates over OFREP.
    Sdk,
}

impl KeyKind {
    pub fn prefix(self) -> &'static str {
        match self {
            KeyKind::Ingest => PREFIX,
            KeyKind::Sdk => "sgk_",
        }
    }

    pub fn file(self) -> &'static str {
        match self {
            KeyKind::Ingest => KEYS_FILE,
            KeyKind::Sdk => "sdk-keys.json",
        }
    }

    fn lock_file(self) -> &'static str {
        match self {
            KeyKind::Ingest => ".lock-ingest-keys",
            KeyKind::Sdk => ".lock-sdk-keys",
        }
    }

    /// As messages name it: "ingest key".
    pub fn noun(self) -> &'static str {
        match self {
            KeyKind::Ingest => "ingest key",
            KeyKind::Sdk => "SDK key",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredKey {
    #[serde(flatten)]
    info: IngestKeyInfo,
    key_sha256: String,
    /// When it was revoked (RFC 3339); a revoked key is listed no more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    revoked: Option<String>,
}

#[derive(Default, Serialize, Deserialize)]
struct KeysFile {
    keys: Vec<StoredKey>,
}

#[derive(Default)]
struct Loaded {
    stamp: Option<(SystemTime, u64)>,
    keys: Arc<Vec<IngestKeyInfo>>,
    /// Hash of a key → its environment, or `None` once revoked.
    by_hash: HashMap<String, Option<String>>,
}

/// What a presented key is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// A live key, for this environment.
    Valid(String),
    Revoked,
    Unknown,
}

pub struct Keys {
    kind: KeyKind,
    dir: PathBuf,
    loaded: RwLock<Loaded>,
}

#[derive(Debug)]
pub enum KeyError {
    BadField(&'static str, String),
    /// The kind's noun and the id.
    Missing(&'static str, String),
    Io(anyhow::Error),
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyError::BadField(_, message) => f.write_str(message),
            KeyError::Missing(noun, id) => write!(f, "{noun} '{id}' does not exist"),
            KeyError::Io(error) => write!(f, "{error:#}"),
        }
    }
}

impl std::error::Error for KeyError {}

impl Keys {
    pub fn open(dir: &Path, kind: KeyKind) -> anyhow::Result<Keys> {
        let keys = Keys {
            kind,
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

    /// The environment `key` is for, if it is a key nobody revoked.
    pub fn environment(&self, key: &str) -> Option<String> {
        match self.lookup(key) {
            Lookup::Valid(environment) => Some(environment),
            Lookup::Revoked | Lookup::Unknown => None,
        }
    }

    /// Whether `key` is live, revoked or unknown. The lookup is by the key's
    /// hash, so it leaks nothing of other keys' text.
    pub fn lookup(&self, key: &str) -> Lookup {
        let hash = hex(&Sha256::digest(key.as_bytes()));
        match self.read().by_hash.get(&hash) {
            Some(Some(environment)) => Lookup::Valid(environment.clone()),
            Some(None) => Lookup::Revoked,
            None => Lookup::Unknown,
        }
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
        let key = format!("{}{}", self.kind.prefix(), random_hex(32).map_err(io)?);
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
            revoked: None,
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
        let missing = || KeyError::Missing(self.kind.noun(), id.into());
        let mut revoked = None;
        self.change(|file| {
            let key = file
                .keys
                .iter_mut()
                .find(|k| k.info.id == id && k.revoked.is_none())
                .ok_or_else(missing)?;
            key.revoked = Some(now_rfc3339());
            revoked = Some(key.info.clone());
            Ok(())
        })?;
        revoked.ok_or_else(missing)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Loaded> {
        self.loaded
            .read()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Re-reads the file if it changed on disk; returns whether it did.
    pub fn reload(&self) -> anyhow::Result<bool> {
        let path = self.dir.join(self.kind.file());
        let stamp = crate::util::file_stamp(&path);
        if stamp.is_some() && self.read().stamp == stamp {
            return Ok(false);
        }
        let file = self.read_file()?;
        let by_hash = file
            .keys
            .iter()
            .map(|k| {
                let live = k.revoked.is_none().then(|| k.info.environment.clone());
                (k.key_sha256.clone(), live)
            })
            .collect();
        let keys = (file.keys.into_iter())
            .filter(|k| k.revoked.is_none())
            .map(|k| k.info)
            .collect();
        let keys = Arc::new(keys);
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
        crate::util::read_json_or_default(&self.dir.join(self.kind.file()))
    }

    fn change(
        &self,
        edit: impl FnOnce(&mut KeysFile) -> Result<(), KeyError>,
    ) -> Result<(), KeyError> {
        let io = |error: std::io::Error| KeyError::Io(error.into());
        let lock = crate::util::lock_file(&self.dir, self.kind.lock_file()).map_err(io)?;
        let mut file = self.read_file().map_err(KeyError::Io)?;
        edit(&mut file)?;
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| KeyError::Io(e.into()))?;
        write_atomic(&self.dir, self.kind.file(), &bytes).map_err(io)?;
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

/// Whether `environment` is a name a key can be made for (its form only).
pub fn check_environment(environment: &str) -> Result<(), KeyError> {
    check("environment", environment)
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
        let keys = Keys::open(dir.path(), KeyKind::Ingest).unwrap();
        let (info, key) = keys.create("production", "web app", "admin").unwrap();
        assert!(key.starts_with(PREFIX) && key.len() == PREFIX.len() + 64);
        let stored = std::fs::read_to_string(dir.path().join(KEYS_FILE)).unwrap();
        assert!(!stored.contains(&key));
        assert_eq!(keys.environment(&key).as_deref(), Some("production"));
        assert_eq!(keys.environment("sgi_not-a-key"), None);
        // Another process (the CLI) sees it, and its revocation reaches us.
        let other = Keys::open(dir.path(), KeyKind::Ingest).unwrap();
        assert_eq!(other.environment(&key).as_deref(), Some("production"));
        other.revoke(&info.id).unwrap();
        keys.reload().unwrap();
        assert_eq!(keys.environment(&key), None);
        assert!(matches!(keys.revoke(&info.id), Err(KeyError::Missing(..))));
        assert!(matches!(
            keys.create("prod uction", "", "admin"),
            Err(KeyError::BadField("environment", _))
        ));
    }

    #[test]
    fn sdk_keys_live_apart_and_a_revoked_one_is_known_as_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let ingest = Keys::open(dir.path(), KeyKind::Ingest).unwrap();
        let sdk = Keys::open(dir.path(), KeyKind::Sdk).unwrap();
        let (info, key) = sdk.create("staging", "ios app", "admin").unwrap();
        let (_, ingest_key) = ingest.create("staging", "", "admin").unwrap();
        assert!(key.starts_with("sgk_") && key.len() == 4 + 64);
        assert!(dir.path().join("sdk-keys.json").is_file());
        assert_eq!(sdk.lookup(&key), Lookup::Valid("staging".into()));
        assert_eq!(sdk.lookup(&ingest_key), Lookup::Unknown);
        assert_eq!(ingest.lookup(&key), Lookup::Unknown);
        assert_eq!(ingest.list().len(), 1);
        sdk.revoke(&info.id).unwrap();
        assert_eq!(sdk.lookup(&key), Lookup::Revoked);
        assert_eq!(sdk.environment(&key), None);
        assert!(sdk.list().is_empty());
        let again = sdk.revoke(&info.id).unwrap_err();
        assert_eq!(
            again.to_string(),
            format!("SDK key '{}' does not exist", info.id)
        );
        // Another process sees the revocation as a revocation.
        let other = Keys::open(dir.path(), KeyKind::Sdk).unwrap();
        assert_eq!(other.lookup(&key), Lookup::Revoked);
    }
}
