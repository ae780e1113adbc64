//! Where the server keeps what it keeps: one interface, two backends.
//!
//! - [`dir`]: the data directory, the embedded default for one server.
//! - [`postgres`]: a PostgreSQL database that any number of servers share.
//!
//! Three kinds of thing are kept:
//! - **revisions**, each with its audit entry, written as one unit. A write
//!   names the head it was built on and the backend refuses it (`Behind`) if
//!   another write came first, so there is exactly one winner per base;
//! - **documents**: small JSON documents edited whole under a lock (users,
//!   ingest and SDK keys, webhooks, deliveries, acknowledgements);
//! - **metric counts**: additive, so counts from every server add up.
//!
//! Nothing here knows HTTP: failures are [`StorageError`].

pub mod dir;
pub mod migrate;
pub mod postgres;

use std::path::PathBuf;
use std::sync::Arc;

use evaluator::model::Plan;
use serde::{Deserialize, Serialize};

use crate::audit::AuditEntry;

/// Where to keep things: `--data DIR` or `--store postgres://…`.
#[derive(Clone, Debug)]
pub enum Location {
    Dir(PathBuf),
    Postgres(String),
}

impl Location {
    /// `postgres://` and `postgresql://` URLs name a database; anything else a directory.
    pub fn parse(text: &str) -> Location {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Location::Postgres(text.to_string())
        } else {
            Location::Dir(PathBuf::from(text))
        }
    }
}

#[derive(Debug)]
pub enum StorageError {
    /// The database cannot be reached now (down, restarting, pool exhausted):
    /// nothing was written, and trying again later may work.
    Unavailable(String),
    /// Reading or writing failed; nothing was written.
    Io(String),
}

impl std::fmt::Display for StorageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StorageError::Unavailable(message) => write!(f, "the store is unavailable: {message}"),
            StorageError::Io(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for StorageError {}

/// One revision as stored: the plan and its audit entry, one unit.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RevisionFile {
    pub audit: AuditEntry,
    pub plan: Plan,
}

/// What `append` did with a write.
pub enum Append<T, E, F> {
    /// Stored as the new head.
    Written(T),
    /// The build said there is nothing to write (the plan would not change).
    Nothing(T),
    /// The build refused; nothing was written.
    Refused(E),
    /// Another revision became the head first: catch up and call again with
    /// the build handed back.
    Behind(F),
}

/// What a build hands `append`: the revision to store, and what to answer.
pub type Draft<T> = (Option<RevisionFile>, T);

/// A document's version: changes whenever the document does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Version(pub u64);

/// Names of the documents, so each backend knows them all (the data
/// directory keeps each in a file of that name).
pub mod documents {
    pub const USERS: &str = "users.json";
    pub const INGEST_KEYS: &str = "ingest-keys.json";
    pub const SDK_KEYS: &str = "sdk-keys.json";
    pub const WEBHOOKS: &str = "webhooks.json";
    pub const DELIVERIES: &str = "deliveries.json";
    pub const ACKNOWLEDGEMENTS: &str = "acknowledgements.json";
    /// Every document: what a copy moves, what a crash may leave half written.
    pub const ALL: [&str; 6] = [
        USERS,
        INGEST_KEYS,
        SDK_KEYS,
        WEBHOOKS,
        DELIVERIES,
        ACKNOWLEDGEMENTS,
    ];
    /// Documents that hold secrets: files readable by their owner only.
    pub const PRIVATE: &[&str] = &[WEBHOOKS];
}

/// Everything a store holds, as `stagegate migrate` copies it between backends.
pub struct Contents {
    pub revisions: Vec<RevisionFile>,
    /// The highest revision number the store handed out (revisions set
    /// aside as damaged included): none of these is handed out again.
    pub numbers_used: u64,
    pub documents: Vec<(&'static str, String)>,
    pub counts: Vec<CountDelta>,
}

/// One metric count change: `n` more for a series' minute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CountDelta {
    pub series: String,
    pub minute: u32,
    pub n: u64,
}

/// What the other servers changed since a server last looked (PostgreSQL only).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Notice {
    /// The newest revision the database holds, as last heard.
    pub revision: u64,
    /// Bumped whenever any document may have changed.
    pub documents: u64,
}

#[derive(Clone)]
pub enum Storage {
    Dir(Arc<dir::DirStorage>),
    Postgres(Arc<postgres::PgStorage>),
}

impl Storage {
    /// Opens the data directory (creating it) or connects to the database,
    /// applying its migrations. A database that is down is waited for, with
    /// a message every few seconds, until it answers.
    pub async fn open(location: &Location) -> anyhow::Result<Storage> {
        Ok(match location {
            Location::Dir(path) => Storage::Dir(Arc::new(dir::DirStorage::open(path)?)),
            Location::Postgres(url) => {
                Storage::Postgres(Arc::new(postgres::PgStorage::connect(url).await?))
            }
        })
    }

    /// `open`, for the documents only (the CLI's commands): a data directory's
    /// revisions are not read, so one that was never served opens too.
    pub async fn open_documents(location: &Location) -> anyhow::Result<Storage> {
        Ok(match location {
            Location::Dir(path) => Storage::Dir(Arc::new(dir::DirStorage::open_documents(path)?)),
            // A command gives up where a server would wait.
            Location::Postgres(_) => {
                tokio::time::timeout(std::time::Duration::from_secs(10), Storage::open(location))
                    .await
                    .map_err(|_| {
                        anyhow::anyhow!("--store: PostgreSQL did not answer within 10 s")
                    })??
            }
        })
    }

