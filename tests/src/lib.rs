//! Helpers shared by the cross-crate tests: where the test data is, and how a
//! case file names its plan.

mod gate_cases;

use std::path::{Path, PathBuf};

use serde_json::Value;

pub use gate_cases::{GateCase, gate_cases};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_path_buf()
}

pub fn testdata(relative: &str) -> PathBuf {
    root().join("tests/testdata").join(relative)
}

pub fn read_json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// Every `*.json` file in a test data folder, sorted.
pub fn case_files(folder: &str) -> Vec<PathBuf> {
    let dir = testdata(folder);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no test data in {}", dir.display());
    files
}

pub fn default_plan() -> Value {
    read_json(&root().join("static/default-plan.json"))
}

/// The plan a case runs against: the file's `plan` ("default" or inline) with the
/// file's and then the case's `set` applied (JSON Pointer → new value).
pub fn case_plan(file: &Value, case: &Value) -> Option<Value> {
    let mut plan = match file.get("plan")? {
        Value::String(name) if name == "default" => default_plan(),
        Value::String(other) => panic!("unknown plan name {other}"),
        inline => inline.clone(),
    };
    for set in [file.get("set"), case.get("set")].into_iter().flatten() {
        for (pointer, value) in set.as_object().expect("set is an object") {
            *plan
                .pointer_mut(pointer)
                .unwrap_or_else(|| panic!("set: no value at {pointer}")) = value.clone();
        }
    }
    Some(plan)
}

/// The npm package built by `cargo xtask dist`.
pub fn npm_package() -> PathBuf {
    std::env::var_os("STAGEGATE_NPM_PACKAGE")
        .map_or_else(|| root().join("dist/evaluator"), PathBuf::from)
}
