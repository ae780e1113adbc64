//! The console's static files, with a single-page-app fallback.

use std::path::{Component, Path};

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// Shown when the console has not been built.
const PLACEHOLDER: &str = "<!doctype html>
<html lang=\"en\">
<head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>stagegate</title></head>
<body>
<main>
<h1>stagegate</h1>
<p>The console is not built. Run <code>cargo xtask dist</code> and restart, or use the API under
<code>/api</code> (described at <a href=\"/api/openapi.json\">/api/openapi.json</a>).</p>
</main>
</body>
</html>
";

const NO_CACHE: &str = "no-cache";
/// Hashed file names change with their content, so they can be cached forever.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Answers a GET for `path` from the console directory: the file if there is
/// one, else `index.html` (so the console's deep links survive a reload), else
/// the built-in placeholder.
///
/// A path that tries to leave the directory (`..`, also percent-encoded as
/// `%2e%2e` or `..%2f`, a backslash, a NUL) or does not percent-decode to UTF-8
/// is a JSON 404, not the console: nobody's deep link looks like that.
pub async fn serve(console: Option<&Path>, path: &str) -> Response {
    let Some(relative) = percent_decode(path).as_deref().and_then(safe_relative) else {
        return ApiError::NotFound("no such file".into()).into_response();
    };
    let Some(dir) = console.filter(|dir| dir.is_dir()) else {
        return html(PLACEHOLDER.as_bytes().to_vec());
    };
    let file = dir.join(&relative);
    if file.is_file()
        && let Ok(bytes) = tokio::fs::read(&file).await
    {
        let name = relative
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let cache = if name != "index.html" && is_hashed(&name) {
            IMMUTABLE
        } else {
            NO_CACHE
        };
        return (
            StatusCode::OK,
            [
                (CONTENT_TYPE, HeaderValue::from_static(content_type(&name))),
                (CACHE_CONTROL, HeaderValue::from_static(cache)),
            ],
            bytes,
        )
            .into_response();
    }
    match tokio::fs::read(dir.join("index.html")).await {
        Ok(bytes) => html(bytes),
        Err(_) => html(PLACEHOLDER.as_bytes().to_vec()),
    }
}

fn html(bytes: Vec<u8>) -> Response {
    (
        StatusCode::OK,
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (CACHE_CONTROL, HeaderValue::from_static(NO_CACHE)),
        ],
        bytes,
    )
        .into_response()
}

/// `%XX` escapes decoded; `None` if one is malformed or the result is not UTF-8.
fn percent_decode(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The request path as a path inside the console directory, or `None` if it tries
/// to leave it. `/` is `index.html`.
fn safe_relative(path: &str) -> Option<std::path::PathBuf> {
    let trimmed = path.trim_start_matches('/');
    if trimmed.is_empty() {
        return Some("index.html".into());
    }
    if trimmed.contains('\\') || trimmed.contains('\0') {
        return None;
    }
    let relative = Path::new(trimmed);
    relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then(|| relative.to_path_buf())
}

/// Whether a file name carries a content hash, as bundlers write them:
/// `console-1a2b3c4d5e6f7a8b.js`, `console-1a2b3c4d_bg.wasm`.
fn is_hashed(name: &str) -> bool {
    name.split(['-', '.', '_'])
        .any(|part| part.len() >= 8 && part.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "wasm" => "application/wasm",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_and_hashes_are_recognised() {
        assert_eq!(safe_relative("/"), Some("index.html".into()));
        assert_eq!(safe_relative("/pkg/app.js"), Some("pkg/app.js".into()));
        assert_eq!(safe_relative("/../etc/passwd"), None);
        assert_eq!(safe_relative("/a/./b"), Some("a/b".into()));
        assert!(is_hashed("console-1a2b3c4d5e6f7a8b.js"));
        assert!(is_hashed("console-1a2b3c4d_bg.wasm"));
        assert!(!is_hashed("index.html"));
        assert!(!is_hashed("styles.css"));
        assert_eq!(percent_decode("/a%20b.js").as_deref(), Some("/a b.js"));
        assert_eq!(percent_decode("/%2e%2e/x").as_deref(), Some("/../x"));
        assert_eq!(percent_decode("/%2"), None);
        assert_eq!(percent_decode("/%zz"), None);
        assert_eq!(percent_decode("/%ff"), None);
        for hostile in ["/..\\etc", "/a/../../b", "/..", "/a\0b"] {
            assert_eq!(safe_relative(hostile), None, "{hostile}");
        }
    }
}
