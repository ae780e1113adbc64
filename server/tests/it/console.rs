//! The console as the server sends it: precompressed copies by Accept-Encoding,
//! the SPA fallback, cache headers by dist's layout, links that lead out of the
//! console refused, security headers, the placeholder, and compressed JSON.

use std::io::Read as _;
use std::path::PathBuf;

use crate::common::{Reply, Server, assert_error};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};

/// A console laid out as `cargo xtask dist` lays it out, each copy's bytes
/// saying which copy it is (the server picks files; it never decodes them).
fn console_dir() -> (tempfile::TempDir, PathBuf) {
    let outer = tempfile::tempdir().unwrap();
    let console = outer.path().join("console");
    let assets = console.join("assets");
    std::fs::create_dir_all(&assets).unwrap();
    for (name, content) in [
        ("index.html", "<html>identity index</html>"),
        ("index.html.br", "brotli index"),
        ("index.html.gz", "gzip index"),
        ("assets/console-1a2b3c.js", "identity js"),
        ("assets/console-1a2b3c.js.br", "brotli js"),
        ("assets/console-1a2b3c.js.gz", "gzip js"),
        ("assets/console-4d5e6f_bg.wasm", "identity wasm"),
        ("assets/console-4d5e6f_bg.wasm.br", "brotli wasm"),
        // Not in assets/: its name looks hashed, but names are not read.
        ("console-1a2b3c4d5e6f7a8b.js", "root js"),
    ] {
        std::fs::write(console.join(name), content).unwrap();
    }
    (outer, console)
}

async fn fetch(server: &Server, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut builder = Request::builder().method(Method::GET).uri(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    server.send(builder.body(Body::empty()).unwrap()).await
}

fn header<'a>(reply: &'a Reply, name: &str) -> Option<&'a str> {
    reply.headers.get(name).map(|v| v.to_str().unwrap())
}

fn text(reply: &Reply) -> &str {
    std::str::from_utf8(&reply.body).unwrap()
}

#[tokio::test]
async fn files_are_sent_in_the_encoding_the_client_accepts() {
    let (_outer, console) = console_dir();
    let server = Server::with_console(Some(console)).await;
    let js = "/assets/console-1a2b3c.js";
    for (accept, body, encoding) in [
        (Some("br, gzip"), "brotli js", Some("br")),
        (Some("gzip, deflate, br, zstd"), "brotli js", Some("br")),
        (Some("gzip"), "gzip js", Some("gzip")),
        (Some("br;q=0, gzip"), "gzip js", Some("gzip")),
        (Some("identity"), "identity js", None),
        (None, "identity js", None),
    ] {
        let headers: Vec<(&str, &str)> =
            accept.map(|a| ("accept-encoding", a)).into_iter().collect();
        let reply = fetch(&server, js, &headers).await;
        assert_eq!(reply.status, StatusCode::OK, "{accept:?}");
        assert_eq!(text(&reply), body, "{accept:?}");
        assert_eq!(header(&reply, "content-encoding"), encoding, "{accept:?}");
        assert!(
            header(&reply, "content-type")
                .unwrap()
                .starts_with("text/javascript"),
            "{accept:?}"
        );
        assert_eq!(header(&reply, "vary"), Some("accept-encoding"));
        assert_eq!(
            header(&reply, "content-length"),
            Some(body.len().to_string().as_str())
        );
    }
    // No .gz copy of the wasm: a gzip-only client gets it as it is.
    let wasm = "/assets/console-4d5e6f_bg.wasm";
    let reply = fetch(&server, wasm, &[("accept-encoding", "gzip")]).await;
    assert_eq!(text(&reply), "identity wasm");
    assert_eq!(header(&reply, "content-encoding"), None);
    assert_eq!(header(&reply, "content-type"), Some("application/wasm"));
    let reply = fetch(&server, wasm, &[("accept-encoding", "br")]).await;
    assert_eq!(text(&reply), "brotli wasm");
    assert_eq!(header(&reply, "content-type"), Some("application/wasm"));
}

#[tokio::test]
async fn deep_links_reload_the_console_compressed() {
    let (_outer, console) = console_dir();
    let server = Server::with_console(Some(console)).await;
    for path in ["/", "/signoffs", "/rollouts/domain-migration/production"] {
        let reply = fetch(&server, path, &[("accept-encoding", "gzip, br")]).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        assert_eq!(text(&reply), "brotli index", "{path}");
        assert_eq!(header(&reply, "content-encoding"), Some("br"), "{path}");
        assert!(
            header(&reply, "content-type")
                .unwrap()
                .starts_with("text/html")
        );
        assert_eq!(header(&reply, "cache-control"), Some("no-cache"), "{path}");
        let reply = fetch(&server, path, &[]).await;
        assert_eq!(text(&reply), "<html>identity index</html>", "{path}");
        assert_eq!(header(&reply, "content-encoding"), None);
    }
    // A HEAD of a deep link answers as its GET would, without the body.
    let head = Request::head("/signoffs").body(Body::empty()).unwrap();
    let reply = server.send(head).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.body.is_empty());
}

