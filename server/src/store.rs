//! The config store: every revision of the plan on disk, the current one in memory.
//!
//! Layout: `DIR/revisions/000001.json`, … one file per revision holding
//! `{"audit": AuditEntry, "plan": Plan}`. Keeping a revision and its audit entry in
//! one file means one atomic rename commits both: there is never a revision
//! without its audit entry, nor the reverse, and each write costs one file fsync
//! and one directory fsync.
//!
//! A revision number is never handed out twice: a damaged file stops the server
//! (with the path and how to recover) instead of being skipped, and a file set
//! aside as `NNNNNN.json.damaged` still holds its number. The store knows nothing
//! of HTTP: it answers with [`StoreError`], which the API maps to responses.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use anyhow::Context as _;
use axum::http::HeaderValue;
use bytes::Bytes;
use evaluator::Evaluator;
use evaluator::model::Plan;
use serde::{Deserialize, Serialize};

use evaluator::gate::Refusal;
use evaluator::model::{GATED_ENVIRONMENT, Role};
use sha2::{Digest, Sha256};

use crate::audit::{AuditEntry, summarize};
use evaluator::digest::hex;

use crate::util::{now_rfc3339, remove_temp_files, write_atomic};

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
}

impl From<evaluator::Invalid> for StoreError {
    fn from(invalid: evaluator::Invalid) -> Self {
        StoreError::Invalid(invalid.0)
    }
}

/// The plan seeded as revision 1 into an empty data directory.
pub const DEFAULT_PLAN: &str = include_str!("../../static/default-plan.json");

/// One revision file.
#[derive(Serialize, Deserialize)]
pub struct RevisionFile {
    pub audit: AuditEntry,
    pub plan: Plan,
}

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

/// What the store announces to those waiting for a write (`GET /api/changes`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Feed {
    /// The current revision.
    pub revision: u64,
    /// The server is shutting down: waiting readers should answer now.
    pub closing: bool,
}

pub struct Store {
    revisions: PathBuf,
    current: Arc<RwLock<Arc<Current>>>,
    /// Every audit entry, oldest first.
    audit: Arc<RwLock<Vec<Arc<AuditEntry>>>>,
    /// One writer at a time: check base, validate, write, publish. Holds the
    /// highest revision number ever handed out (set-aside files included).
    writer: Arc<tokio::sync::Mutex<u64>>,
    feed: Arc<tokio::sync::watch::Sender<Feed>>,
}

impl Store {
    /// Opens (creating or seeding) the store under `data`. Returns the store and
    /// whether it was seeded just now. Seeds only a data directory that is wholly
    /// new; refuses one with damaged revisions, or one that has lost them.
    pub fn open(data: &Path) -> anyhow::Result<(Store, bool)> {
        let fresh = is_new_data_dir(data)?;
        let revisions = data.join("revisions");
        fs::create_dir_all(&revisions)
            .with_context(|| format!("creating {}", revisions.display()))?;
        // Make the directory entry of `revisions` itself durable (it may be new):
        // fsyncing the files inside it does not persist its name in `data`.
        crate::util::sync_dir(data).with_context(|| format!("syncing {}", data.display()))?;
        // A crash mid-write leaves at most a temp file; the rename never happened,
        // so nobody was told the write succeeded.
        remove_temp_files(&revisions)?;

        let (numbers, set_aside) = revision_numbers(&revisions)?;
        let mut audit = Vec::new();
        let mut current: Option<Current> = None;
        for &number in &numbers {
            let file = read_revision(&revisions, number).map_err(|error| {
                let path = revisions.join(file_name(number));
                anyhow::anyhow!(
                    "{error:#}\n\nstagegate will not start on a damaged history. Restore {path} from a \
                     backup, or set it aside as {path}.damaged: stagegate then serves the newest revision \
                     that reads, and never hands out number {number} again.",
                    path = path.display()
                )
            })?;
            audit.push(Arc::new(file.audit));
            let evaluator = Evaluator::from_plan(file.plan)
                .map_err(|invalid| anyhow::anyhow!("revision {number}: {invalid}"))?;
            current = Some(Current::new(evaluator, current.as_ref())?);
        }
        let high_water = numbers.iter().chain(&set_aside).copied().max().unwrap_or(0);

        let seeded = current.is_none();
        let current = match current {
            Some(current) => current,
            None if fresh && high_water == 0 => {
                let mut plan = evaluator::parse_plan(DEFAULT_PLAN).map_err(|invalid| {
                    anyhow::anyhow!("the built-in default plan is invalid: {invalid}")
                })?;
                plan.revision = 1;
                let entry = AuditEntry {
                    revision: 1,
                    base_revision: None,
                    author: "stagegate".into(),
                    at: now_rfc3339(),
                    action: "seed".into(),
                    summary: vec!["seeded the default plan".into()],
                    comment: "first start".into(),
                };
                let bytes = serde_json::to_vec_pretty(&RevisionFile {
                    audit: entry.clone(),
                    plan: plan.clone(),
                })?;
                write_atomic(&revisions, &file_name(1), &bytes)?;
                audit.push(Arc::new(entry));
                let evaluator = Evaluator::from_plan(plan)
                    .map_err(|invalid| anyhow::anyhow!("the default plan: {invalid}"))?;
                Current::new(evaluator, None)?
            }
            None => anyhow::bail!(
                "{} holds no readable revision, but {} is not a new data directory (it has other \
                 files, or revisions set aside): refusing to start a new history over it. Restore \
                 the revisions from a backup, or start with an empty directory.",
                revisions.display(),
                data.display()
            ),
        };
        let high_water = high_water.max(current.revision());
        let feed = Feed {
            revision: current.revision(),
            closing: false,
        };
        let store = Store {
            revisions,
            current: Arc::new(RwLock::new(Arc::new(current))),
            audit: Arc::new(RwLock::new(audit)),
            writer: Arc::new(tokio::sync::Mutex::new(high_water)),
            feed: Arc::new(tokio::sync::watch::channel(feed).0),
        };
        Ok((store, seeded))
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
        let dir = self.revisions.clone();
        tokio::task::spawn_blocking(move || read_revision(&dir, number))
            .await
            .map_err(|error| StoreError::Io(error.to_string()))?
            .map(|file| file.plan)
            .map_err(|error| StoreError::Io(format!("{error:#}")))
    }

