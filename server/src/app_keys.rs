//! The apps' keys, per environment, each able to do one thing: ingest keys
//! report counts (`POST /api/metrics`), SDK keys evaluate over OFREP
//! (`/ofrep/v1/…`). One implementation, two documents in the storage
//! (`ingest-keys.json`, `sdk-keys.json`), only SHA-256 hashes in them; a key is
//! shown once, when it is made. A revoked key's hash stays, so it can be told
//! apart from one that never existed. Changes from any server and from the CLI
//! go through `Storage::update_document` (a lock across processes and
//! servers); keys are checked against the copy in memory, so apps keep
//! authenticating while the database is away, and `reload` brings it up to date.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use evaluator::digest::hex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::storage::{Storage, StorageError, Version, documents};
use crate::util::{now_rfc3339, random_hex};

/// What every ingest key starts with, so it is told apart from a user's token.
pub const PREFIX: &str = "sgi_";

pub use stagegate_api::IngestKeyInfo;

/// Which keys: each kind has its own prefix and document.
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

    /// The storage document (and data directory file) the keys live in.
    pub fn document(self) -> &'static str {
        match self {
            KeyKind::Ingest => documents::INGEST_KEYS,
            KeyKind::Sdk => documents::SDK_KEYS,
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
    /// The version read; `None` after this process's own write, so that the
    /// next reload reads it once more (a data directory's version may not
    /// move for a write within the file system's timestamp resolution).
    version: Option<Version>,
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
    storage: Storage,
    loaded: RwLock<Loaded>,
    /// One change or reload at a time in this process, so that the copy in
    /// memory ends as the newest write left it.
    changing: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
pub enum KeyError {
    BadField(&'static str, String),
    /// The kind's noun and the id.
    Missing(&'static str, String),
    /// The database cannot be reached now; nothing was written.
    Unavailable(String),
    Io(anyhow::Error),
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyError::BadField(_, message) => f.write_str(message),
            KeyError::Missing(noun, id) => write!(f, "{noun} '{id}' does not exist"),
            KeyError::Unavailable(message) => write!(f, "the store is unavailable: {message}"),
            KeyError::Io(error) => write!(f, "{error:#}"),
        }
    }
}

impl std::error::Error for KeyError {}

impl From<StorageError> for KeyError {
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::Unavailable(message) => KeyError::Unavailable(message),
            StorageError::Io(message) => KeyError::Io(anyhow::anyhow!(message)),
        }
    }
}

