//! The data directory: the embedded default, for one server.
//!
//! Layout: `DIR/revisions/000001.json`, … one file per revision holding
//! `{"audit": AuditEntry, "plan": Plan}`. Keeping a revision and its audit entry in
//! one file means one atomic rename commits both: there is never a revision
//! without its audit entry, nor the reverse, and each write costs one file fsync
//! and one directory fsync. Documents are files of their own name beside it
//! (`users.json`, …), replaced whole; metric counts are lines appended to
//! `metrics.log`.
//!
//! A revision number is never handed out twice: a damaged file stops the server
//! (with the path and how to recover) instead of being skipped, and a file set
//! aside as `NNNNNN.json.damaged` still holds its number.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;

use super::{Append, Contents, CountDelta, Draft, RevisionFile, StorageError, Version, documents};
use crate::util::{TEMP_SUFFIX, file_stamp, lock_file, remove_temp_files, sync_dir, write_atomic};

/// The metric counts' log (see `metrics.rs`).
pub const COUNTS_FILE: &str = "metrics.log";

pub struct DirStorage {
    data: PathBuf,
    revisions: PathBuf,
    /// Whether the directory held nothing when opened.
    fresh: bool,
    /// The highest revision number ever handed out (set-aside files included),
    /// and the newest revision stored.
    numbers: Arc<Mutex<Numbers>>,
}

#[derive(Clone, Copy)]
struct Numbers {
    high_water: u64,
    head: u64,
}

impl DirStorage {
    pub fn open(data: &Path) -> anyhow::Result<DirStorage> {
        let fresh = is_new_data_dir(data)?;
        let revisions = data.join("revisions");
        fs::create_dir_all(&revisions)
            .with_context(|| format!("creating {}", revisions.display()))?;
        // Make the directory entry of `revisions` itself durable (it may be new):
        // fsyncing the files inside it does not persist its name in `data`.
        sync_dir(data).with_context(|| format!("syncing {}", data.display()))?;
        // A crash mid-write leaves at most a temp file; the rename never happened,
        // so nobody was told the write succeeded.
        remove_temp_files(&revisions)?;
        remove_document_leftovers(data);
        let (numbers, set_aside) = revision_numbers(&revisions)?;
        let head = numbers.last().copied().unwrap_or(0);
        let high_water = numbers.iter().chain(&set_aside).copied().max().unwrap_or(0);
        if !fresh && numbers.is_empty() {
            anyhow::bail!(
                "{} holds no revision, but {} is not a new data directory (it has other \
                 files, or revisions set aside): refusing to start a new history over it. Restore \
                 the revisions from a backup, or start with an empty directory.",
                revisions.display(),
                data.display()
            );
        }
        Ok(DirStorage {
            data: data.to_path_buf(),
            revisions,
            fresh,
            numbers: Arc::new(Mutex::new(Numbers { high_water, head })),
        })
    }

    pub fn path(&self) -> &Path {
        &self.data
    }

    /// The directory for its documents only (the CLI's user commands): no
    /// revision is read, so one that holds users but no revision yet (never
    /// served) opens too. Not for a server: it knows no head.
    pub fn open_documents(data: &Path) -> anyhow::Result<DirStorage> {
        let fresh = is_new_data_dir(data)?;
        fs::create_dir_all(data).with_context(|| format!("creating {}", data.display()))?;
        remove_document_leftovers(data);
        Ok(DirStorage {
            data: data.to_path_buf(),
            revisions: data.join("revisions"),
            fresh,
            numbers: Arc::new(Mutex::new(Numbers {
                high_water: 0,
                head: 0,
            })),
        })
    }

    pub fn is_new(&self) -> bool {
        self.fresh && self.numbers().high_water == 0
    }

    fn numbers(&self) -> Numbers {
        *self.numbers.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn head(&self) -> u64 {
        self.numbers().head
    }

    /// The highest revision number handed out, set-aside files included.
    pub fn numbers_used(&self) -> u64 {
        self.numbers().high_water
    }

    pub fn revisions_after(&self, after: u64) -> Result<Vec<RevisionFile>, StorageError> {
        let (numbers, _) = revision_numbers(&self.revisions).map_err(io)?;
        let mut files = Vec::new();
        for number in numbers.into_iter().filter(|&n| n > after) {
            let file = read_revision(&self.revisions, number).map_err(|error| {
                let path = self.revisions.join(file_name(number));
                StorageError::Io(format!(
                    "{error:#}\n\nstagegate will not start on a damaged history. Restore {path} from a \
                     backup, or set it aside as {path}.damaged: stagegate then serves the newest revision \
                     that reads, and never hands out number {number} again.",
                    path = path.display()
                ))
            })?;
            files.push(file);
        }
        Ok(files)
    }

    pub fn revision(&self, number: u64) -> Result<Option<RevisionFile>, StorageError> {
        if !self.revisions.join(file_name(number)).exists() {
            return Ok(None);
        }
        read_revision(&self.revisions, number).map(Some).map_err(io)
    }

    /// One writer at a time is the caller's duty (the store's writer lock).
    /// `build` runs here; the file is written on a blocking thread that also
    /// moves the head, so a caller that goes away midway leaves a head that
    /// says what is on disk (the next write finds itself behind and catches up).
    pub async fn append<T, E, F>(
        &self,
        head: u64,
        build: F,
    ) -> Result<Append<T, E, F>, StorageError>
    where
        F: FnOnce(u64) -> Result<Draft<T>, E>,
    {
        let numbers = self.numbers();
        if numbers.head != head {
            return Ok(Append::Behind(build));
        }
        let number = numbers.high_water + 1;
        let (file, answer) = match build(number) {
            Ok(draft) => draft,
            Err(refused) => return Ok(Append::Refused(refused)),
        };
        let Some(file) = file else {
            return Ok(Append::Nothing(answer));
        };
        let (dir, slot) = (self.revisions.clone(), self.numbers.clone());
        super::blocking(move || {
            write_revision(&dir, number, &file)?;
            *slot.lock().unwrap_or_else(|e| e.into_inner()) = Numbers {
                high_water: number,
                head: number,
            };
            Ok(())
        })
        .await?;
        Ok(Append::Written(answer))
    }

    pub fn document(&self, name: &'static str) -> Result<Option<(String, Version)>, StorageError> {
        let path = self.data.join(name);
        let version = self.document_version(name);
        match fs::read_to_string(&path) {
            Ok(text) => Ok(Some((text, version.unwrap_or(Version(0))))),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(StorageError::Io(format!(
                "reading {}: {error}",
                path.display()
            ))),
        }
    }

    /// The file's modification time and length, folded into one number.
    pub fn document_version(&self, name: &'static str) -> Option<Version> {
        let (modified, len) = file_stamp(&self.data.join(name))?;
        let nanos = modified
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos() as u64);
        Some(Version(nanos ^ len.rotate_left(48)))
    }

