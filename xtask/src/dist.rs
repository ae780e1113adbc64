//! `cargo xtask dist`: the npm package (dist/evaluator) and the console (dist/console).

use std::fs;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use anyhow::Context;
use flate2::Compression;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

use crate::util::{cargo, command, npm_ci, root, run};

const TARGET: &str = "wasm32-unknown-unknown";
/// Features the Rust wasm32 target enables by default; wasm-opt must accept them.
const WASM_FEATURES: [&str; 6] = [
    "--enable-bulk-memory",
    "--enable-nontrapping-float-to-int",
    "--enable-sign-ext",
    "--enable-mutable-globals",
    "--enable-reference-types",
    "--enable-multivalue",
];

pub struct Dist {
    pub evaluator: PathBuf,
    pub console: Option<PathBuf>,
}

pub fn dist() -> anyhow::Result<Dist> {
    wasm_target()?;
    npm_ci()?;
    let evaluator = npm_package()?;
    let console = if root().join("console/Cargo.toml").exists() {
        Some(console()?)
    } else {
        None
    };
    Ok(Dist { evaluator, console })
}

/// dist/evaluator: the `stagegate-evaluator` npm package.
fn npm_package() -> anyhow::Result<PathBuf> {
    let root = root();
    let out = root.join("dist/evaluator");
    // Without serde: the package reads and writes JSON itself.
    let wasm = build_wasm(
        "stagegate-evaluator",
        "evaluator",
        &["--no-default-features", "--features", "wasm"],
    )?;
    fresh_dir(&out)?;
    bindgen(&wasm, &out, "stagegate_evaluator", true)?;
    wasm_opt(&out.join("stagegate_evaluator_bg.wasm"))?;
    for file in [
        "package.json",
        "index.d.ts",
        "node.js",
        "live.js",
        "live.d.ts",
        "openfeature.js",
        "openfeature.d.ts",
        "reporter.js",
        "reporter.d.ts",
        "README.md",
    ] {
        fs::copy(root.join("evaluator/npm").join(file), out.join(file))
            .with_context(|| format!("copying {file}"))?;
    }
    // The core's wrapper counts towards its 40 KB: it ships without comments
    // and indentation (evaluator/npm/index.js keeps them).
    minify_whitespace(&root.join("evaluator/npm/index.js"), &out.join("index.js"))?;
    // The spec travels with the package, for other runtimes to implement.
    fs::copy(root.join("evaluator/SPEC.md"), out.join("SPEC.md")).context("copying SPEC.md")?;
    eprintln!("built {}", out.display());
    Ok(out)
}

/// dist/console: the Leptos console. Its layout is a contract with the server
/// (server/src/static_files.rs): `assets/` holds only files whose names carry
/// their content's hash, so they may be cached forever; everything else (just
/// `index.html`) is revalidated. Each text or wasm file has `.br` and `.gz`
/// copies beside it, which the server sends by the request's Accept-Encoding.
fn console() -> anyhow::Result<PathBuf> {
    let root = root();
    let out = root.join("dist/console");
    let wasm = build_wasm("stagegate-console", "stagegate_console", &[])?;
    let staging = root.join("target/console-bindgen");
    fresh_dir(&staging)?;
    bindgen(&wasm, &staging, "console", false)?;
    wasm_opt(&staging.join("console_bg.wasm"))?;

    fresh_dir(&out)?;
    let assets = out.join("assets");
    fs::create_dir(&assets)?;
    let wasm_name = hashed(&staging.join("console_bg.wasm"), "console", "_bg.wasm")?;
    let css_name = hashed(&root.join("static/console.css"), "console", ".css")?;
    // The glue names its wasm file; it is given the hashed one explicitly instead.
    let js = fs::read(staging.join("console.js"))?;
    let js_name = format!("console-{}.js", short_hash(&js));
    fs::write(assets.join(&js_name), js)?;
    fs::copy(staging.join("console_bg.wasm"), assets.join(&wasm_name))?;
    fs::copy(root.join("static/console.css"), assets.join(&css_name))?;
    // A file, not an inline script: the Content-Security-Policy allows scripts
    // from the server only.
    let boot = format!(
        "import init from \"/assets/{js_name}\";\ninit({{ module_or_path: \"/assets/{wasm_name}\" }});\n"
    );
    let boot_name = format!("boot-{}.js", short_hash(boot.as_bytes()));
    fs::write(assets.join(&boot_name), boot)?;

    let template =
        fs::read_to_string(root.join("static/index.html")).context("reading static/index.html")?;
    let marker = "<!-- stagegate:assets -->";
    anyhow::ensure!(
        template.contains(marker),
        "static/index.html has no {marker} marker"
    );
    let links = format!(
        "<link rel=\"stylesheet\" href=\"/assets/{css_name}\">\n\
         <link rel=\"modulepreload\" href=\"/assets/{js_name}\">\n\
         <link rel=\"preload\" href=\"/assets/{wasm_name}\" as=\"fetch\" type=\"application/wasm\" crossorigin>\n\
         <script type=\"module\" src=\"/assets/{boot_name}\"></script>"
    );
    fs::write(out.join("index.html"), template.replace(marker, &links))?;
    for file in [
        out.join("index.html"),
        assets.join(&js_name),
        assets.join(&wasm_name),
        assets.join(&css_name),
        assets.join(&boot_name),
    ] {
        precompress(&file)?;
    }
    eprintln!("built {}", out.display());
    Ok(out)
}

