//! What changed between two JSON documents, leaf by leaf, as JSON Pointers: the
//! audit's summary of a write (server), the history's and the conflict view's
//! tables and the "reapply my edit" of a conflicting save (console).

use evaluator::problem::escape;
use serde_json::Value;

/// One changed value: where (a JSON Pointer) and what it was and became
/// (`None`: absent).
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub path: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// Leaf-level changes from `before` to `after`. Objects are compared key by key
/// (the old keys in order, then the added ones) and arrays index by index while
/// their lengths match; otherwise the value is replaced whole.
pub fn changes(before: &Value, after: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    walk(String::new(), Some(before), Some(after), &mut out);
    out
}

/// `changes` between two plans, without the store-assigned `/revision`: nobody
/// made that change.
pub fn plan_changes(before: &Value, after: &Value) -> Vec<Change> {
    let mut out = changes(before, after);
    out.retain(|change| change.path != "/revision");
    out
}

fn walk(path: String, before: Option<&Value>, after: Option<&Value>, out: &mut Vec<Change>) {
    match (before, after) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            for (key, value) in a {
                let path = format!("{path}/{}", escape(key));
                walk(path, Some(value), b.get(key), out);
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_leaf_changes_and_reapplies_them_elsewhere() {
        let base = json!({"revision": 1, "stages": [{"p": 5, "n": "a"}, {"p": 25, "n": "b"}]});
        let mine = json!({"revision": 1, "stages": [{"p": 5, "n": "a"}, {"p": 30, "n": "b"}]});
        let theirs = json!({"revision": 2, "stages": [{"p": 10, "n": "a"}, {"p": 25, "n": "b"}]});
        let my_changes = plan_changes(&base, &mine);
        assert_eq!(my_changes.len(), 1);
        assert_eq!(my_changes[0].path, "/stages/1/p");
        assert_eq!(plan_changes(&base, &theirs).len(), 1, "revision left out");
        assert_eq!(changes(&base, &theirs).len(), 2);
        let mut merged = theirs.clone();
        apply(&mut merged, &my_changes);
        assert_eq!(
            merged,
            json!({"revision": 2, "stages": [{"p": 10, "n": "a"}, {"p": 30, "n": "b"}]})
        );
    }

    #[test]
    fn a_resized_array_is_replaced_whole_and_keys_are_escaped() {
        let before = json!({"a/b": [1], "gone": true, "t~": 1});
        let after = json!({"a/b": [1, 2], "new": 1, "t~": 2});
        let found = changes(&before, &after);
        assert_eq!(
            found.iter().map(|c| c.path.as_str()).collect::<Vec<_>>(),
            ["/a~1b", "/gone", "/t~0", "/new"]
        );
        assert_eq!(found[1].after, None);
        assert_eq!(found[3].before, None);
        let mut target = before.clone();
        apply(&mut target, &found);
        assert_eq!(target, after);
    }
}
