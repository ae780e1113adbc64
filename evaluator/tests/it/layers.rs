//! The evaluator's layers (ARCHITECTURE.md, "Layers inside the evaluator"),
//! enforced: every module of `src/` has a layer in `LAYERS`; it may use modules
//! of its own layer or lower ones, never a higher one; the uses form no cycle;
//! and the JSON layer uses no other module at all. A use is any `crate::…` path
//! outside comments and `#[cfg(test)]` modules (test code may reach anything).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// Module → layer. Keep in step with ARCHITECTURE.md.
const LAYERS: &[(&str, u8)] = &[
    ("json", 0),
    ("murmur3", 0),
    ("semver", 0),
    ("sort", 0),
    ("model", 1),
    ("context", 1),
    ("bucket", 1),
    ("digest", 1),
    ("problem", 2),
    ("read", 2),
    ("validate", 2),
    ("signoff", 2),
    ("gate", 2),
    ("client", 2),
    ("load", 3),
    ("evaluate", 3),
    ("packed", 3),
    ("stats", 3),
    ("flag_key", 3),
    ("wasm", 4),
];

/// Modules that use no other module of the crate: the JSON layer could be
/// lifted out as it is.
const STANDS_ALONE: &[&str] = &["json"];

#[test]
fn no_module_uses_a_higher_layer_and_uses_form_no_cycle() {
    let uses = crate_uses(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let layers: BTreeMap<&str, u8> = LAYERS.iter().copied().collect();
    let mut wrong = Vec::new();

    for module in uses.keys() {
        if !layers.contains_key(module.as_str()) {
            wrong.push(format!("{module}: no layer in LAYERS"));
        }
    }
    for module in layers.keys() {
        if !uses.contains_key(*module) {
            wrong.push(format!("{module}: in LAYERS, but src/ has no such module"));
        }
    }
    for (module, used) in &uses {
        let Some(&layer) = layers.get(module.as_str()) else {
            continue;
        };
        for other in used {
            match layers.get(other.as_str()) {
                None => wrong.push(format!(
                    "{module} uses crate::{other}, which is not a module: name the module \
                     that defines it (crate::module::{other}), not a re-export at the root"
                )),
                Some(&above) if above > layer => wrong.push(format!(
                    "{module} (layer {layer}) uses {other} (layer {above}), a higher layer"
                )),
                Some(_) if STANDS_ALONE.contains(&module.as_str()) => {
                    wrong.push(format!("{module} stands alone, but uses {other}"))
                }
                Some(_) => {}
            }
        }
    }
    if let Some(cycle) = find_cycle(&uses) {
        wrong.push(format!("a cycle: {}", cycle.join(" → ")));
    }
    assert!(
        wrong.is_empty(),
        "evaluator layers broken:\n  {}",
        wrong.join("\n  ")
    );
}

/// Each module of `src` (a file, or a folder with its files) and the other
/// modules its code names through `crate::`.
fn crate_uses(src: &Path) -> BTreeMap<String, Vec<String>> {
    let mut uses: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (module, path) in module_files(src) {
        let text = fs::read_to_string(&path).expect("a readable source file");
        let used = uses.entry(module.clone()).or_default();
        for name in crate_paths(&without_tests_and_comments(&text)) {
            if name != module && !used.contains(&name) {
                used.push(name);
            }
        }
    }
    uses
}

/// (module, file) for every file of `src` but the crate root.
fn module_files(src: &Path) -> Vec<(String, std::path::PathBuf)> {
    let mut files = Vec::new();
    for entry in fs::read_dir(src).expect("src/") {
        let path = entry.expect("an entry of src/").path();
        let name = path
            .file_stem()
            .expect("a name")
            .to_string_lossy()
            .to_string();
        if path.is_dir() {
            for inner in fs::read_dir(&path).expect("a folder of src/") {
                let inner = inner.expect("an entry of a folder of src/").path();
                if inner.extension().is_some_and(|ext| ext == "rs") {
                    files.push((name.clone(), inner));
                }
            }
        } else if path.extension().is_some_and(|ext| ext == "rs") && name != "lib" {
            files.push((name, path));
        }
    }
    files
}

/// The code of a file without its `#[cfg(test)]` modules (rustfmt closes a
/// top-level module with a `}` alone on a line) and without `//` comments.
fn without_tests_and_comments(text: &str) -> String {
    let mut code = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]"
            && lines.peek().is_some_and(|next| {
                let next = next
                    .trim_start_matches("pub(crate) ")
                    .trim_start_matches("pub ");
                next.starts_with("mod ") && next.ends_with('{')
            })
        {
            for skipped in lines.by_ref() {
                if skipped == "}" {
                    break;
                }
            }
            continue;
        }
        code.push_str(line.split("//").next().unwrap_or_default());
        code.push('\n');
    }
    code
}

/// The first segment of every `crate::` path in `code`, including each of a
/// `crate::{a::…, b}` group.
fn crate_paths(code: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let end = group
                .find(|c| {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => return true,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    false
                })
                .expect("a closed crate::{…} group");
            let mut depth = 0;
            for item in group[..end].split(|c| {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                c == ',' && depth == 0
            }) {
                names.extend(first_segment(item.trim()));
            }
        } else {
            names.extend(first_segment(rest));
        }
    }
    names
}

fn first_segment(path: &str) -> Option<String> {
    let end = path
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(path.len());
    (end > 0).then(|| path[..end].to_string())
}

/// A cycle of uses, as the modules along it, if there is one.
fn find_cycle(uses: &BTreeMap<String, Vec<String>>) -> Option<Vec<String>> {
    fn visit(
        module: &str,
        uses: &BTreeMap<String, Vec<String>>,
        path: &mut Vec<String>,
        done: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|on| on == module) {
            let mut cycle = path[start..].to_vec();
            cycle.push(module.to_string());
            return Some(cycle);
        }
        if done.iter().any(|finished| finished == module) {
            return None;
        }
        path.push(module.to_string());
        for other in uses.get(module).into_iter().flatten() {
            if let Some(cycle) = visit(other, uses, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.push(module.to_string());
        None
    }
    let mut done = Vec::new();
    uses.keys()
        .find_map(|module| visit(module, uses, &mut Vec::new(), &mut done))
}

#[test]
fn the_reader_finds_uses_in_paths_and_groups_but_not_in_tests_or_comments() {
    let code = "use crate::json::{Map, Value};\n\
                use crate::{model::Plan, context::{Attribute, Context}, Evaluator};\n\
                // crate::wasm is only mentioned\n\
                fn f() { crate::bucket::bucket(\"s\", \"u\"); $crate::nothing; }\n\
                #[cfg(test)]\n\
                mod tests {\n    use crate::load::parse_plan;\n}\n\
                fn g() -> crate::digest::Digest { todo!() }\n";
    assert_eq!(
        crate_paths(&without_tests_and_comments(code)),
        ["json", "model", "context", "Evaluator", "bucket", "digest"]
    );
}

#[test]
fn a_cycle_is_found_and_named() {
    let uses = |edges: &[(&str, &str)]| {
        let mut uses: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (from, to) in edges {
            uses.entry(from.to_string())
                .or_default()
                .push(to.to_string());
            uses.entry(to.to_string()).or_default();
        }
        uses
    };
    assert_eq!(
        find_cycle(&uses(&[("a", "b"), ("b", "c"), ("a", "c")])),
        None
    );
    assert_eq!(
        find_cycle(&uses(&[("a", "b"), ("b", "c"), ("c", "b")])),
        Some(vec!["b".to_string(), "c".to_string(), "b".to_string()])
    );
}
