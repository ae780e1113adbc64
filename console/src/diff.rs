//! A readable difference between two plan documents, and re-applying one on top of
//! another (the "reapply my edit" of a conflicting save).

use serde_json::Value;

/// One changed value: where (a JSON Pointer) and what it was and became.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub path: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// Leaf-level changes from `before` to `after`. Objects are compared key by key and
/// arrays index by index while their lengths match; otherwise the value is replaced
/// whole. The store-assigned `/revision` is not a change anyone made.
pub fn changes(before: &Value, after: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    walk(String::new(), Some(before), Some(after), &mut out);
    out.retain(|change| change.path != "/revision");
    out
}

fn walk(path: String, before: Option<&Value>, after: Option<&Value>, out: &mut Vec<Change>) {
    match (before, after) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            for (key, value) in a {
                walk(
                    format!("{path}/{}", escape(key)),
                    Some(value),
                    b.get(key),
                    out,
                );
            }
            for (key, value) in b.iter().filter(|(key, _)| !a.contains_key(*key)) {
                walk(format!("{path}/{}", escape(key)), None, Some(value), out);
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                walk(format!("{path}/{i}"), Some(x), Some(y), out);
            }
        }
        (a, b) if a != b => out.push(Change {
            path,
            before: a.cloned(),
            after: b.cloned(),
        }),
        _ => {}
    }
}

fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

fn unescape(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
}

/// Applies `changes` to `target`, creating objects on the way; a change whose
/// path no longer exists in an array is skipped (the other edit removed it).
pub fn apply(target: &mut Value, changes: &[Change]) {
    for change in changes {
        let segments: Vec<String> = change.path.split('/').skip(1).map(unescape).collect();
        let Some((last, parents)) = segments.split_last() else {
            if let Some(after) = &change.after {
                *target = after.clone();
            }
            continue;
        };
        match (parent_mut(target, parents), &change.after) {
            (Some(Value::Object(map)), Some(value)) => {
                map.insert(last.clone(), value.clone());
            }
            (Some(Value::Object(map)), None) => {
                map.shift_remove(last);
            }
            (Some(Value::Array(items)), Some(value)) => {
                if let Some(slot) = last.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                    *slot = value.clone();
                }
            }
            _ => {}
        }
    }
}

fn parent_mut<'a>(node: &'a mut Value, segments: &[String]) -> Option<&'a mut Value> {
    let Some((first, rest)) = segments.split_first() else {
        return Some(node);
    };
    let child = match node {
        Value::Object(map) => map
            .entry(first.clone())
            .or_insert_with(|| Value::Object(Default::default())),
        Value::Array(items) => items.get_mut(first.parse::<usize>().ok()?)?,
        _ => return None,
    };
    parent_mut(child, rest)
}

/// A value as one short line.
pub fn show(value: &Option<Value>) -> String {
    match value {
        None => "—".into(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_leaf_changes_and_reapplies_them_elsewhere() {
        let base = json!({"revision": 1, "stages": [{"p": 5, "n": "a"}, {"p": 25, "n": "b"}]});
        let mine = json!({"revision": 1, "stages": [{"p": 5, "n": "a"}, {"p": 30, "n": "b"}]});
        let theirs = json!({"revision": 2, "stages": [{"p": 10, "n": "a"}, {"p": 25, "n": "b"}]});
        let my_changes = changes(&base, &mine);
        assert_eq!(my_changes.len(), 1);
        assert_eq!(my_changes[0].path, "/stages/1/p");
        let mut merged = theirs.clone();
        apply(&mut merged, &my_changes);
        assert_eq!(
            merged,
            json!({"revision": 2, "stages": [{"p": 10, "n": "a"}, {"p": 30, "n": "b"}]})
        );
    }

    #[test]
    fn a_resized_array_is_replaced_whole_and_keys_are_escaped() {
        let before = json!({"a/b": [1], "gone": true});
        let after = json!({"a/b": [1, 2], "new": 1});
        let found = changes(&before, &after);
        assert_eq!(
            found.iter().map(|c| c.path.as_str()).collect::<Vec<_>>(),
            ["/a~1b", "/gone", "/new"]
        );
        let mut target = before.clone();
        apply(&mut target, &found);
        assert_eq!(target, after);
    }
}
