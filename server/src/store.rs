//! The config store: every revision of the plan in its backend (`storage`), the
//! current one in memory, prepared for every kind of read.
//!
//! Writes go through one writer per server: check the base, build the next
//! plan, and hand it to the backend, which stores it only if no other server
//! wrote first (then this one catches up and tries again). Revisions other
//! servers write arrive by `catch_up`, which the backend's notices trigger. The
//! store knows nothing of HTTP: it answers with [`StoreError`], which the API
//! maps to responses.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::http::HeaderValue;
use bytes::Bytes;
use evaluator::Evaluator;
use evaluator::model::Plan;

use evaluator::gate::Refusal;
use evaluator::model::{GATED_ENVIRONMENT, Role};
use sha2::{Digest, Sha256};

use crate::audit::{AuditEntry, summarize};
use evaluator::digest::hex;

pub use crate::storage::RevisionFile;
use crate::storage::{Append, Storage, StorageError};
use crate::util::now_rfc3339;

/// Why the store refused or failed a write.
#[derive(Debug)]
pub enum StoreError {
    /// The write was based on an older revision than the current one.
    Stale { current: u64 },
    /// The plan, as the write would leave it, breaks the rules.
    Invalid(Vec<evaluator::Problem>),
    /// The gate refused the write.
    Gate(Refusal),
    /// No such revision.
    NoRevision(u64),
    /// The disk failed; nothing was written.
    Io(String),
    /// The database cannot be reached now; nothing was written.
    Unavailable(String),
}

impl From<StorageError> for StoreError {
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::Unavailable(message) => StoreError::Unavailable(message),
            StorageError::Io(message) => StoreError::Io(message),
        }
    }
}

impl From<evaluator::Invalid> for StoreError {
    fn from(invalid: evaluator::Invalid) -> Self {
        StoreError::Invalid(invalid.0)
    }
}

/// The plan seeded as revision 1 into an empty data directory.
pub const DEFAULT_PLAN: &str = include_str!("../../static/default-plan.json");

/// The current revision, prepared for every kind of read so that reads are an
/// `Arc` clone: the evaluator, the plan's JSON and each environment's client document.
pub struct Current {
    pub evaluator: Evaluator,
    pub plan_json: Bytes,
    pub etag: HeaderValue,
    pub clients: HashMap<String, ClientDocument>,
}

/// One environment's public document. Its `revision` is the revision that last
/// changed it, and its ETag a digest of its body: a write elsewhere in the plan
/// changes neither, so apps holding it download nothing.
#[derive(Clone)]
pub struct ClientDocument {
    pub body: Bytes,
    pub etag: HeaderValue,
    /// The revision that last changed it (the body's `revision`).
    pub revision: u64,
    /// Digest of the document without its revision: what decides "changed".
    content: [u8; 32],
}

impl Current {
    /// Prepares a revision; `previous` lends its client documents to the
    /// environments whose content this revision leaves as it was.
    fn new(evaluator: Evaluator, previous: Option<&Current>) -> anyhow::Result<Self> {
        let plan = evaluator.plan();
        let etag = etag(plan.revision);
        let mut clients = HashMap::new();
        for rollout in plan.rollouts.values() {
            for name in rollout.environments.keys() {
                if clients.contains_key(name) {
                    continue;
                }
                let Some(mut document) = plan.client_document(name) else {
                    continue;
                };
                document.revision = 0;
                let content: [u8; 32] = Sha256::digest(serde_json::to_vec(&document)?).into();
                let kept = previous
                    .and_then(|previous| previous.clients.get(name))
                    .filter(|kept| kept.content == content);
                let client = match kept {
                    Some(kept) => kept.clone(),
                    None => {
                        document.revision = plan.revision;
                        let body = Bytes::from(serde_json::to_vec(&document)?);
                        let tag = format!("\"{}\"", hex(&Sha256::digest(&body)[..12]));
                        ClientDocument {
                            body,
                            etag: HeaderValue::from_str(&tag)?,
                            revision: plan.revision,
                            content,
                        }
                    }
                };
                clients.insert(name.clone(), client);
            }
        }
        let plan_json = Bytes::from(serde_json::to_vec(plan)?);
        Ok(Current {
            evaluator,
            plan_json,
            etag,
            clients,
        })
    }