#[tokio::test]
async fn hashed_assets_are_immutable_and_the_page_is_revalidated() {
    let (_outer, console) = console_dir();
    let server = Server::with_console(Some(console)).await;
    let reply = fetch(&server, "/assets/console-1a2b3c.js", &[]).await;
    assert_eq!(
        header(&reply, "cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    // Outside assets/ nothing is guessed from a name.
    let reply = fetch(&server, "/console-1a2b3c4d5e6f7a8b.js", &[]).await;
    assert_eq!(text(&reply), "root js");
    assert_eq!(header(&reply, "cache-control"), Some("no-cache"));
    // A missing hashed file is a 404, not the console's page.
    let reply = fetch(&server, "/assets/console-0000.js", &[]).await;
    assert_error(&reply, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(header(&reply, "cache-control"), None);

    // index.html revalidates: Last-Modified, then 304 for a copy that is current.
    for path in ["/", "/index.html", "/signoffs"] {
        let reply = fetch(&server, path, &[("accept-encoding", "br")]).await;
        assert_eq!(header(&reply, "cache-control"), Some("no-cache"), "{path}");
        let modified = header(&reply, "last-modified")
            .expect("Last-Modified")
            .to_string();
        let again = fetch(
            &server,
            path,
            &[("accept-encoding", "br"), ("if-modified-since", &modified)],
        )
        .await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{path}");
        assert!(again.body.is_empty());
        assert_eq!(header(&again, "cache-control"), Some("no-cache"), "{path}");
        let stale = fetch(
            &server,
            path,
            &[("if-modified-since", "Thu, 01 Jan 1970 00:00:00 GMT")],
        )
        .await;
        assert_eq!(stale.status, StatusCode::OK, "{path}");
    }
}

#[cfg(unix)]
#[tokio::test]
async fn links_out_of_the_console_are_not_followed() {
    use std::os::unix::fs::symlink;

    let (outer, console) = console_dir();
    let secret_dir = outer.path().join("private");
    std::fs::create_dir(&secret_dir).unwrap();
    let secret = secret_dir.join("secret.txt");
    std::fs::write(&secret, "stagegate secret").unwrap();
    symlink(&secret, console.join("leak.txt")).unwrap();
    symlink(
        "../../private/secret.txt",
        console.join("assets/relative-leak.txt"),
    )
    .unwrap();
    symlink(&secret_dir, console.join("linked")).unwrap();
    symlink(&secret, console.join("assets/console-1a2b3c.css.br")).unwrap();
    std::fs::write(console.join("assets/console-1a2b3c.css"), "identity css").unwrap();
    // A link that stays inside is served.
    symlink(
        console.join("assets/console-1a2b3c.js"),
        console.join("alias.js"),
    )
    .unwrap();
    let server = Server::with_console(Some(console.clone())).await;

    for (path, accept) in [
        ("/leak.txt", None),
        ("/assets/relative-leak.txt", None),
        ("/linked/secret.txt", None),
        ("/linked/", None),
        ("/linked", None),
        // Its identity copy is inside, but the brotli copy a client may get leads out.
        ("/assets/console-1a2b3c.css", Some("br")),
        ("/assets/console-1a2b3c.css", None),
    ] {
        let headers: Vec<(&str, &str)> =
            accept.map(|a| ("accept-encoding", a)).into_iter().collect();
        let reply = fetch(&server, path, &headers).await;
        assert_error(&reply, StatusCode::NOT_FOUND, "not_found");
        assert!(!text(&reply).contains("stagegate secret"), "{path}");
    }
    let reply = fetch(&server, "/alias.js", &[]).await;
    assert_eq!(text(&reply), "identity js");

    // An index.html that leads out is no console at all.
    std::fs::remove_file(console.join("index.html")).unwrap();
    symlink(&secret, console.join("index.html")).unwrap();
    for path in ["/", "/signoffs", "/index.html"] {
        let reply = fetch(&server, path, &[]).await;
        assert_error(&reply, StatusCode::NOT_FOUND, "not_found");
        assert!(!text(&reply).contains("stagegate secret"), "{path}");
    }
}

#[tokio::test]
async fn console_pages_may_not_be_framed_sniffed_or_run_foreign_code() {
    let (_outer, console) = console_dir();
    let built = Server::with_console(Some(console)).await;
    let unbuilt = Server::new().await;
    for (server, path) in [
        (&built, "/"),
        (&built, "/signoffs"),
        (&built, "/assets/console-1a2b3c.js"),
        (&built, "/assets/missing.js"),
        (&unbuilt, "/"),
    ] {
        let reply = fetch(server, path, &[]).await;
        let policy = header(&reply, "content-security-policy").expect(path);
        for directive in [
            "default-src 'self'",
            "script-src 'self' 'wasm-unsafe-eval'",
            "style-src 'self'",
            "object-src 'none'",
            "frame-ancestors 'none'",
        ] {
            assert!(
                policy.split("; ").any(|d| d == directive),
                "{path}: {policy}"
            );
        }
        assert!(!policy.contains("unsafe-inline"), "{policy}");
        assert_eq!(header(&reply, "x-frame-options"), Some("DENY"), "{path}");
        assert_eq!(
            header(&reply, "x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
    }
    let reply = fetch(&built, "/healthz", &[]).await;
    assert_eq!(header(&reply, "x-content-type-options"), Some("nosniff"));
}

#[tokio::test]
async fn without_a_built_console_a_placeholder_page() {
    let empty = tempfile::tempdir().unwrap();
    let missing = empty.path().join("nowhere");
    for console in [None, Some(missing), Some(empty.path().to_path_buf())] {
        let server = Server::with_console(console.clone()).await;
        for path in ["/", "/rollouts/domain-migration"] {
            let reply = fetch(&server, path, &[("accept-encoding", "br")]).await;
            assert_eq!(reply.status, StatusCode::OK, "{console:?} {path}");
            assert!(text(&reply).contains("cargo xtask dist"), "{console:?}");
            assert!(
                header(&reply, "content-type")
                    .unwrap()
                    .starts_with("text/html")
            );
        }
        assert_error(
            &fetch(&server, "/api/nope", &[]).await,
            StatusCode::NOT_FOUND,
            "no_route",
        );
    }
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn unbrotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::Decompressor::new(bytes, 4096)
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[tokio::test]
async fn larger_json_answers_are_compressed_smaller_ones_not() {
    let server = Server::new().await;
    let bearer = format!("Bearer {}", server.admin);
    let auth = ("authorization", bearer.as_str());
    let plain = fetch(&server, "/api/plan", &[auth]).await;
    assert_eq!(plain.status, StatusCode::OK);
    assert!(plain.body.len() > 1024, "the test needs a plan above 1 KiB");
    assert_eq!(header(&plain, "content-encoding"), None);
    assert_eq!(header(&plain, "vary"), Some("accept-encoding"));
    for (accept, encoding, decode) in [
        ("gzip", "gzip", gunzip as fn(&[u8]) -> Vec<u8>),
        ("br, gzip", "br", unbrotli),
    ] {
        let reply = fetch(&server, "/api/plan", &[auth, ("accept-encoding", accept)]).await;
        assert_eq!(header(&reply, "content-encoding"), Some(encoding));
        assert_eq!(header(&reply, "vary"), Some("accept-encoding"));
        assert_eq!(header(&reply, "content-type"), Some("application/json"));
        assert!(reply.body.len() < plain.body.len() / 2, "{accept}");
        assert_eq!(decode(&reply.body), plain.body, "{accept}");
        // The same revision, the same ETag: If-Match on a write still names it.
        assert_eq!(header(&reply, "etag"), header(&plain, "etag"));
    }

    // The client document: compressed once it is large (a long include list),
    // and still a 304 for the copy an app has.
    let path = "/client/staging.json";
    let small = fetch(&server, path, &[("accept-encoding", "gzip")]).await;
    assert!(small.body.len() < 1024);
    assert_eq!(header(&small, "content-encoding"), None);
    let mut plan = server.plan();
    plan["rollouts"]["domain-migration"]["environments"]["staging"]["include"] =
        (0..100).map(|i| format!("user-{i}")).collect();
    let etag = header(&plain, "etag").unwrap();
    let put = server
        .put_plan(&server.admin, Some(etag), &plan.to_string())
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", text(&put));
    let whole = fetch(&server, path, &[]).await;
    assert!(whole.body.len() > 1024);
    let reply = fetch(&server, path, &[("accept-encoding", "gzip")]).await;
    assert_eq!(header(&reply, "content-encoding"), Some("gzip"));
    assert_eq!(gunzip(&reply.body), whole.body);
    let etag = header(&reply, "etag").unwrap().to_string();
    let again = fetch(
        &server,
        path,
        &[("accept-encoding", "gzip"), ("if-none-match", &etag)],
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    assert_eq!(header(&again, "content-encoding"), None);

    // Below 1 KiB: as it is.
    for small in ["/healthz", "/api/me"] {
        let reply = fetch(&server, small, &[auth, ("accept-encoding", "gzip, br")]).await;
        assert_eq!(reply.status, StatusCode::OK, "{small}");
        assert!(reply.body.len() < 1024, "{small}");
        assert_eq!(header(&reply, "content-encoding"), None, "{small}");
        assert!(reply.json.is_object(), "{small}");
    }
}
