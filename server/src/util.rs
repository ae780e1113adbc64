//! Small helpers: durable file replacement, the clock, random ids, strict
//! percent-decoding.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// Suffix of files being written; whatever has it after a crash is garbage.
pub const TEMP_SUFFIX: &str = ".tmp";

/// Replaces `dir/name` with `bytes` so that a crash at any point leaves either the
/// old file or the new one, never a torn one, and once this returns the new one
/// survives a power cut: write a temp file, fsync it, rename it over the target
/// (atomic on POSIX), then fsync the directory so the rename itself is durable.
///
/// The temp name is unique per write (`NAME.PID.RANDOM.tmp`), so two writers of
/// the same file (the server and `stagegate user add` on users.json) never write
/// into one temp file: the worst a race can do is one write replacing the other
/// whole, never a torn file.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    replace_file(dir, name, bytes, false)
}

/// `write_atomic` for a file that holds secrets (webhooks' signing keys): the temp
/// file is created with mode 0600, so no other user can read it, not even briefly.
pub fn write_atomic_private(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    replace_file(dir, name, bytes, true)
}

fn replace_file(dir: &Path, name: &str, bytes: &[u8], private: bool) -> std::io::Result<()> {
    let temp = dir.join(format!(
        "{name}.{}.{}{TEMP_SUFFIX}",
        std::process::id(),
        random_hex(8)?
    ));
    let mut options = File::options();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(&temp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&temp, dir.join(name))?;
    sync_dir(dir)
}

pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Removes leftovers of writes that a crash interrupted.
pub fn remove_temp_files(dir: &Path) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().ends_with(TEMP_SUFFIX) {
            fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// An exclusive OS lock on `dir/name` (created if missing) that holds across
/// processes until the returned file is dropped.
pub fn lock_file(dir: &Path, name: &str) -> std::io::Result<File> {
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(name))?;
    lock.lock()?;
    Ok(lock)
}

/// A file's modification time and length: what says it changed since it was read.
pub fn file_stamp(path: &Path) -> Option<(std::time::SystemTime, u64)> {
    let meta = fs::metadata(path).ok()?;
    Some((meta.modified().unwrap_or(UNIX_EPOCH), meta.len()))
}

/// A JSON file read whole, or `T::default()` when there is none yet.
pub fn read_json_or_default<T: serde::de::DeserializeOwned + Default>(
    path: &Path,
) -> anyhow::Result<T> {
    use anyhow::Context as _;
    match fs::read_to_string(path) {
        Ok(text) => {
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
    }
}

/// Now, as RFC 3339 UTC with seconds: `2026-11-24T10:00:00Z`.
pub fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    rfc3339(secs)
}

pub fn rfc3339(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    let rem = unix_secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// `rfc3339`'s own format (`2026-11-24T10:00:00Z`) back to Unix seconds.
pub fn parse_rfc3339(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'Z'
    {
        return None;
    }
    let number = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + hour * 3600 + minute * 60 + second).ok()
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's algorithm), to avoid a date crate for one line of output.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `bytes` random bytes from the OS, as lowercase hex.
pub fn random_hex(bytes: usize) -> std::io::Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|error| std::io::Error::other(error.to_string()))?;
    Ok(evaluator::digest::hex(&buf))
}

/// Why text does not percent-decode.
#[derive(Debug, PartialEq)]
pub enum PercentError {
    /// A `%` not followed by two hex digits.
    Malformed,
    /// The decoded bytes are not UTF-8.
    NotUtf8,
}

/// `%XX` escapes decoded, strictly (paths and query components alike): a lenient
/// decoder would turn a malformed escape into U+FFFD or a literal `%` and answer
/// for a name nobody asked about.
pub fn percent_decode(text: &str) -> Result<String, PercentError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let byte = bytes
                .get(i + 1..i + 3)
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .filter(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .ok_or(PercentError::Malformed)?;
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| PercentError::NotUtf8)
}

/// An error with its causes, as one line: many libraries say only what failed
/// ("client error (Connect)", "db error", "error performing TLS handshake")
/// and keep the why (connection refused, the server's message, a certificate
/// that did not check) in the error's source.
pub fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_516_245), "2026-11-24T10:30:45Z");
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        write_atomic(dir.path(), "a.json", b"one").unwrap();
        write_atomic(dir.path(), "a.json", b"two").unwrap();
        assert_eq!(fs::read(dir.path().join("a.json")).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn percent_decoding_is_strict() {
        assert_eq!(percent_decode("/a%20b.js").as_deref(), Ok("/a b.js"));
        assert_eq!(percent_decode("/%2e%2E/x").as_deref(), Ok("/../x"));
        assert_eq!(percent_decode("x+y%2B%E3%83%A6").as_deref(), Ok("x+y+ユ"));
        for malformed in ["/%2", "/%zz", "%", "%%41", "%+1"] {
            assert_eq!(
                percent_decode(malformed),
                Err(PercentError::Malformed),
                "{malformed}"
            );
        }
        for not_utf8 in ["/%ff", "%C3", "%FF%FE"] {
            assert_eq!(
                percent_decode(not_utf8),
                Err(PercentError::NotUtf8),
                "{not_utf8}"
            );
        }
    }
}