    pub fn plan(&self) -> &Plan {
        self.evaluator.plan()
    }

    pub fn revision(&self) -> u64 {
        self.evaluator.revision()
    }
}

/// The ETag of a revision: `"12"`.
pub fn etag(revision: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{revision}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// What a write is, for its audit entry and the gate.
pub struct Change {
    pub author: String,
    /// The author's role: the gate asks whether it may lower requirements.
    pub role: Role,
    pub action: &'static str,
    pub comment: String,
    /// The revision the writer saw (If-Match); `None` to write on top of whatever is current.
    pub base: Option<u64>,
}

/// A write's answer: the new current revision and its audit entry (none when
/// the write changed nothing).
type Written = (Arc<Current>, Option<AuditEntry>);

/// What the store announces to those waiting for a write (`GET /api/changes`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Feed {
    /// The current revision.
    pub revision: u64,
    /// The server is shutting down: waiting readers should answer now.
    pub closing: bool,
}

pub struct Store {
    storage: Storage,
    current: Arc<RwLock<Arc<Current>>>,
    /// Every audit entry, oldest first.
    audit: Arc<RwLock<Vec<Arc<AuditEntry>>>>,
    /// One writer at a time in this server: check base, build, store, publish
    /// (catching up with other servers' revisions counts as a write).
    writer: Arc<tokio::sync::Mutex<()>>,
    feed: Arc<tokio::sync::watch::Sender<Feed>>,
}

impl Store {
    /// Opens the store on `storage`, seeding the default plan into one that is
    /// wholly new. Returns the store and whether it was seeded just now.
    pub async fn open(storage: Storage) -> anyhow::Result<(Store, bool)> {
        let files = storage
            .revisions_after(0)
            .await
            .map_err(|error| anyhow::anyhow!("{error}"))?;
        let mut audit = Vec::new();
        let mut current: Option<Current> = None;
        for file in files {
            let number = file.plan.revision;
            audit.push(Arc::new(file.audit));
            let evaluator = Evaluator::from_plan(file.plan)
                .map_err(|invalid| anyhow::anyhow!("revision {number}: {invalid}"))?;
            current = Some(Current::new(evaluator, current.as_ref())?);
        }
        let mut seeded = false;
        let current = match current {
            Some(current) => current,
            None if storage.is_new().await? => {
                let mut plan = evaluator::parse_plan(DEFAULT_PLAN).map_err(|invalid| {
                    anyhow::anyhow!("the built-in default plan is invalid: {invalid}")
                })?;
                let seed = move |number: u64| {
                    plan.revision = number;
                    let audit = AuditEntry {
                        revision: number,
                        base_revision: None,
                        author: "stagegate".into(),
                        at: now_rfc3339(),
                        action: "seed".into(),
                        summary: vec!["seeded the default plan".into()],
                        comment: "first start".into(),
                    };
                    let file = RevisionFile { audit, plan };
                    Ok::<_, StorageError>((Some(file.clone()), file))
                };
                match storage.append(0, seed).await? {
                    Append::Written(file) => {
                        seeded = true;
                        audit.push(Arc::new(file.audit));
                        let evaluator = Evaluator::from_plan(file.plan)
                            .map_err(|invalid| anyhow::anyhow!("the default plan: {invalid}"))?;
                        Current::new(evaluator, None)?
                    }
                    // Another server seeded it first: read what it wrote.
                    Append::Behind(_) => {
                        let file = storage
                            .revisions_after(0)
                            .await?
                            .into_iter()
                            .next()
                            .ok_or_else(|| anyhow::anyhow!("the store lost its first revision"))?;
                        audit.push(Arc::new(file.audit));
                        Current::new(Evaluator::from_plan(file.plan)?, None)?
                    }
                    Append::Nothing(_) | Append::Refused(_) => {
                        anyhow::bail!("the default plan was not stored")
                    }
                }
            }
            None => anyhow::bail!(
                "{} holds no readable revision, but is not new: refusing to start a new history \
                 over it. Restore the revisions from a backup, or start with an empty store.",
                storage.describe()
            ),
        };
        let feed = Feed {
            revision: current.revision(),
            closing: false,
        };
        let store = Store {
            storage,
            current: Arc::new(RwLock::new(Arc::new(current))),
            audit: Arc::new(RwLock::new(audit)),
            writer: Arc::new(tokio::sync::Mutex::new(())),
            feed: Arc::new(tokio::sync::watch::channel(feed).0),
        };
        Ok((store, seeded))
    }

    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    pub fn current(&self) -> Arc<Current> {
        // A poisoned lock still holds a complete Arc: the swap is a single store.
        self.current
            .read()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone()
    }