    /// Writes a new revision: `edit` turns the current plan into the next one.
    /// Nothing is written unless the base matches, the result validates and passes
    /// the gate, and it differs from the current plan (a write that changes
    /// nothing answers with the current revision). The revision number and the
    /// other fields the store owns are the store's, whatever `edit` set.
    pub async fn write<E: From<StoreError>>(
        &self,
        change: Change,
        edit: impl FnOnce(&Plan) -> Result<Plan, E>,
    ) -> Result<Arc<Current>, E> {
        let mut writer = self.writer.clone().lock_owned().await;
        let current = self.current();
        let old = current.plan();
        if let Some(base) = change.base
            && base != old.revision
        {
            return Err(StoreError::Stale {
                current: old.revision,
            }
            .into());
        }
        let mut plan = edit(old)?;
        let at = now_rfc3339();
        settle(old, &mut plan, *writer + 1, &change.author, &at);
        let unchanged = Plan {
            revision: old.revision,
            ..plan.clone()
        } == *old;
        if unchanged {
            return Ok(current);
        }
        let evaluator = Evaluator::from_plan(plan).map_err(StoreError::from)?;
        let plan = evaluator.plan();
        evaluator::gate::check(old, plan, change.role).map_err(StoreError::Gate)?;

        let entry = AuditEntry {
            revision: plan.revision,
            base_revision: Some(old.revision),
            author: change.author,
            at,
            action: change.action.into(),
            summary: summarize(old, plan),
            comment: change.comment,
        };
        let bytes = serde_json::to_vec_pretty(&RevisionFile {
            audit: entry.clone(),
            plan: plan.clone(),
        })
        .map_err(|error| StoreError::Io(error.to_string()))?;
        let next = Arc::new(
            Current::new(evaluator, Some(&current))
                .map_err(|error| StoreError::Io(format!("{error:#}")))?,
        );

        // Write and publish on a blocking thread that owns the writer lock: fsync
        // stays off the threads serving reads, and if the request is dropped midway
        // (client gone) the write still completes and is published before the next
        // writer may start, so memory and disk never disagree.
        let (dir, name) = (self.revisions.clone(), file_name(entry.revision));
        let (current_slot, audit_slot, published, feed) = (
            self.current.clone(),
            self.audit.clone(),
            next.clone(),
            self.feed.clone(),
        );
        tokio::task::spawn_blocking(move || {
            write_atomic(&dir, &name, &bytes)?;
            *writer = entry.revision;
            *current_slot
                .write()
                .unwrap_or_else(|poison| poison.into_inner()) = published;
            let revision = entry.revision;
            audit_slot
                .write()
                .unwrap_or_else(|poison| poison.into_inner())
                .push(Arc::new(entry));
            // Last: a reader woken by the feed finds the revision and its entry.
            feed.send_modify(|feed| feed.revision = revision);
            Ok::<(), std::io::Error>(())
        })
        .await
        .map_err(|error| StoreError::Io(error.to_string()))?
        .map_err(|error| StoreError::Io(error.to_string()))?;
        Ok(next)
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

/// Whether `data` is new: missing, or holding nothing but an empty `revisions`.
fn is_new_data_dir(data: &Path) -> anyhow::Result<bool> {
    let entries = match fs::read_dir(data) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(true),
        Err(error) => return Err(error).with_context(|| format!("reading {}", data.display())),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        if name == "revisions" {
            let empty = fs::read_dir(entry.path())?.filter_map(Result::ok).all(|e| {
                e.file_name()
                    .to_string_lossy()
                    .ends_with(crate::util::TEMP_SUFFIX)
            });
            if !empty {
                return Ok(false);
            }
        } else if !name.to_string_lossy().starts_with(".lock") {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The revision files present, and the numbers of those set aside as damaged.
fn revision_numbers(dir: &Path) -> anyhow::Result<(Vec<u64>, Vec<u64>)> {
    let (mut numbers, mut set_aside) = (Vec::new(), Vec::new());
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if let Some(number) = revision_number(&name) {
            numbers.push(number);
        } else if let Some(number) = name.strip_suffix(".damaged").and_then(revision_number) {
            set_aside.push(number);
        }
    }
    numbers.sort_unstable();
    Ok((numbers, set_aside))
}

pub fn file_name(revision: u64) -> String {
    format!("{revision:06}.json")
}

fn revision_number(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".json")?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())?
}

/// The newest revision's plan under a data directory, for the CLI's checks
/// (`None` when there is none, or it does not read).
pub fn newest_plan(data: &Path) -> Option<Plan> {
    let revisions = data.join("revisions");
    let (numbers, _) = revision_numbers(&revisions).ok()?;
    let newest = *numbers.last()?;
    read_revision(&revisions, newest).ok().map(|file| file.plan)
}

/// Reads and checks one revision file: it must parse, validate and carry its number.
pub fn read_revision(dir: &Path, number: u64) -> anyhow::Result<RevisionFile> {
    let path = dir.join(file_name(number));
    let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let file: RevisionFile =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let problems = evaluator::validate(&file.plan);
    anyhow::ensure!(
        problems.is_empty(),
        "{} is invalid: {}",
        path.display(),
        evaluator::Invalid(problems)
    );
    anyhow::ensure!(
        file.plan.revision == number && file.audit.revision == number,
        "{} holds revision {}",
        path.display(),
        file.plan.revision
    );
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let (store, seeded) = Store::open(dir.path()).unwrap();
        assert!(seeded);
        touch(&store, "two").await.unwrap();
        drop(store);

        let revisions = dir.path().join("revisions");
        // A crash mid-write: a temp file that was never renamed.
        fs::write(revisions.join("000003.json.tmp"), "{\"torn").unwrap();
        let (store, seeded) = Store::open(dir.path()).unwrap();
        assert!(!seeded);
        assert_eq!(store.current().revision(), 2);
        assert!(!revisions.join("000003.json.tmp").exists());
        assert_eq!(store.audit().len(), 2);
        drop(store);

        // Damage from outside to the newest file: no start, and the message says
        // which file and how to recover.
        fs::write(revisions.join("000002.json"), "garbage").unwrap();
        let error = format!("{:#}", Store::open(dir.path()).err().unwrap());
        assert!(error.contains("000002.json"), "{error}");
        assert!(error.contains(".damaged"), "{error}");
        // Set aside as told: revision 1 is served, and 2 is never handed out again.
        fs::rename(
            revisions.join("000002.json"),
            revisions.join("000002.json.damaged"),
        )
        .unwrap();
        let (store, _) = Store::open(dir.path()).unwrap();
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
        drop(Store::open(dir.path()).unwrap());
        fs::write(dir.path().join("users.json"), "{}").unwrap();
        for entry in fs::read_dir(dir.path().join("revisions")).unwrap() {
            fs::remove_file(entry.unwrap().path()).unwrap();
        }
        let error = format!("{:#}", Store::open(dir.path()).err().unwrap());
        assert!(error.contains("refusing to start a new history"), "{error}");
        fs::remove_dir(dir.path().join("revisions")).unwrap();
        assert!(Store::open(dir.path()).is_err());
        // A wholly new directory is seeded.
        let new = tempfile::tempdir().unwrap();
        assert!(Store::open(&new.path().join("data")).unwrap().1);
    }

    #[tokio::test]
    async fn client_documents_change_etag_only_when_their_content_does() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(dir.path()).unwrap();
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
        let (store, _) = Store::open(dir.path()).unwrap();
        assert_eq!(
            store.current().clients["staging"].etag,
            third.clients["staging"].etag
        );
        assert_eq!(store.current().clients["production"].etag, production.etag);
    }

    #[tokio::test]
    async fn refused_and_empty_writes_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(dir.path()).unwrap();
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