    pub fn update_document<T, E>(
        &self,
        name: &'static str,
        edit: impl FnOnce(Option<&str>) -> Result<(String, T), E>,
    ) -> Result<Result<T, E>, StorageError> {
        // Held across processes: `stagegate user add` and a running server.
        let _lock = lock_file(&self.data, &format!(".lock-{name}")).map_err(io_error)?;
        let old = self.document(name)?;
        match edit(old.as_ref().map(|(text, _)| text.as_str())) {
            Ok((text, answer)) => {
                self.put_document(name, &text)?;
                Ok(Ok(answer))
            }
            Err(refused) => Ok(Err(refused)),
        }
    }

    fn put_document(&self, name: &'static str, text: &str) -> Result<(), StorageError> {
        let write = if documents::PRIVATE.contains(&name) {
            crate::util::write_atomic_private
        } else {
            write_atomic
        };
        write(&self.data, name, text.as_bytes()).map_err(|error| {
            StorageError::Io(format!(
                "writing {}: {error}",
                self.data.join(name).display()
            ))
        })
    }

    /// Writes another store's contents into this directory, which must be
    /// new: each revision under its own number (and, when the store had handed
    /// out a higher number, a placeholder set aside under it, so that number is
    /// not handed out again), the documents, and the counts as `metrics.log`.
    pub fn import(&self, contents: &Contents) -> Result<(), StorageError> {
        if !self.is_new() {
            return Err(StorageError::Io(format!(
                "{} is not empty: refusing to copy into it (give a new directory)",
                self.data.display()
            )));
        }
        let mut newest = 0;
        for file in &contents.revisions {
            write_revision(&self.revisions, file.plan.revision, file)?;
            newest = newest.max(file.plan.revision);
        }
        if contents.numbers_used > newest {
            let held = format!("{}.damaged", file_name(contents.numbers_used));
            let why = "Not a revision: holds this number, which the store this directory was \
                       copied from had handed out, so that it is not handed out again.\n";
            write_atomic(&self.revisions, &held, why.as_bytes()).map_err(io_error)?;
        }
        for (name, text) in &contents.documents {
            self.put_document(name, text)?;
        }
        self.add_counts(&contents.counts)
    }

    /// Appends to `metrics.log` and fsyncs: one JSON line per delta.
    pub fn add_counts(&self, deltas: &[CountDelta]) -> Result<(), StorageError> {
        let mut text = String::new();
        for delta in deltas {
            crate::metrics::push_line(&mut text, &delta.series, delta.minute, delta.n);
        }
        if text.is_empty() {
            return Ok(());
        }
        let path = self.data.join(COUNTS_FILE);
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_error)?;
        file.write_all(text.as_bytes()).map_err(io_error)?;
        file.sync_data().map_err(io_error)
    }
}

fn io(error: anyhow::Error) -> StorageError {
    StorageError::Io(format!("{error:#}"))
}

fn io_error(error: std::io::Error) -> StorageError {
    StorageError::Io(error.to_string())
}

/// Leftovers of document writes a crash interrupted (see `write_atomic`).
fn remove_document_leftovers(data: &Path) {
    let Ok(entries) = fs::read_dir(data) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let ours = documents::ALL
            .iter()
            .chain([&COUNTS_FILE])
            .any(|document| name.starts_with(&format!("{document}.")));
        if ours && name.ends_with(TEMP_SUFFIX) {
            let _ = fs::remove_file(entry.path());
        }
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
            let empty = fs::read_dir(entry.path())?
                .filter_map(Result::ok)
                .all(|e| e.file_name().to_string_lossy().ends_with(TEMP_SUFFIX));
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

/// Writes a revision's file under `number` (temp file, fsync, rename).
fn write_revision(dir: &Path, number: u64, file: &RevisionFile) -> Result<(), StorageError> {
    let bytes = serde_json::to_vec_pretty(file).map_err(|e| StorageError::Io(e.to_string()))?;
    write_atomic(dir, &file_name(number), &bytes).map_err(io_error)
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
pub fn newest_plan(data: &Path) -> Option<evaluator::model::Plan> {
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
