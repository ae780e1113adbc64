//! Users and their tokens, in `DIR/users.json`, with the log of who changed them.
//! Only SHA-256 hashes of tokens are stored; a token is shown once, when it is made.
//!
//! The server keeps the users in memory (authentication never touches the disk)
//! and re-reads the file when it changes, so `stagegate user add` works while the
//! server runs. Every change, from the server or the CLI, happens under an
//! exclusive lock on `DIR/.lock-users` (an OS file lock, so it holds across
//! processes) and re-reads the file inside it: no change can overwrite another.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use anyhow::Context as _;
use evaluator::model::Role;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use evaluator::digest::hex;

use crate::util::{now_rfc3339, random_hex, write_atomic};

pub const USERS_FILE: &str = "users.json";
const LOCK_FILE: &str = ".lock-users";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub name: String,
    pub role: Role,
    /// SHA-256 of the token, hex. Never sent over the API.
    pub token_sha256: String,
    pub created: String,
}

/// One change to the users, for the audit trail (the API shows the log as it is).
pub use stagegate_api::UserEvent;

#[derive(Clone, Default, Serialize, Deserialize)]
struct UsersFile {
    users: Vec<User>,
    #[serde(default)]
    log: Vec<UserEvent>,
}

pub struct Users {
    dir: PathBuf,
    loaded: RwLock<Loaded>,
    /// When each user's token last authenticated a request, by name. Kept in
    /// memory (a write to disk per request would cost more than the answer): it
    /// covers the time since this server started.
    last_used: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

#[derive(Default)]
struct Loaded {
    stamp: Option<(SystemTime, u64)>,
    users: Arc<Vec<User>>,
    log: Arc<Vec<UserEvent>>,
}

#[derive(Debug)]
pub enum UserError {
    BadName(String),
    Exists(String),
    Missing(String),
    /// The change would leave nobody who can manage users.
    LastAdmin(String),
    Io(anyhow::Error),
}

impl std::fmt::Display for UserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UserError::BadName(name) => write!(
                f,
                "user name '{name}' must be 1–64 letters, digits, '-', '_' or '.'"
            ),
            UserError::Exists(name) => write!(f, "user '{name}' already exists"),
            UserError::Missing(name) => write!(f, "user '{name}' does not exist"),
            UserError::LastAdmin(name) => write!(
                f,
                "'{name}' is the last admin: make another user admin first"
            ),
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
            loaded: RwLock::default(),
            last_used: std::sync::Mutex::default(),
        };
        users.reload()?;
        Ok(users)
    }

    pub fn exists(&self) -> bool {
        self.dir.join(USERS_FILE).exists()
    }

    /// Every user, as last loaded.
    pub fn list(&self) -> Arc<Vec<User>> {
        self.read().users.clone()
    }

    /// Every change to the users, oldest first.
    pub fn log(&self) -> Arc<Vec<UserEvent>> {
        self.read().log.clone()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Loaded> {
        self.loaded
            .read()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Re-reads the file if it changed on disk (another process wrote it);
    /// returns whether it did.
    pub fn reload(&self) -> anyhow::Result<bool> {
        let path = self.dir.join(USERS_FILE);
        let stamp = crate::util::file_stamp(&path);
        if stamp.is_some() && self.read().stamp == stamp {
            return Ok(false);
        }
        let file = self.read_file()?;
        *self
            .loaded
            .write()
            .unwrap_or_else(|poison| poison.into_inner()) = Loaded {
            stamp,
            users: Arc::new(file.users),
            log: Arc::new(file.log),
        };
        Ok(true)
    }

    fn read_file(&self) -> anyhow::Result<UsersFile> {
        crate::util::read_json_or_default(&self.dir.join(USERS_FILE))
    }

    /// The user holding `token`. Every stored hash is compared, in constant time,
    /// so timing says nothing about which hash was closest.
    pub fn authenticate(&self, token: &str) -> Option<User> {
        let presented = hex(&Sha256::digest(token.as_bytes()));
        let users = self.list();
        let mut found = None;
        for user in users.iter() {
            if bool::from(presented.as_bytes().ct_eq(user.token_sha256.as_bytes())) {
                found = Some(user);
            }
        }
        let user = found.cloned()?;
        self.last_used
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .insert(user.name.clone(), crate::util::now_rfc3339());
        Some(user)
    }

    /// When `name`'s token last authenticated a request since this server started.
    pub fn last_used(&self, name: &str) -> Option<String> {
        self.last_used
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .get(name)
            .cloned()
    }

    /// Whether `name` is a user with `role` now (a sign-off by anyone else does
    /// not count).
    pub fn holds(&self, name: &str, role: &str) -> bool {
        self.list()
            .iter()
            .any(|user| user.name == name && user.role.name() == role)
    }

    /// Creates a user and returns their new token.
    pub fn add(&self, name: &str, role: Role, by: &str) -> Result<(User, String), UserError> {
        check_name(name)?;
        let token = format!(
            "sg_{}",
            random_hex(32).map_err(|e| UserError::Io(e.into()))?
        );
        let user = User {
            name: name.into(),
            role,
            token_sha256: hex(&Sha256::digest(token.as_bytes())),
            created: now_rfc3339(),
        };
        self.change(|file| {
            if file.users.iter().any(|u| u.name == name) {
                return Err(UserError::Exists(name.into()));
            }
            file.users.push(user.clone());
            Ok(event(by, "user-add", name, Some(role), None))
        })?;
        Ok((user, token))
    }

    pub fn remove(&self, name: &str, by: &str) -> Result<User, UserError> {
        let mut removed = None;
        self.change(|file| {
            let i = file
                .users
                .iter()
                .position(|u| u.name == name)
                .ok_or_else(|| UserError::Missing(name.into()))?;
            let user = file.users.remove(i);
            if user.role == Role::Admin {
                keeps_an_admin(&file.users, name)?;
            }
            let previous = Some(user.role);
            removed = Some(user);
            Ok(event(by, "user-remove", name, None, previous))
        })?;
        removed.ok_or_else(|| UserError::Missing(name.into()))
    }

    pub fn set_role(&self, name: &str, role: Role, by: &str) -> Result<User, UserError> {
        let mut changed = None;
        self.change(|file| {
            let user = file
                .users
                .iter_mut()
                .find(|u| u.name == name)
                .ok_or_else(|| UserError::Missing(name.into()))?;
            let previous = std::mem::replace(&mut user.role, role);
            changed = Some(user.clone());
            if previous == Role::Admin {
                keeps_an_admin(&file.users, name)?;
            }
            Ok(event(by, "user-role", name, Some(role), Some(previous)))
        })?;
        changed.ok_or_else(|| UserError::Missing(name.into()))
    }

    /// One change: under the cross-process lock, read the file as it is now,
    /// apply `edit`, log what it returns, write the file back atomically.
    fn change(
        &self,
        edit: impl FnOnce(&mut UsersFile) -> Result<UserEvent, UserError>,
    ) -> Result<(), UserError> {
        let io = |error: std::io::Error| UserError::Io(error.into());
        let lock = crate::util::lock_file(&self.dir, LOCK_FILE).map_err(io)?;
        let mut file = self.read_file().map_err(UserError::Io)?;
        let entry = edit(&mut file)?;
        file.log.push(entry);
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| UserError::Io(e.into()))?;
        write_atomic(&self.dir, USERS_FILE, &bytes).map_err(io)?;
        self.reload().map_err(UserError::Io)?;
        drop(lock); // closing the file releases the lock
        Ok(())
    }
}