    /// Hears of every write after it is published (and of shutdown).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<Feed> {
        self.feed.subscribe()
    }

    /// Tells those waiting for a write to answer now: the server is stopping.
    pub fn close(&self) {
        self.feed.send_modify(|feed| feed.closing = true);
    }

    /// The audit entries of the revisions after `after`, oldest first, at most the newest `limit`.
    pub fn audit_after(&self, after: u64, limit: usize) -> Vec<Arc<AuditEntry>> {
        let audit = self
            .audit
            .read()
            .unwrap_or_else(|poison| poison.into_inner());
        // Oldest first, revisions ascending: the tail is what is new.
        let newer = audit.partition_point(|entry| entry.revision <= after);
        let start = newer.max(audit.len().saturating_sub(limit));
        audit[start..].to_vec()
    }

    pub fn audit(&self) -> Vec<Arc<AuditEntry>> {
        self.audit
            .read()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone()
    }

    /// A stored revision's plan.
    pub async fn revision(&self, number: u64) -> Result<Plan, StoreError> {
        let exists = self
            .audit
            .read()
            .unwrap_or_else(|poison| poison.into_inner())
            .iter()
            .any(|entry| entry.revision == number);
        if !exists {
            return Err(StoreError::NoRevision(number));
        }
        match self.storage.revision(number).await? {
            Some(file) => Ok(file.plan),
            // Listed in the history, gone from the store: damage, not a 404.
            None => Err(StoreError::Io(format!(
                "revision {number} is missing from the store"
            ))),
        }
    }

    /// Reads and publishes the revisions other servers stored since this
    /// one's current; returns how many.
    pub async fn catch_up(&self) -> Result<usize, StoreError> {
        let _writer = self.writer.lock().await;
        self.catch_up_locked().await
    }

    async fn catch_up_locked(&self) -> Result<usize, StoreError> {
        let mut current = self.current();
        let files = self.storage.revisions_after(current.revision()).await?;
        let count = files.len();
        for file in files {
            let evaluator = Evaluator::from_plan(file.plan).map_err(StoreError::from)?;
            let next = Current::new(evaluator, Some(&current))
                .map_err(|error| StoreError::Io(format!("{error:#}")))?;
            current = Arc::new(next);
            self.publish(current.clone(), file.audit);
        }
        Ok(count)
    }

    /// Makes `next` the current revision: readers see it, then the feed tells
    /// those waiting (last, so a reader woken by it finds the revision and its entry).
    fn publish(&self, next: Arc<Current>, entry: AuditEntry) {
        let revision = next.revision();
        *self
            .current
            .write()
            .unwrap_or_else(|poison| poison.into_inner()) = next;
        self.audit
            .write()
            .unwrap_or_else(|poison| poison.into_inner())
            .push(Arc::new(entry));
        self.feed.send_modify(|feed| feed.revision = revision);
    }

    /// Keeps this server current with what other servers write, for as long
    /// as the server runs (nothing to do on a data directory).
    pub fn follow(self: &Arc<Self>) {
        let Some(mut notices) = self.storage.notices() else {
            return;
        };
        let store = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(strong) = store.upgrade() else {
                    return;
                };
                let wanted = notices.borrow_and_update().revision;
                if wanted > strong.current().revision()
                    && let Err(error) = strong.catch_up().await
                {
                    tracing::warn!("catching up with the store: {error:?}");
                    drop(strong);
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    continue;
                }
                drop(strong);
                if notices.changed().await.is_err() {
                    return;
                }
            }
        });
    }

    /// Writes a new revision: `edit` turns the current plan into the next one.
    /// Nothing is written unless the base matches, the result validates and passes
    /// the gate, and it differs from the current plan (a write that changes
    /// nothing answers with the current revision). The revision number and the
    /// other fields the store owns are the store's, whatever `edit` set.
    ///
    /// If another server stored a revision first, this one catches up and
    /// builds again on the new current plan (so `edit` may run more than once;
    /// a write with a base then fails as stale).
    pub async fn write<E: From<StoreError>>(
        &self,
        change: Change,
        mut edit: impl FnMut(&Plan) -> Result<Plan, E>,
    ) -> Result<Arc<Current>, E> {
        let _writer = self.writer.lock().await;
        // Each round loses only to a revision another server stored meanwhile.
        for _ in 0..16 {
            let current = self.current();
            if let Some(base) = change.base
                && base != current.revision()
            {
                return Err(StoreError::Stale {
                    current: current.revision(),
                }
                .into());
            }
            let build = {
                let current = current.clone();
                let edit = &mut edit;
                let (author, role, action, comment) = (
                    change.author.clone(),
                    change.role,
                    change.action,
                    change.comment.clone(),
                );
                move |number: u64| -> Result<(Option<RevisionFile>, Written), E> {
                    let old = current.plan();
                    let mut plan = edit(old)?;
                    let at = now_rfc3339();
                    settle(old, &mut plan, number, &author, &at);
                    let unchanged = Plan {
                        revision: old.revision,
                        ..plan.clone()
                    } == *old;
                    if unchanged {
                        return Ok((None, (current, None)));
                    }
                    let evaluator = Evaluator::from_plan(plan).map_err(StoreError::from)?;
                    let plan = evaluator.plan();
                    evaluator::gate::check(old, plan, role).map_err(StoreError::Gate)?;
                    let audit = AuditEntry {
                        revision: plan.revision,
                        base_revision: Some(old.revision),
                        author,
                        at,
                        action: action.into(),
                        summary: summarize(old, plan),
                        comment,
                    };
                    let file = RevisionFile {
                        audit: audit.clone(),
                        plan: plan.clone(),
                    };
                    let next = Current::new(evaluator, Some(&current))
                        .map_err(|error| StoreError::Io(format!("{error:#}")))?;
                    Ok((Some(file), (Arc::new(next), Some(audit))))
                }
            };
            match self
                .storage
                .append(current.revision(), build)
                .await
                .map_err(StoreError::from)?
            {
                Append::Written((next, Some(entry))) => {
                    self.publish(next.clone(), entry);
                    return Ok(next);
                }
                Append::Written((current, None)) | Append::Nothing((current, _)) => {
                    return Ok(current);
                }
                Append::Refused(error) => return Err(error),
                Append::Behind(_) => {
                    self.catch_up_locked().await?;
                }
            }
        }
        Err(StoreError::Unavailable("other servers kept writing first: try again".into()).into())
    }
}

