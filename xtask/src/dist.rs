//! `cargo xtask dist`: the npm package (dist/evaluator) and the console (dist/console).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
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
    for file in ["package.json", "index.js", "index.d.ts", "README.md"] {
        fs::copy(root.join("evaluator/npm").join(file), out.join(file))
            .with_context(|| format!("copying {file}"))?;
    }
    // The spec travels with the package, for other runtimes to implement.
    fs::copy(root.join("evaluator/SPEC.md"), out.join("SPEC.md")).context("copying SPEC.md")?;
    eprintln!("built {}", out.display());
    Ok(out)
}

/// dist/console: the Leptos console, with content-hashed asset names.
fn console() -> anyhow::Result<PathBuf> {
    let root = root();
    let out = root.join("dist/console");
    let wasm = build_wasm("stagegate-console", "stagegate_console", &[])?;
    let staging = root.join("target/console-bindgen");
    fresh_dir(&staging)?;
    bindgen(&wasm, &staging, "console", false)?;
    wasm_opt(&staging.join("console_bg.wasm"))?;

    fresh_dir(&out)?;
    let wasm_name = hashed(&staging.join("console_bg.wasm"), "console", "_bg.wasm")?;
    let css_name = hashed(&root.join("static/console.css"), "console", ".css")?;
    // The glue names its wasm file; it is given the hashed one explicitly instead.
    let js = fs::read(staging.join("console.js"))?;
    let js_name = format!("console-{}.js", short_hash(&js));
    fs::write(out.join(&js_name), js)?;
    fs::copy(staging.join("console_bg.wasm"), out.join(&wasm_name))?;
    fs::copy(root.join("static/console.css"), out.join(&css_name))?;

    let template =
        fs::read_to_string(root.join("static/index.html")).context("reading static/index.html")?;
    let marker = "<!-- stagegate:assets -->";
    anyhow::ensure!(
        template.contains(marker),
        "static/index.html has no {marker} marker"
    );
    let assets = format!(
        "<link rel=\"stylesheet\" href=\"/{css_name}\">\n\
         <link rel=\"modulepreload\" href=\"/{js_name}\">\n\
         <link rel=\"preload\" href=\"/{wasm_name}\" as=\"fetch\" type=\"application/wasm\" crossorigin>\n\
         <script type=\"module\">import init from \"/{js_name}\"; init({{ module_or_path: \"/{wasm_name}\" }});</script>"
    );
    fs::write(out.join("index.html"), template.replace(marker, &assets))?;
    eprintln!("built {}", out.display());
    Ok(out)
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
