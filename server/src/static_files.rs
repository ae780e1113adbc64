//! The console's built files (`cargo xtask dist` → dist/console): tower-http's
//! `ServeDir` picks the `.br` or `.gz` copy dist wrote beside each file by the
//! request's Accept-Encoding; a path that is no file is `index.html` (the SPA
//! fallback, so the console's deep links survive a reload).
//!
//! Cache headers follow dist's layout, not file names: `assets/` holds only
//! content-hashed files, so they are immutable; everything else (`index.html`,
//! the fallback) is `no-cache` and revalidated with its Last-Modified.

use std::path::{Component, Path, PathBuf};

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, VARY, X_FRAME_OPTIONS,
};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt as _;
use tower_http::services::{ServeDir, ServeFile};

use crate::error::ApiError;
use crate::util::percent_decode;

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

/// The folder of dist/console whose files are all named by their content's hash.
pub const IMMUTABLE_DIR: &str = "assets";
const NO_CACHE: &str = "no-cache";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Scripts and styles from this server only (wasm compiled from them), no
/// inline script or style attribute, no framing.
pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'self'; \
    script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

/// Answers a GET or HEAD for a path outside the API from the console directory.
///
/// A path that tries to leave the directory (`..`, also percent-encoded as
/// `%2e%2e` or `..%2f`, a backslash, a NUL), does not percent-decode to UTF-8,
/// or reaches a file through a link that leads out of the directory is a JSON
/// 404, not the console.
pub async fn serve(console: Option<&Path>, request: Request) -> Response {
    let Some(relative) = percent_decode(request.uri().path())
        .ok()
        .as_deref()
        .and_then(safe_relative)
    else {
        return not_found();
    };
    let dir = console.map(Path::to_path_buf);
    let looked = tokio::task::spawn_blocking({
        let relative = relative.clone();
        move || {
            let dir = dir.filter(|dir| dir.join("index.html").is_file())?;
            let inside = stays_inside(&dir, &relative);
            Some((dir, inside))
        }
    })
    .await;
    let (dir, inside) = match looked {
        Ok(Some(found)) => found,
        Ok(None) => return secured(placeholder()),
        Err(error) => {
            return ApiError::internal(format!("looking up a file: {error}")).into_response();
        }
    };
    if !inside {
        return secured(not_found());
    }

    let files = ServeDir::new(&dir).precompressed_br().precompressed_gzip();
    let hashed = relative.starts_with(IMMUTABLE_DIR);
    // A missing hashed file is a 404: index.html in its place would be taken
    // for a script by a stale page.
    let Ok(mut response) = if hashed {
        files.oneshot(request).await.map(|r| r.map(Body::new))
    } else {
        let index = ServeFile::new(dir.join("index.html"))
            .precompressed_br()
            .precompressed_gzip();
        let files = files.fallback(index);
        files.oneshot(request).await.map(|r| r.map(Body::new))
    };
    let status = response.status();
    if status == StatusCode::NOT_FOUND {
        return secured(not_found());
    }
    let cache = match (hashed, status) {
        (false, _) => Some(NO_CACHE),
        (true, StatusCode::OK | StatusCode::PARTIAL_CONTENT | StatusCode::NOT_MODIFIED) => {
            Some(IMMUTABLE)
        }
        (true, _) => None,
    };
    let headers = response.headers_mut();
    if let Some(cache) = cache {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    }
    // Which copy was sent depended on Accept-Encoding.
    headers.insert(VARY, HeaderValue::from_static("accept-encoding"));
    secured(response)
}

fn placeholder() -> Response {
    (
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (CACHE_CONTROL, HeaderValue::from_static(NO_CACHE)),
        ],
        PLACEHOLDER,
    )
        .into_response()
}

fn not_found() -> Response {
    ApiError::NotFound("no such file".into()).into_response()
}

/// The console's pages may run only their own code and may not be framed.
/// (`X-Content-Type-Options: nosniff` is on every response, in `api::layers`.)
fn secured(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY_VALUE),
    );
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// Whether every file `relative` could be answered from (itself, its `.br` and
/// `.gz` copies, a directory's `index.html`, the fallback `index.html`) stays
/// inside `dir` once links are resolved. `ServeDir` follows links; a link out
/// of the console (`leak.txt -> /etc/passwd`, a linked directory) must not be.
/// Links that stay inside are fine. Blocking: file system calls.
fn stays_inside(dir: &Path, relative: &Path) -> bool {
    let Ok(root) = dir.canonicalize() else {
        return false;
    };
    let bases = [
        dir.join(relative),
        dir.join(relative).join("index.html"),
        dir.join("index.html"),
    ];
    bases
        .iter()
        .flat_map(|base| {
            ["", ".br", ".gz"].map(|suffix| {
                let mut path = base.clone().into_os_string();
                path.push(suffix);
                PathBuf::from(path)
            })
        })
        .all(|path| match path.symlink_metadata() {
            // Nothing there (or nothing readable): nothing to serve from it.
            Err(_) => true,
            Ok(_) => path
                .canonicalize()
                .is_ok_and(|real| real.starts_with(&root)),
        })
}

/// The request path as a path inside the console directory, or `None` if it tries
/// to leave it. `/` is `index.html`.
fn safe_relative(path: &str) -> Option<PathBuf> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside() {
        assert_eq!(safe_relative("/"), Some("index.html".into()));
        assert_eq!(safe_relative("/pkg/app.js"), Some("pkg/app.js".into()));
        assert_eq!(safe_relative("/../etc/passwd"), None);
        assert_eq!(safe_relative("/a/./b"), Some("a/b".into()));
        for hostile in ["/..\\etc", "/a/../../b", "/..", "/a\0b"] {
            assert_eq!(safe_relative(hostile), None, "{hostile}");
        }
        // Component-wise: `assets-old/x` is not under `assets`.
        assert!(Path::new("assets/console-1.js").starts_with(IMMUTABLE_DIR));
        assert!(!Path::new("assets-old/x.js").starts_with(IMMUTABLE_DIR));
    }
}
