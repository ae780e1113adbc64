//! The config store: every revision of the plan on disk, the current one in memory.
//!
//! Layout: `DIR/revisions/000001.json`, … one file per revision holding
//! `{"audit": AuditEntry, "plan": Plan}`. Keeping a revision and its audit entry in
//! one file means one atomic rename commits both: there is never a revision
//! without its audit entry, nor the reverse, and each write costs one file fsync
//! and one directory fsync.

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

use crate::audit::{AuditEntry, summarize};
use crate::error::ApiError;
use crate::gate;
use crate::util::{now_rfc3339, remove_temp_files, write_atomic};

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

pub struct ClientDocument {
    pub body: Bytes,
    pub etag: HeaderValue,
}

impl Current {
    fn new(evaluator: Evaluator) -> anyhow::Result<Self> {
        let plan = evaluator.plan();
        let etag = etag(plan.revision);
        let mut clients = HashMap::new();
        for rollout in plan.rollouts.values() {
            for name in rollout.environments.keys() {
                if clients.contains_key(name) {
                    continue;
                }
                if let Some(document) = plan.client_document(name) {
                    let body = Bytes::from(serde_json::to_vec(&document)?);
                    clients.insert(
                        name.clone(),
                        ClientDocument {
                            body,
                            etag: etag.clone(),
                        },
                    );
                }
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

/// What a write is, for its audit entry.
pub struct Change {
    pub author: String,
    pub action: &'static str,
    pub comment: String,
    /// The revision the writer saw (If-Match); `None` to write on top of whatever is current.
    pub base: Option<u64>,
}

pub struct Store {
    revisions: PathBuf,
    current: Arc<RwLock<Arc<Current>>>,
    /// Every audit entry, oldest first.
    audit: Arc<RwLock<Vec<Arc<AuditEntry>>>>,
    /// One writer at a time: check base, validate, write, publish.
    writer: Arc<tokio::sync::Mutex<()>>,
}

impl Store {
    /// Opens (creating, seeding or recovering) the store under `data`. Returns the
    /// store and whether it was seeded just now.
    pub fn open(data: &Path) -> anyhow::Result<(Store, bool)> {
        let revisions = data.join("revisions");
        fs::create_dir_all(&revisions)
            .with_context(|| format!("creating {}", revisions.display()))?;
        // Make the directory entry of `revisions` itself durable (it may be new):
        // fsyncing the files inside it does not persist its name in `data`.
        crate::util::sync_dir(data).with_context(|| format!("syncing {}", data.display()))?;
        // A crash mid-write leaves at most a temp file; the rename never happened,
        // so nobody was told the write succeeded.
        remove_temp_files(&revisions)?;

        let mut numbers: Vec<u64> = fs::read_dir(&revisions)?
            .filter_map(|entry| entry.ok())
            .filter_map(|entry| revision_number(&entry.file_name().to_string_lossy()))
            .collect();
        numbers.sort_unstable();

        let mut audit = Vec::new();
        let mut latest = None;
        for number in numbers {
            match read_revision(&revisions, number) {
                Ok(file) => {
                    audit.push(Arc::new(file.audit));
                    latest = Some(file.plan);
                }
                // Renamed files are complete, so this is damage from outside; keep going
                // with the highest revision that reads.
                Err(error) => eprintln!("stagegate: skipping revision {number}: {error:#}"),
            }
        }

        let seeded = latest.is_none();
        let plan = match latest {
            Some(plan) => plan,
            None => {
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
                plan
            }
        };
        let evaluator = Evaluator::from_plan(plan)
            .map_err(|invalid| anyhow::anyhow!("current revision: {invalid}"))?;
        let store = Store {
            revisions,
            current: Arc::new(RwLock::new(Arc::new(Current::new(evaluator)?))),
            audit: Arc::new(RwLock::new(audit)),
            writer: Arc::new(tokio::sync::Mutex::new(())),
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

    pub fn audit(&self) -> Vec<Arc<AuditEntry>> {
        self.audit
            .read()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone()
    }

    /// A stored revision's plan.
    pub async fn revision(&self, number: u64) -> Result<Plan, ApiError> {
        if number == 0 || number > self.current().revision() {
            return Err(ApiError::NotFound(format!(
                "revision {number} does not exist"
            )));
        }
        let dir = self.revisions.clone();
        tokio::task::spawn_blocking(move || read_revision(&dir, number))
            .await
            .map_err(ApiError::internal)?
            .map(|file| file.plan)
            .map_err(|error| ApiError::internal(format!("{error:#}")))
    }

    /// Writes a new revision: `edit` turns the current plan into the next one.
    /// Nothing is written unless the base matches, the result validates and passes
    /// the stage gate. The revision number is the store's, whatever `edit` set.
    pub async fn write(
        &self,
        change: Change,
        edit: impl FnOnce(&Plan) -> Result<Plan, ApiError>,
    ) -> Result<Arc<Current>, ApiError> {
        let writer = self.writer.clone().lock_owned().await;
        let current = self.current();
        let old = current.plan();
        if let Some(base) = change.base
            && base != old.revision
        {
            return Err(ApiError::Stale {
                current: old.revision,
            });
        }
        let mut plan = edit(old)?;
        plan.revision = old.revision + 1;
        let evaluator = Evaluator::from_plan(plan)?;
        let plan = evaluator.plan();
        gate::check(old, plan)?;

        let entry = AuditEntry {
            revision: plan.revision,
            base_revision: Some(old.revision),
            author: change.author,
            at: now_rfc3339(),
            action: change.action.into(),
            summary: summarize(old, plan),
            comment: change.comment,
        };
        let bytes = serde_json::to_vec_pretty(&RevisionFile {
            audit: entry.clone(),
            plan: plan.clone(),
        })
        .map_err(ApiError::internal)?;
        let next = Arc::new(Current::new(evaluator).map_err(ApiError::internal)?);

        // Write and publish on a blocking thread that owns the writer lock: fsync
        // stays off the threads serving reads, and if the request is dropped midway
        // (client gone) the write still completes and is published before the next
        // writer may start, so memory and disk never disagree.
        let (dir, name) = (self.revisions.clone(), file_name(entry.revision));
        let (current_slot, audit_slot, published) =
            (self.current.clone(), self.audit.clone(), next.clone());
        tokio::task::spawn_blocking(move || {
            let _writer = writer;
            write_atomic(&dir, &name, &bytes)?;
            *current_slot
                .write()
                .unwrap_or_else(|poison| poison.into_inner()) = published;
            audit_slot
                .write()
                .unwrap_or_else(|poison| poison.into_inner())
                .push(Arc::new(entry));
            Ok::<(), std::io::Error>(())
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
        Ok(next)
    }
}

pub fn file_name(revision: u64) -> String {
    format!("{revision:06}.json")
}

fn revision_number(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".json")?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())?
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
            action: "put-plan",
            comment: String::new(),
            base,
        }
    }

    #[tokio::test]
    async fn recovery_drops_temp_files_and_damaged_revisions() {
        let dir = tempfile::tempdir().unwrap();
        let (store, seeded) = Store::open(dir.path()).unwrap();
        assert!(seeded);
        store
            .write(change(Some(1)), |old| Ok(old.clone()))
            .await
            .unwrap();
        drop(store);

        let revisions = dir.path().join("revisions");
        // A crash mid-write: a temp file that was never renamed.
        fs::write(revisions.join("000003.json.tmp"), "{\"torn").unwrap();
        let (store, seeded) = Store::open(dir.path()).unwrap();
        assert!(!seeded);
        assert_eq!(store.current().revision(), 2);
        assert!(!revisions.join("000003.json.tmp").exists());
        assert_eq!(store.audit().len(), 2);

        // Damage from outside to the newest file: the newest readable one is current,
        // and the next write takes its number back.
        fs::write(revisions.join("000002.json"), "garbage").unwrap();
        let (store, _) = Store::open(dir.path()).unwrap();
        assert_eq!(store.current().revision(), 1);
        let next = store
            .write(change(None), |old| Ok(old.clone()))
            .await
            .unwrap();
        assert_eq!(next.revision(), 2);
        assert_eq!(read_revision(&revisions, 2).unwrap().plan.revision, 2);
    }

    #[tokio::test]
    async fn a_refused_write_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(dir.path()).unwrap();
        let stale = store.write(change(Some(7)), |old| Ok(old.clone())).await;
        assert!(matches!(stale, Err(ApiError::Stale { current: 1 })));
        let invalid = store
            .write(change(None), |old| {
                let mut plan = old.clone();
                plan.rollouts.clear();
                Ok(plan)
            })
            .await;
        assert!(matches!(invalid, Err(ApiError::InvalidPlan(_))));
        assert_eq!(store.current().revision(), 1);
        assert_eq!(
            fs::read_dir(dir.path().join("revisions")).unwrap().count(),
            1
        );
    }
}
