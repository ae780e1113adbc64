//! `stagegate migrate`: a database's schema brought up to date, a data
//! directory copied into a database, and a database copied into a new data
//! directory (the way back).

use std::path::Path;

use anyhow::Context as _;

use super::dir::{COUNTS_FILE, DirStorage};
use super::postgres::{PgStorage, export, import};
use super::{Contents, StorageError, documents};

/// What a copy moved.
pub struct Copied {
    pub revisions: usize,
    pub head: u64,
    pub documents: Vec<&'static str>,
    /// Metric totals (series and minute) copied, and log lines that did not read.
    pub counts: usize,
    pub unreadable_count_lines: usize,
}

/// Applies the migrations `url`'s database lacks; returns how many, and the
/// database as it is described in messages. A database that is away is an
/// error here (a server would wait for it; a command says so and stops).
pub async fn schema(url: &str) -> anyhow::Result<(usize, String)> {
    let storage = PgStorage::new(url)?;
    let applied = storage
        .migrate()
        .await
        .map_err(|error| database_error(&storage, error))?;
    Ok((applied, storage.describe()))
}

/// Copies the data directory `from` into the database at `to`: every revision
/// with its audit entry, every document and the metric counts, unchanged. The database must be
/// empty unless `force` (then what it held is replaced). Nothing is copied
/// if any revision does not read.
pub async fn into_database(from: &Path, to: &str, force: bool) -> anyhow::Result<(Copied, String)> {
    check_data_dir(from)?;
    let dir = DirStorage::open(from)?;
    let revisions = dir
        .revisions_after(0)
        .map_err(|error| anyhow::anyhow!("--from {}: {error}", from.display()))?;
    let mut held = Vec::new();
    for name in documents::ALL {
        if let Some((text, _)) = dir.document(name)? {
            serde_json::from_str::<serde_json::Value>(&text)
                .with_context(|| format!("--from: {} does not read as JSON", name))?;
            held.push((name, text));
        }
    }
    let (counts, unreadable_count_lines) = crate::metrics::log_totals(&from.join(COUNTS_FILE))
        .with_context(|| format!("--from: reading {COUNTS_FILE}"))?;
    let contents = Contents {
        revisions,
        numbers_used: dir.numbers_used(),
        documents: held,
        counts,
    };
    let storage = PgStorage::new(to)?;
    storage
        .migrate()
        .await
        .map_err(|error| database_error(&storage, error))?;
    import(&storage, &contents, force)
        .await
        .map_err(|error| database_error(&storage, error))?;
    Ok((
        copied(&contents, unreadable_count_lines),
        storage.describe(),
    ))
}

/// Copies the database at `from` into `to`, a data directory that does not
/// exist yet or is empty: every revision, document and count, read in one
/// snapshot of the database. Servers may keep running on the database.
pub async fn into_directory(from: &str, to: &Path) -> anyhow::Result<(Copied, String)> {
    let empty = std::fs::read_dir(to).map_or(true, |mut entries| entries.next().is_none());
    anyhow::ensure!(
        empty,
        "--to: {} is not empty: give a new directory (nothing was copied)",
        to.display()
    );
    let storage = PgStorage::new(from)?;
    // A database with an older schema is brought up to date first, as a
    // server would on start.
    storage
        .migrate()
        .await
        .map_err(|error| database_error(&storage, error))?;
    let contents = export(&storage)
        .await
        .map_err(|error| database_error(&storage, error))?;
    let dir = DirStorage::open(to)?;
    dir.import(&contents)
        .map_err(|error| anyhow::anyhow!("--to {}: {error}", to.display()))?;
    Ok((copied(&contents, 0), storage.describe()))
}

fn copied(contents: &Contents, unreadable_count_lines: usize) -> Copied {
    Copied {
        revisions: contents.revisions.len(),
        head: contents
            .revisions
            .last()
            .map_or(0, |file| file.plan.revision),
        documents: contents.documents.iter().map(|(name, _)| *name).collect(),
        counts: contents.counts.len(),
        unreadable_count_lines,
    }
}

/// A data directory `stagegate serve` made: a `revisions` directory with at
/// least one revision in it. Anything else is refused before it is touched
/// (opening it would create `revisions` in it).
fn check_data_dir(from: &Path) -> anyhow::Result<()> {
    let not = |why: &str| {
        anyhow::anyhow!(
            "--from: {} is not a stagegate data directory ({why})",
            from.display()
        )
    };
    if !from.is_dir() {
        return Err(not("no such directory"));
    }
    let revisions = from.join("revisions");
    let entries = std::fs::read_dir(&revisions).map_err(|_| not("it has no revisions/"))?;
    let any = entries
        .filter_map(Result::ok)
        .any(|entry| entry.file_name().to_string_lossy().ends_with(".json"));
    if !any {
        return Err(not("its revisions/ holds no revision"));
    }
    Ok(())
}

fn database_error(storage: &PgStorage, error: StorageError) -> anyhow::Error {
    anyhow::anyhow!("PostgreSQL at {}: {error}", storage.describe())
}