fn event(
    by: &str,
    action: &str,
    name: &str,
    role: Option<Role>,
    previous: Option<Role>,
) -> UserEvent {
    UserEvent {
        at: now_rfc3339(),
        by: by.into(),
        action: action.into(),
        name: name.into(),
        role,
        previous_role: previous,
    }
}

fn keeps_an_admin(users: &[User], name: &str) -> Result<(), UserError> {
    if users.iter().any(|u| u.role == Role::Admin) {
        Ok(())
    } else {
        Err(UserError::LastAdmin(name.into()))
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
        let (_, token) = users.add("alice", Role::QaLead, "test").unwrap();
        assert!(token.starts_with("sg_") && token.len() == 67);
        let stored = fs::read_to_string(dir.path().join(USERS_FILE)).unwrap();
        assert!(!stored.contains(&token));
        assert_eq!(users.authenticate(&token).unwrap().name, "alice");
        assert!(users.authenticate("sg_nope").is_none());
        assert!(matches!(
            users.add("alice", Role::Viewer, "test"),
            Err(UserError::Exists(_))
        ));
        assert!(matches!(
            users.add("b b", Role::Viewer, "test"),
            Err(UserError::BadName(_))
        ));
        // A crash's leftover temp file is removed when the users are opened.
        let leftover = dir.path().join("users.json.42.00ff.tmp");
        fs::write(&leftover, "{\"us").unwrap();
        let _reopened = Users::open(dir.path()).unwrap();
        assert!(!leftover.exists());
        // Another process (the CLI) changes the file: a reload notices.
        let other = Users::open(dir.path()).unwrap();
        other.remove("alice", "cli").unwrap();
        assert!(
            users.authenticate(&token).is_some(),
            "memory until reloaded"
        );
        assert!(users.reload().unwrap());
        assert!(users.authenticate(&token).is_none());
    }

    #[test]
    fn changes_from_two_processes_are_never_lost() {
        let dir = tempfile::tempdir().unwrap();
        // Two `Users` on one directory stand for the server and the CLI: each
        // re-reads the file under the lock, so every add survives.
        let (a, b) = (
            Users::open(dir.path()).unwrap(),
            Users::open(dir.path()).unwrap(),
        );
        std::thread::scope(|scope| {
            for i in 0..16 {
                let users = if i % 2 == 0 { &a } else { &b };
                scope.spawn(move || users.add(&format!("u{i}"), Role::Viewer, "test").unwrap());
            }
        });
        a.reload().unwrap();
        assert_eq!(a.list().len(), 16);
        assert_eq!(a.log().len(), 16);
    }

    #[test]
    fn the_last_admin_stays_and_every_change_is_logged() {
        let dir = tempfile::tempdir().unwrap();
        let users = Users::open(dir.path()).unwrap();
        users.add("root", Role::Admin, "cli").unwrap();
        assert!(matches!(
            users.remove("root", "root"),
            Err(UserError::LastAdmin(_))
        ));
        assert!(matches!(
            users.set_role("root", Role::Editor, "root"),
            Err(UserError::LastAdmin(_))
        ));
        users.add("bob", Role::Editor, "root").unwrap();
        users.set_role("bob", Role::Admin, "root").unwrap();
        users.set_role("root", Role::Viewer, "bob").unwrap();
        users.remove("root", "bob").unwrap();
        assert!(matches!(
            users.remove("root", "bob"),
            Err(UserError::Missing(_))
        ));
        let actions: Vec<(String, String, String)> = users
            .log()
            .iter()
            .map(|e| (e.action.clone(), e.by.clone(), e.name.clone()))
            .collect();
        let expected = [
            ("user-add", "cli", "root"),
            ("user-add", "root", "bob"),
            ("user-role", "root", "bob"),
            ("user-role", "bob", "root"),
            ("user-remove", "bob", "root"),
        ]
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()));
        assert_eq!(actions, expected);
        assert_eq!(users.log()[3].previous_role, Some(Role::Admin));
        assert!(users.holds("bob", "admin") && !users.holds("root", "viewer"));
    }
}