/// Sets what the store owns on the plan a write proposes: the revision number,
/// when production last rolled back (kept from `old`, or this revision if
/// this write rolls it back), which revision recorded each sign-off, and who
/// ticked each checklist item when.
fn settle(old: &Plan, plan: &mut Plan, revision: u64, author: &str, at: &str) {
    plan.revision = revision;
    for (key, rollout) in plan.rollouts.iter_mut() {
        let before = old.rollouts.get(key);
        for (index, item) in rollout.checklist.iter_mut().enumerate() {
            // The same item: same place, same words.
            let was = before
                .and_then(|r| r.checklist.get(index))
                .filter(|was| was.phase == item.phase && was.item == item.item);
            match was {
                Some(was) if was.done == item.done => {
                    item.done_by.clone_from(&was.done_by);
                    item.done_at.clone_from(&was.done_at);
                }
                // Ticked or unticked by this write, or new and already done.
                Some(_) => {
                    item.done_by = Some(author.to_string());
                    item.done_at = Some(at.to_string());
                }
                None if item.done => {
                    item.done_by = Some(author.to_string());
                    item.done_at = Some(at.to_string());
                }
                None => {
                    item.done_by = None;
                    item.done_at = None;
                }
            }
        }
        let stages: Vec<String> = rollout.stages.iter().map(|s| s.id.clone()).collect();
        for (name, env) in rollout.environments.iter_mut() {
            let old_env = before.and_then(|r| r.environments.get(name));
            env.rolled_back_at = old_env.and_then(|e| e.rolled_back_at);
            // Only the gate reads it, and the gate guards one environment.
            let Some(old_env) = old_env.filter(|_| name == GATED_ENVIRONMENT) else {
                continue;
            };
            let position = |id: &Option<String>| {
                let id = id.as_deref()?;
                before?.stages.iter().position(|s| s.id == id)
            };
            let killed = !old_env.kill_switch && env.kill_switch;
            let stopped = old_env.active_stage.is_some() && env.active_stage.is_none();
            let stepped_back = matches!(
                (position(&old_env.active_stage), position(&env.active_stage)),
                (Some(from), Some(to)) if to < from
            ) && env
                .active_stage
                .as_ref()
                .is_some_and(|id| stages.contains(id));
            if killed || stopped || stepped_back {
                env.rolled_back_at = Some(revision);
            }
        }
    }
    for signoff in &mut plan.signoffs {
        signoff.revision = old
            .signoffs
            .iter()
            .find(|s| s.id == signoff.id)
            .map_or(revision, |s| s.revision);
    }
}

