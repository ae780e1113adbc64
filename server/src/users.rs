//! Users and their tokens, in `DIR/users.json`. Only SHA-256 hashes of tokens are
//! stored; a token is shown once, when it is made.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::util::{hex, now_rfc3339, random_hex, write_atomic};

pub const USERS_FILE: &str = "users.json";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub name: String,
    pub role: String,
    /// SHA-256 of the token, hex. Never sent over the API.
    pub token_sha256: String,
    pub created: String,
}

#[derive(Default, Serialize, Deserialize)]
struct UsersFile {
    users: Vec<User>,
}

/// The users file, cached, and re-read when it changes on disk (so that
/// `stagegate user add` works while the server runs).
pub struct Users {
    dir: PathBuf,
    cache: Mutex<Cached>,
    /// Held across each read-modify-write of the file (add, remove), so two
    /// concurrent requests cannot both read the old list and lose one's change.
    writer: Mutex<()>,
}

#[derive(Default)]
struct Cached {
    stamp: Option<(SystemTime, u64)>,
    users: Arc<Vec<User>>,
}

#[derive(Debug)]
pub enum UserError {
    BadName(String),
    BadRole(String),
    Exists(String),
    Missing(String),
    Io(anyhow::Error),
}

impl std::fmt::Display for UserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UserError::BadName(name) => write!(
                f,
                "user name '{name}' must be 1–64 letters, digits, '-', '_' or '.'"
            ),
            UserError::BadRole(role) => write!(
                f,
                "'{role}' is not a role (one of {})",
                evaluator::model::ROLES.join(", ")
            ),
            UserError::Exists(name) => write!(f, "user '{name}' already exists"),
            UserError::Missing(name) => write!(f, "user '{name}' does not exist"),
            UserError::Io(error) => write!(f, "{error:#}"),
        }
    }
}

impl std::error::Error for UserError {}

impl Users {
    pub fn open(dir: &Path) -> anyhow::Result<Users> {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        // Leftovers of writes a crash interrupted (see `write_atomic`).
        if let Ok(entries) = fs::read_dir(dir) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name.starts_with(&format!("{USERS_FILE}."))
                    && name.ends_with(crate::util::TEMP_SUFFIX)
                {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
        let users = Users {
            dir: dir.to_path_buf(),
            cache: Mutex::default(),
            writer: Mutex::default(),
        };
        users.list()?;
        Ok(users)
    }

    pub fn exists(&self) -> bool {
        self.dir.join(USERS_FILE).exists()
    }

    /// Every user, re-read if the file changed since last time.
    pub fn list(&self) -> anyhow::Result<Arc<Vec<User>>> {
        let path = self.dir.join(USERS_FILE);
        let stamp = fs::metadata(&path)
            .ok()
            .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()));
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if cache.stamp != stamp || stamp.is_none() {
            let users = match stamp {
                None => Vec::new(),
                Some(_) => {
                    let text = fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    serde_json::from_str::<UsersFile>(&text)
                        .with_context(|| format!("parsing {}", path.display()))?
                        .users
                }
            };
            *cache = Cached {
                stamp,
                users: Arc::new(users),
            };
        }
        Ok(cache.users.clone())
    }

    /// The user holding `token`. Every stored hash is compared, in constant time,
    /// so timing says nothing about which hash was closest.
    pub fn authenticate(&self, token: &str) -> Option<User> {
        let presented = Sha256::digest(token.as_bytes());
        let presented = hex(&presented);
        let users = self.list().ok()?;
        let mut found = None;
        for user in users.iter() {
            if bool::from(presented.as_bytes().ct_eq(user.token_sha256.as_bytes())) {
                found = Some(user);
            }
        }
        found.cloned()
    }

    /// Creates a user and returns their new token.
    pub fn add(&self, name: &str, role: &str) -> Result<(User, String), UserError> {
        check_name(name)?;
        if !evaluator::model::ROLES.contains(&role) {
            return Err(UserError::BadRole(role.into()));
        }
        let _writer = self
            .writer
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let mut users = self.list().map_err(UserError::Io)?.as_ref().clone();
        if users.iter().any(|user| user.name == name) {
            return Err(UserError::Exists(name.into()));
        }
        let token = format!(
            "sg_{}",
            random_hex(32).map_err(|e| UserError::Io(e.into()))?
        );
        let user = User {
            name: name.into(),
            role: role.into(),
            token_sha256: hex(&Sha256::digest(token.as_bytes())),
            created: now_rfc3339(),
        };
        users.push(user.clone());
        self.save(users)?;
        Ok((user, token))
    }

    pub fn remove(&self, name: &str) -> Result<(), UserError> {
        let _writer = self
            .writer
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let mut users = self.list().map_err(UserError::Io)?.as_ref().clone();
        let before = users.len();
        users.retain(|user| user.name != name);
        if users.len() == before {
            return Err(UserError::Missing(name.into()));
        }
        self.save(users)
    }

    fn save(&self, users: Vec<User>) -> Result<(), UserError> {
        let bytes =
            serde_json::to_vec_pretty(&UsersFile { users }).map_err(|e| UserError::Io(e.into()))?;
        write_atomic(&self.dir, USERS_FILE, &bytes).map_err(|e| UserError::Io(e.into()))?;
        // Forget the cache: the next read sees the file as written.
        *self
            .cache
            .lock()
            .unwrap_or_else(|poison| poison.into_inner()) = Cached::default();
        Ok(())
    }
}

fn check_name(name: &str) -> Result<(), UserError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(UserError::BadName(name.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_stored_hashed_and_authenticate() {
        let dir = tempfile::tempdir().unwrap();
        let users = Users::open(dir.path()).unwrap();
        let (_, token) = users.add("alice", "qa-lead").unwrap();
        assert!(token.starts_with("sg_") && token.len() == 67);
        let stored = fs::read_to_string(dir.path().join(USERS_FILE)).unwrap();
        assert!(!stored.contains(&token));
        assert_eq!(users.authenticate(&token).unwrap().name, "alice");
        assert!(users.authenticate("sg_nope").is_none());
        assert!(matches!(
            users.add("alice", "viewer"),
            Err(UserError::Exists(_))
        ));
        assert!(matches!(
            users.add("bob", "king"),
            Err(UserError::BadRole(_))
        ));
        assert!(matches!(
            users.add("b b", "viewer"),
            Err(UserError::BadName(_))
        ));
        // Concurrent adds in one process: none is lost.
        std::thread::scope(|scope| {
            for i in 0..8 {
                let users = &users;
                scope.spawn(move || users.add(&format!("u{i}"), "viewer").unwrap());
            }
        });
        assert_eq!(users.list().unwrap().len(), 9);
        // A crash's leftover temp file is removed when the users are opened.
        let leftover = dir.path().join("users.json.42.00ff.tmp");
        fs::write(&leftover, "{\"us").unwrap();
        let _reopened = Users::open(dir.path()).unwrap();
        assert!(!leftover.exists());
        // Another process (the CLI) changes the file: the cache notices.
        let other = Users::open(dir.path()).unwrap();
        other.remove("alice").unwrap();
        assert!(users.authenticate(&token).is_none());
    }
}