impl Keys {
    pub async fn open(storage: Storage, kind: KeyKind) -> anyhow::Result<Keys> {
        let keys = Keys {
            kind,
            storage,
            loaded: RwLock::default(),
            changing: tokio::sync::Mutex::new(()),
        };
        keys.reload().await?;
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
    pub async fn create(
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
        self.change(move |file| {
            file.keys.push(stored);
            Ok(())
        })
        .await?;
        Ok((info, key))
    }

    /// Revokes a key: it stops working at once in this process, and within a
    /// reload in others.
    pub async fn revoke(&self, id: &str) -> Result<IngestKeyInfo, KeyError> {
        let (noun, id) = (self.kind.noun(), id.to_string());
        self.change(move |file| {
            let key = file
                .keys
                .iter_mut()
                .find(|k| k.info.id == id && k.revoked.is_none())
                .ok_or(KeyError::Missing(noun, id))?;
            key.revoked = Some(now_rfc3339());
            Ok(key.info.clone())
        })
        .await
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Loaded> {
        self.loaded
            .read()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Re-reads the keys if their document changed; returns whether it did.
    /// On failure the keys in memory stay as they were.
    pub async fn reload(&self) -> anyhow::Result<bool> {
        let _one_at_a_time = self.changing.lock().await;
        let name = self.kind.document();
        let version = self.storage.document_version(name).await?;
        if version.is_some() && self.read().version == version {
            return Ok(false);
        }
        let (file, version) = match self.storage.document(name).await? {
            Some((text, version)) => (parse(name, Some(&text))?, Some(version)),
            None => (KeysFile::default(), None),
        };
        self.install(file, version);
        Ok(true)
    }

    fn install(&self, file: KeysFile, version: Option<Version>) {
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
        *self
            .loaded
            .write()
            .unwrap_or_else(|poison| poison.into_inner()) = Loaded {
            version,
            keys: Arc::new(keys),
            by_hash,
        };
    }

    /// Edits the stored keys as they are now (under the storage's lock, so a
    /// change by another server or the CLI is never lost), then takes the
    /// result as the keys in memory.
    async fn change<T: Send + 'static>(
        &self,
        edit: impl FnOnce(&mut KeysFile) -> Result<T, KeyError> + Send + 'static,
    ) -> Result<T, KeyError> {
        let _one_at_a_time = self.changing.lock().await;
        let name = self.kind.document();
        let (answer, file) = self
            .storage
            .update_document(name, move |old| {
                let mut file = parse(name, old).map_err(KeyError::Io)?;
                let answer = edit(&mut file)?;
                let text = serde_json::to_string_pretty(&file)
                    .map_err(|error| KeyError::Io(error.into()))?;
                Ok::<_, KeyError>((text, (answer, file)))
            })
            .await??;
        self.install(file, None);
        Ok(answer)
    }
}

fn parse(name: &str, text: Option<&str>) -> anyhow::Result<KeysFile> {
    match text {
        Some(text) => {
            serde_json::from_str(text).map_err(|e| anyhow::anyhow!("parsing {name}: {e}"))
        }
        None => Ok(KeysFile::default()),
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
    use crate::storage::Location;

    async fn storage(dir: &std::path::Path) -> Storage {
        Storage::open_documents(&Location::Dir(dir.to_path_buf()))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn keys_are_stored_hashed_name_their_environment_and_stop_when_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let keys = Keys::open(storage(dir.path()).await, KeyKind::Ingest)
            .await
            .unwrap();
        let (info, key) = keys.create("production", "web app", "admin").await.unwrap();
        assert!(key.starts_with(PREFIX) && key.len() == PREFIX.len() + 64);
        let stored = std::fs::read_to_string(dir.path().join(documents::INGEST_KEYS)).unwrap();
        assert!(!stored.contains(&key));
        assert_eq!(keys.environment(&key).as_deref(), Some("production"));
        assert_eq!(keys.environment("sgi_not-a-key"), None);
        // Another process (the CLI) sees it, and its revocation reaches us.
        let other = Keys::open(storage(dir.path()).await, KeyKind::Ingest)
            .await
            .unwrap();
        assert_eq!(other.environment(&key).as_deref(), Some("production"));
        other.revoke(&info.id).await.unwrap();
        assert!(keys.reload().await.unwrap());
        assert_eq!(keys.environment(&key), None);
        assert!(!keys.reload().await.unwrap(), "nothing changed since");
        assert!(matches!(
            keys.revoke(&info.id).await,
            Err(KeyError::Missing(..))
        ));
        assert!(matches!(
            keys.create("prod uction", "", "admin").await,
            Err(KeyError::BadField("environment", _))
        ));
    }

    #[tokio::test]
    async fn sdk_keys_live_apart_and_a_revoked_one_is_known_as_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let storage = storage(dir.path()).await;
        let ingest = Keys::open(storage.clone(), KeyKind::Ingest).await.unwrap();
        let sdk = Keys::open(storage.clone(), KeyKind::Sdk).await.unwrap();
        let (info, key) = sdk.create("staging", "ios app", "admin").await.unwrap();
        let (_, ingest_key) = ingest.create("staging", "", "admin").await.unwrap();
        assert!(key.starts_with("sgk_") && key.len() == 4 + 64);
        assert!(dir.path().join("sdk-keys.json").is_file());
        assert_eq!(sdk.lookup(&key), Lookup::Valid("staging".into()));
        assert_eq!(sdk.lookup(&ingest_key), Lookup::Unknown);
        assert_eq!(ingest.lookup(&key), Lookup::Unknown);
        assert_eq!(ingest.list().len(), 1);
        sdk.revoke(&info.id).await.unwrap();
        assert_eq!(sdk.lookup(&key), Lookup::Revoked);
        assert_eq!(sdk.environment(&key), None);
        assert!(sdk.list().is_empty());
        let again = sdk.revoke(&info.id).await.unwrap_err();
        assert_eq!(
            again.to_string(),
            format!("SDK key '{}' does not exist", info.id)
        );
        // Another process sees the revocation as a revocation.
        let other = Keys::open(storage, KeyKind::Sdk).await.unwrap();
        assert_eq!(other.lookup(&key), Lookup::Revoked);
    }

    #[tokio::test]
    async fn a_damaged_document_is_refused_and_the_keys_in_memory_stay() {
        let dir = tempfile::tempdir().unwrap();
        let keys = Keys::open(storage(dir.path()).await, KeyKind::Sdk)
            .await
            .unwrap();
        let (_, key) = keys.create("staging", "", "admin").await.unwrap();
        std::fs::write(dir.path().join(documents::SDK_KEYS), "{\"keys\": [").unwrap();
        let error = keys.reload().await.unwrap_err();
        assert!(
            format!("{error:#}").contains("parsing sdk-keys.json"),
            "{error:#}"
        );
        assert_eq!(keys.environment(&key).as_deref(), Some("staging"));
        assert!(matches!(
            keys.create("staging", "", "admin").await,
            Err(KeyError::Io(_))
        ));
    }
}