pub use crate::storage::dir::{file_name, newest_plan, read_revision};

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::Path;

    use super::*;
    use crate::storage::Location;

    async fn open(data: &Path) -> anyhow::Result<(Store, bool)> {
        Store::open(Storage::open(&Location::Dir(data.to_path_buf())).await?).await
    }

    fn change(base: Option<u64>) -> Change {
        Change {
            author: "test".into(),
            role: Role::Editor,
            action: "put-plan",
            comment: String::new(),
            base,
        }
    }

    /// A write that changes the description of the default rollout.
    async fn touch(store: &Store, text: &str) -> Result<Arc<Current>, StoreError> {
        store
            .write(change(None), |old| {
                let mut plan = old.clone();
                plan.rollouts
                    .get_mut("domain-migration")
                    .unwrap()
                    .description = Some(text.into());
                Ok::<_, StoreError>(plan)
            })
            .await
    }

    #[tokio::test]
    async fn temp_files_are_dropped_and_damage_stops_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let (store, seeded) = open(dir.path()).await.unwrap();
        assert!(seeded);
        touch(&store, "two").await.unwrap();
        drop(store);

        let revisions = dir.path().join("revisions");
        // A crash mid-write: a temp file that was never renamed.
        fs::write(revisions.join("000003.json.tmp"), "{\"torn").unwrap();
        let (store, seeded) = open(dir.path()).await.unwrap();
        assert!(!seeded);
        assert_eq!(store.current().revision(), 2);
        assert!(!revisions.join("000003.json.tmp").exists());
        assert_eq!(store.audit().len(), 2);
        drop(store);

        // Damage from outside to the newest file: no start, and the message says
        // which file and how to recover.
        fs::write(revisions.join("000002.json"), "garbage").unwrap();
        let error = format!("{:#}", open(dir.path()).await.err().unwrap());
        assert!(error.contains("000002.json"), "{error}");
        assert!(error.contains(".damaged"), "{error}");
        // Set aside as told: revision 1 is served, and 2 is never handed out again.
        fs::rename(
            revisions.join("000002.json"),
            revisions.join("000002.json.damaged"),
        )
        .unwrap();
        let (store, _) = open(dir.path()).await.unwrap();
        assert_eq!(store.current().revision(), 1);
        let next = touch(&store, "three").await.unwrap();
        assert_eq!(next.revision(), 3);
        assert_eq!(read_revision(&revisions, 3).unwrap().plan.revision, 3);
        assert!(matches!(
            store.revision(2).await,
            Err(StoreError::NoRevision(2))
        ));
    }

    #[tokio::test]
    async fn a_lost_history_is_not_seeded_again() {
        let dir = tempfile::tempdir().unwrap();
        drop(open(dir.path()).await.unwrap());
        fs::write(dir.path().join("users.json"), "{}").unwrap();
        for entry in fs::read_dir(dir.path().join("revisions")).unwrap() {
            fs::remove_file(entry.unwrap().path()).unwrap();
        }
        let error = format!("{:#}", open(dir.path()).await.err().unwrap());
        assert!(error.contains("refusing to start a new history"), "{error}");
        fs::remove_dir(dir.path().join("revisions")).unwrap();
        assert!(open(dir.path()).await.is_err());
        // A wholly new directory is seeded.
        let new = tempfile::tempdir().unwrap();
        assert!(open(&new.path().join("data")).await.unwrap().1);
    }

    #[tokio::test]
    async fn client_documents_change_etag_only_when_their_content_does() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = open(dir.path()).await.unwrap();
        let first = store.current();
        let production = first.clients["production"].clone();
        // Descriptions are not in client documents.
        let second = touch(&store, "elsewhere").await.unwrap();
        assert_eq!(second.clients["production"].etag, production.etag);
        assert_eq!(second.clients["production"].body, production.body);
        let third = store
            .write(change(None), |old| {
                let mut plan = old.clone();
                let rollout = plan.rollouts.get_mut("domain-migration").unwrap();
                rollout.environments.get_mut("staging").unwrap().kill_switch = true;
                Ok::<_, StoreError>(plan)
            })
            .await
            .unwrap();
        assert_eq!(third.clients["production"].etag, production.etag);
        assert_ne!(third.clients["staging"].etag, first.clients["staging"].etag);
        assert!(String::from_utf8_lossy(&third.clients["staging"].body).contains("\"revision\":3"));
        // After a restart the same content has the same ETag.
        drop(store);
        let (store, _) = open(dir.path()).await.unwrap();
        assert_eq!(
            store.current().clients["staging"].etag,
            third.clients["staging"].etag
        );
        assert_eq!(store.current().clients["production"].etag, production.etag);
    }

    #[tokio::test]
    async fn refused_and_empty_writes_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = open(dir.path()).await.unwrap();
        let stale = store
            .write(change(Some(7)), |old| Ok::<_, StoreError>(old.clone()))
            .await;
        assert!(matches!(stale, Err(StoreError::Stale { current: 1 })));
        let invalid = store
            .write(change(None), |old| {
                let mut plan = old.clone();
                plan.rollouts.clear();
                Ok::<_, StoreError>(plan)
            })
            .await;
        assert!(matches!(invalid, Err(StoreError::Invalid(_))));
        let same = store
            .write(change(Some(1)), |old| Ok::<_, StoreError>(old.clone()))
            .await
            .unwrap();
        assert_eq!(same.revision(), 1);
        assert_eq!(store.current().revision(), 1);
        assert_eq!(
            fs::read_dir(dir.path().join("revisions")).unwrap().count(),
            1
        );
    }
}