    pub fn describe(&self) -> String {
        match self {
            Storage::Dir(dir) => dir.path().display().to_string(),
            Storage::Postgres(pg) => pg.describe(),
        }
    }

    /// Whether nothing has ever been stored: the default plan may be seeded.
    pub async fn is_new(&self) -> Result<bool, StorageError> {
        match self {
            Storage::Dir(dir) => Ok(dir.is_new()),
            Storage::Postgres(pg) => pg.is_new().await,
        }
    }

    /// Every revision after `after`, oldest first. The data directory refuses
    /// to go on past a damaged file (`Io`, saying how to recover).
    pub async fn revisions_after(&self, after: u64) -> Result<Vec<RevisionFile>, StorageError> {
        match self {
            Storage::Dir(dir) => {
                let dir = dir.clone();
                blocking(move || dir.revisions_after(after)).await
            }
            Storage::Postgres(pg) => pg.revisions_after(after).await,
        }
    }

    /// One stored revision.
    pub async fn revision(&self, number: u64) -> Result<Option<RevisionFile>, StorageError> {
        match self {
            Storage::Dir(dir) => {
                let dir = dir.clone();
                blocking(move || dir.revision(number)).await
            }
            Storage::Postgres(pg) => pg.revision(number).await,
        }
    }

    /// The newest revision's number.
    pub async fn head(&self) -> Result<u64, StorageError> {
        match self {
            Storage::Dir(dir) => Ok(dir.head()),
            Storage::Postgres(pg) => pg.head().await,
        }
    }

    /// Stores the next revision if `head` is still the newest: `build` gets
    /// the number the store assigns and returns the revision to store (whose
    /// plan and audit entry carry that number) and the answer. Nothing is
    /// stored when `build` refuses or has nothing to write.
    ///
    /// The data directory assigns the number after the highest it ever handed
    /// out; PostgreSQL moves its head row forward in the same transaction that
    /// inserts the revision, so two servers never hand out one number and
    /// only one write wins per base.
    pub async fn append<T, E, F>(
        &self,
        head: u64,
        build: F,
    ) -> Result<Append<T, E, F>, StorageError>
    where
        F: FnOnce(u64) -> Result<Draft<T>, E>,
    {
        match self {
            Storage::Dir(dir) => dir.append(head, build).await,
            Storage::Postgres(pg) => pg.append(head, build).await,
        }
    }

    /// A document and its version (`None` if it was never written).
    pub async fn document(
        &self,
        name: &'static str,
    ) -> Result<Option<(String, Version)>, StorageError> {
        match self {
            Storage::Dir(dir) => {
                let dir = dir.clone();
                blocking(move || dir.document(name)).await
            }
            Storage::Postgres(pg) => pg.document(name).await,
        }
    }

    /// A document's version, cheaply: has it changed since it was read?
    pub async fn document_version(
        &self,
        name: &'static str,
    ) -> Result<Option<Version>, StorageError> {
        match self {
            Storage::Dir(dir) => Ok(dir.document_version(name)),
            Storage::Postgres(pg) => pg.document_version(name).await,
        }
    }

    /// Changes a document under a lock that holds across processes and
    /// servers: `edit` gets it as it is now and returns the new text (or
    /// refuses, and nothing is written).
    pub async fn update_document<T, E>(
        &self,
        name: &'static str,
        edit: impl FnOnce(Option<&str>) -> Result<(String, T), E> + Send + 'static,
    ) -> Result<Result<T, E>, StorageError>
    where
        T: Send + 'static,
        E: Send + 'static,
    {
        match self {
            Storage::Dir(dir) => {
                let dir = dir.clone();
                blocking(move || dir.update_document(name, edit)).await
            }
            Storage::Postgres(pg) => pg.update_document(name, edit).await,
        }
    }

    /// Adds counts. The data directory appends them to its log; PostgreSQL
    /// adds them to the stored totals, so every server's counts add up.
    pub async fn add_counts(&self, deltas: Vec<CountDelta>) -> Result<(), StorageError> {
        match self {
            Storage::Dir(dir) => {
                let dir = dir.clone();
                blocking(move || dir.add_counts(&deltas)).await
            }
            Storage::Postgres(pg) => {
                let batch = format!(
                    "once-{}",
                    crate::util::random_hex(12).map_err(|e| StorageError::Io(e.to_string()))?
                );
                pg.add_counts(&batch, &deltas).await
            }
        }
    }

    /// Whether this server takes the decisions that must be taken once
    /// (the guardrails). Always, on a data directory; on PostgreSQL, the one
    /// server holding the leader's advisory lock.
    pub async fn leads(&self) -> bool {
        match self {
            Storage::Dir(_) => true,
            Storage::Postgres(pg) => pg.leads().await,
        }
    }

    /// What other servers change, as notifications and a periodic check
    /// tell it (`None` on a data directory: nobody else writes it).
    pub fn notices(&self) -> Option<tokio::sync::watch::Receiver<Notice>> {
        match self {
            Storage::Dir(_) => None,
            Storage::Postgres(pg) => Some(pg.notices()),
        }
    }
}

/// Runs file work off the threads that serve requests.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| StorageError::Io(error.to_string()))?
}