/// Writes `FILE.br` (brotli at its best) and `FILE.gz` (gzip -9) beside `file`,
/// each only if it is smaller than the file itself.
fn precompress(file: &Path) -> anyhow::Result<()> {
    let bytes = fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let mut brotli = brotli::CompressorWriter::new(Vec::new(), 64 * 1024, 11, 24);
    brotli.write_all(&bytes)?;
    // `into_inner` finishes the stream but drops any error: read it back.
    let brotli = brotli.into_inner();
    let mut unpacked = Vec::with_capacity(bytes.len());
    brotli::Decompressor::new(&brotli[..], 64 * 1024).read_to_end(&mut unpacked)?;
    anyhow::ensure!(
        unpacked == bytes,
        "brotli of {} does not read back",
        file.display()
    );
    let mut gzip = GzEncoder::new(Vec::new(), Compression::best());
    gzip.write_all(&bytes)?;
    let gzip = gzip.finish()?;
    for (suffix, compressed) in [("br", brotli), ("gz", gzip)] {
        if compressed.len() < bytes.len() {
            let mut name = file.as_os_str().to_owned();
            name.push(".");
            name.push(suffix);
            fs::write(&name, compressed)?;
        }
    }
    Ok(())
}

/// rust-toolchain.toml lists the wasm target; older rustups only honour that when
/// they install the toolchain, so add it if the toolchain is already there without it.
fn wasm_target() -> anyhow::Result<()> {
    let libdir = command("rustc")
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()?;
    let path = String::from_utf8_lossy(&libdir.stdout).trim().to_string();
    if libdir.status.success() && Path::new(&path).exists() {
        return Ok(());
    }
    run(command("rustup").args(["target", "add", TARGET]))
}

fn build_wasm(package: &str, artifact: &str, extra: &[&str]) -> anyhow::Result<PathBuf> {
    run(cargo()
        .args([
            "build",
            "--locked",
            "--lib",
            "-p",
            package,
            "--target",
            TARGET,
            "--profile",
            "wasm",
        ])
        .args(extra))?;
    Ok(root()
        .join("target")
        .join(TARGET)
        .join("wasm")
        .join(format!("{artifact}.wasm")))
}

fn bindgen(wasm: &Path, out: &Path, name: &str, typescript: bool) -> anyhow::Result<()> {
    wasm_bindgen_cli_support::Bindgen::new()
        .input_path(wasm)
        .web(true)?
        // `init()` with no argument fetches the .wasm next to the glue (browsers).
        .omit_default_module_path(false)
        .typescript(typescript)
        .out_name(name)
        .generate(out)
        .with_context(|| format!("wasm-bindgen on {}", wasm.display()))
}

/// Optimises for size with binaryen's wasm-opt from the committed npm lockfile.
fn wasm_opt(wasm: &Path) -> anyhow::Result<()> {
    let wasm_opt = root().join("node_modules/.bin/wasm-opt");
    run(command(&wasm_opt)
        // Rust lays out wasm memory stack first: the stack grows down from 1 MiB
        // towards 0, and data lies above it. Only a stack within 1 KiB of
        // overflowing would touch the low 1 KiB, so wasm-opt may assume it unused
        // and fold more address arithmetic into loads (our recursion is bounded:
        // JSON nests at most 128 deep).
        .arg("--low-memory-unused")
        .args(["-Oz", "--converge"])
        // Toolchain metadata that no runtime reads.
        .args(["--strip-producers", "--strip-target-features"])
        .args(WASM_FEATURES)
        .arg(wasm)
        .arg("-o")
        .arg(wasm))
}

/// esbuild's whitespace minification from the committed npm lockfile: comments
/// and layout go, the code stays as written (a robust parser, where stripping
/// comments by hand could break strings and regular expressions).
fn minify_whitespace(source: &Path, out: &Path) -> anyhow::Result<()> {
    let esbuild = root().join("node_modules/.bin/esbuild");
    run(command(&esbuild)
        .arg(source)
        .args([
            "--minify-whitespace",
            "--legal-comments=none",
            "--log-level=warning",
        ])
        .arg(format!("--outfile={}", out.display())))
}

fn fresh_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}

fn hashed(path: &Path, stem: &str, suffix: &str) -> anyhow::Result<String> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(format!("{stem}-{}{suffix}", short_hash(&bytes)))
}

fn short_hash(bytes: &[u8]) -> String {
    Sha256::digest(bytes)[..6]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}
