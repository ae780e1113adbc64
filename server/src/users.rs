//! Users and their tokens, in the `users.json` document of the store (a file in
//! the data directory, or a row in PostgreSQL), with the log of who changed them.
//! Only SHA-256 hashes of tokens are stored; a token is shown once, when it is made.
//!
//! The server keeps the users in memory (authentication never touches the
//! store, so it works while the database is away) and re-reads the document
//! when its version changes, so `stagegate user add` and other servers' changes
//! are seen. Every change goes through `Storage::update_document`, which reads
//! the document as it is now under a lock that holds across processes and
//! servers: no change can overwrite another.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use evaluator::model::Role;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use evaluator::digest::hex;

use crate::storage::{Storage, StorageError, Version, documents};
use crate::util::{now_rfc3339, random_hex};

pub const USERS_FILE: &str = documents::USERS;

/// Who the log names for the first admin, made when a store is new.
const SEEDER: &str = "stagegate";

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

impl UsersFile {
    fn parse(text: Option<&str>) -> Result<UsersFile, UserError> {
        match text {
            None => Ok(UsersFile::default()),
            Some(text) => serde_json::from_str(text)
                .map_err(|error| UserError::Io(anyhow::anyhow!("parsing {USERS_FILE}: {error}"))),
        }
    }
}

pub struct Users {
    storage: Storage,
    loaded: RwLock<Loaded>,
    /// One reload at a time, so a slow read never replaces a newer one.
    reloading: tokio::sync::Mutex<()>,
    /// When each user's token last authenticated a request, by name. Kept in
    /// memory (a write per request would cost more than the answer): it
    /// covers the time since this server started.
    last_used: Mutex<HashMap<String, String>>,
}

#[derive(Default)]
struct Loaded {
    /// The version these users were read at (`None`: unknown, read again).
    version: Option<Version>,
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
    /// The store cannot be reached now; nothing was changed.
    Unavailable(String),
    Io(anyhow::Error),
}

impl From<StorageError> for UserError {
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::Unavailable(message) => UserError::Unavailable(message),
            StorageError::Io(message) => UserError::Io(anyhow::anyhow!(message)),
        }
    }
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
            UserError::Unavailable(message) => write!(f, "the store is unavailable: {message}"),
            UserError::Io(error) => write!(f, "{error:#}"),
        }
    }
}

impl std::error::Error for UserError {}

impl Users {
    pub async fn open(storage: Storage) -> anyhow::Result<Users> {
        let users = Users {
            storage,
            loaded: RwLock::default(),
            reloading: tokio::sync::Mutex::default(),
            last_used: Mutex::default(),
        };
        users.reload().await?;
        Ok(users)
    }

    /// Makes the first admin when the store has no users document yet, and
    /// returns their token. Decided under the document's lock, so of several
    /// servers starting on one new database exactly one makes it (and prints
    /// its token); the others get `None`, as does any later start.
    pub async fn create_first_admin(&self) -> Result<Option<String>, UserError> {
        let (user, token) = new_user("admin", Role::Admin)?;
        // Refused with `None`: the document is there already, nothing to do.
        let made = self
            .storage
            .update_document(documents::USERS, move |old| {
                if old.is_some() {
                    return Err(None);
                }
                let file = UsersFile {
                    users: vec![user],
                    log: vec![event(SEEDER, "user-add", "admin", Some(Role::Admin), None)],
                };
                Ok((to_text(&file).map_err(Some)?, ()))
            })
            .await?;
        self.refresh().await;
        match made {
            Ok(()) => Ok(Some(token)),
            Err(None) => Ok(None),
            Err(Some(error)) => Err(error),
        }
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

    fn replace(&self, loaded: Loaded) {
        *self
            .loaded
            .write()
            .unwrap_or_else(|poison| poison.into_inner()) = loaded;
    }

    /// Re-reads the document if its version changed (another process or
    /// server wrote it); returns whether it did.
    pub async fn reload(&self) -> Result<bool, UserError> {
        let _one_at_a_time = self.reloading.lock().await;
        let version = self.storage.document_version(documents::USERS).await?;
        let known = self.read().version;
        if version.is_some() && version == known {
            return Ok(false);
        }
        let Some((text, version)) = self.storage.document(documents::USERS).await? else {
            // Never written: nobody to know (only a store that is new).
            let changed = known.is_some() || !self.read().users.is_empty();
            self.replace(Loaded::default());
            return Ok(changed);
        };
        let file = UsersFile::parse(Some(&text))?;
        self.replace(Loaded {
            version: Some(version),
            users: Arc::new(file.users),
            log: Arc::new(file.log),
        });
        Ok(true)
    }

    /// After a change this server made: read it back (an error here does
    /// not undo the change; the next reload reads it).
    async fn refresh(&self) {
        if let Err(error) = self.reload().await {
            tracing::warn!("re-reading {USERS_FILE} after a change: {error}");
        }
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
    pub async fn add(&self, name: &str, role: Role, by: &str) -> Result<(User, String), UserError> {
        check_name(name)?;
        let (user, token) = new_user(name, role)?;
        let (name, by, added) = (name.to_string(), by.to_string(), user.clone());
        self.change(move |file| {
            if file.users.iter().any(|u| u.name == name) {
                return Err(UserError::Exists(name));
            }
            file.users.push(added);
            Ok((event(&by, "user-add", &name, Some(role), None), ()))
        })
        .await?;
        Ok((user, token))
    }

    pub async fn remove(&self, name: &str, by: &str) -> Result<User, UserError> {
        let (name, by) = (name.to_string(), by.to_string());
        self.change(move |file| {
            let i = file
                .users
                .iter()
                .position(|u| u.name == name)
                .ok_or_else(|| UserError::Missing(name.clone()))?;
            let user = file.users.remove(i);
            if user.role == Role::Admin {
                keeps_an_admin(&file.users, &name)?;
            }
            let entry = event(&by, "user-remove", &name, None, Some(user.role));
            Ok((entry, user))
        })
        .await
    }

    pub async fn set_role(&self, name: &str, role: Role, by: &str) -> Result<User, UserError> {
        let (name, by) = (name.to_string(), by.to_string());
        self.change(move |file| {
            let user = file
                .users
                .iter_mut()
                .find(|u| u.name == name)
                .ok_or_else(|| UserError::Missing(name.clone()))?;
            let previous = std::mem::replace(&mut user.role, role);
            let changed = user.clone();
            if previous == Role::Admin {
                keeps_an_admin(&file.users, &name)?;
            }
            let entry = event(&by, "user-role", &name, Some(role), Some(previous));
            Ok((entry, changed))
        })
        .await
    }

    /// One change: under the store's lock, read the document as it is now,
    /// apply `edit`, log what it returns, write the document back; then
    /// re-read it so this server knows the change at once.
    async fn change<T: Send + 'static>(
        &self,
        edit: impl FnOnce(&mut UsersFile) -> Result<(UserEvent, T), UserError> + Send + 'static,
    ) -> Result<T, UserError> {
        let answer = self
            .storage
            .update_document(documents::USERS, move |old| {
                let mut file = UsersFile::parse(old)?;
                let (entry, answer) = edit(&mut file)?;
                file.log.push(entry);
                Ok::<_, UserError>((to_text(&file)?, answer))
            })
            .await??;
        self.refresh().await;
        Ok(answer)
    }
}

/// A user with a new token: the user (holding the token's hash) and the token.
fn new_user(name: &str, role: Role) -> Result<(User, String), UserError> {
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
    Ok((user, token))
}

fn to_text(file: &UsersFile) -> Result<String, UserError> {
    serde_json::to_string_pretty(file).map_err(|e| UserError::Io(e.into()))
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
    use crate::storage::Location;

    async fn open(dir: &std::path::Path) -> Users {
        let storage = Storage::open(&Location::Dir(dir.to_path_buf()))
            .await
            .unwrap();
        // As a server does: seeds revision 1 into a new directory (one that
        // holds users but no revision would not open again).
        crate::store::Store::open(storage.clone()).await.unwrap();
        Users::open(storage).await.unwrap()
    }

    #[tokio::test]
    async fn tokens_are_stored_hashed_and_authenticate() {
        let dir = tempfile::tempdir().unwrap();
        let users = open(dir.path()).await;
        let (_, token) = users.add("alice", Role::QaLead, "test").await.unwrap();
        assert!(token.starts_with("sg_") && token.len() == 67);
        let stored = std::fs::read_to_string(dir.path().join(USERS_FILE)).unwrap();
        assert!(!stored.contains(&token));
        assert_eq!(users.authenticate(&token).unwrap().name, "alice");
        assert!(users.authenticate("sg_nope").is_none());
        assert!(matches!(
            users.add("alice", Role::Viewer, "test").await,
            Err(UserError::Exists(_))
        ));
        assert!(matches!(
            users.add("b b", Role::Viewer, "test").await,
            Err(UserError::BadName(_))
        ));
        // A crash's leftover temp file is removed when the store is opened.
        let leftover = dir.path().join("users.json.42.00ff.tmp");
        std::fs::write(&leftover, "{\"us").unwrap();
        let _reopened = open(dir.path()).await;
        assert!(!leftover.exists());
        // Another process (the CLI) changes the document: a reload notices.
        let other = open(dir.path()).await;
        other.remove("alice", "cli").await.unwrap();
        assert!(
            users.authenticate(&token).is_some(),
            "memory until reloaded"
        );
        assert!(users.reload().await.unwrap());
        assert!(users.authenticate(&token).is_none());
        assert!(!users.reload().await.unwrap(), "nothing new to read");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn changes_from_two_processes_are_never_lost() {
        let dir = tempfile::tempdir().unwrap();
        // Two `Users` on one directory stand for the server and the CLI: each
        // re-reads the document under the lock, so every add survives.
        let (a, b) = (
            Arc::new(open(dir.path()).await),
            Arc::new(open(dir.path()).await),
        );
        let mut adds = tokio::task::JoinSet::new();
        for i in 0..16 {
            let users = if i % 2 == 0 { a.clone() } else { b.clone() };
            adds.spawn(async move { users.add(&format!("u{i}"), Role::Viewer, "test").await });
        }
        while let Some(added) = adds.join_next().await {
            added.unwrap().unwrap();
        }
        a.reload().await.unwrap();
        assert_eq!(a.list().len(), 16);
        assert_eq!(a.log().len(), 16);
    }

    #[tokio::test]
    async fn the_first_admin_is_made_once() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (open(dir.path()).await, open(dir.path()).await);
        let token = a.create_first_admin().await.unwrap().unwrap();
        assert_eq!(a.authenticate(&token).unwrap().role, Role::Admin);
        // A second server on the same store finds the document and makes nobody.
        assert!(b.create_first_admin().await.unwrap().is_none());
        assert!(b.authenticate(&token).is_some());
        assert_eq!(b.list().len(), 1);
        assert_eq!(b.log()[0].by, SEEDER);
    }

    /// Needs no database: a store nobody answers at (port 1 refuses) stands
    /// for PostgreSQL being down.
    #[tokio::test]
    async fn a_store_that_is_away_refuses_changes_and_authentication_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let mut users = open(dir.path()).await;
        let (_, token) = users.add("alice", Role::Editor, "test").await.unwrap();
        let away = crate::storage::postgres::PgStorage::new("postgres://nobody@127.0.0.1:1/none");
        users.storage = Storage::Postgres(Arc::new(away.unwrap()));
        assert!(matches!(
            users.add("bob", Role::Viewer, "test").await,
            Err(UserError::Unavailable(_))
        ));
        assert!(matches!(
            users.remove("alice", "test").await,
            Err(UserError::Unavailable(_))
        ));
        assert!(matches!(
            users.reload().await,
            Err(UserError::Unavailable(_))
        ));
        assert_eq!(users.authenticate(&token).unwrap().name, "alice");
        assert_eq!(users.list().len(), 1);
    }

    #[tokio::test]
    async fn the_last_admin_stays_and_every_change_is_logged() {
        let dir = tempfile::tempdir().unwrap();
        let users = open(dir.path()).await;
        users.add("root", Role::Admin, "cli").await.unwrap();
        assert!(matches!(
            users.remove("root", "root").await,
            Err(UserError::LastAdmin(_))
        ));
        assert!(matches!(
            users.set_role("root", Role::Editor, "root").await,
            Err(UserError::LastAdmin(_))
        ));
        users.add("bob", Role::Editor, "root").await.unwrap();
        users.set_role("bob", Role::Admin, "root").await.unwrap();
        users.set_role("root", Role::Viewer, "bob").await.unwrap();
        users.remove("root", "bob").await.unwrap();
        assert!(matches!(
            users.remove("root", "bob").await,
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
