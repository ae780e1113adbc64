//! How one string names a rollout's flag, for the callers that have a single
//! flag key (OpenFeature providers, OFREP, the flagd export): `ROLLOUT.FLAG`,
//! or a bare flag name when only one rollout has a flag of that name.
//!
//! Rollout keys may hold dots, so `a.b.c` is tried as `a` + `b.c`, then
//! `a.b` + `c`; the first split whose left part is a rollout that has the
//! environment and whose right part is one of its flags wins. The JavaScript
//! providers implement the same rule and run the same cases
//! (`tests/testdata/flag-keys.json`).

use crate::evaluate::Evaluator;
use crate::model::{Plan, Rollout};

/// What [`find`] reads: a plan, or an evaluator prepared from one.
pub trait PlanSource {
    fn source_plan(&self) -> &Plan;
}

impl PlanSource for Plan {
    fn source_plan(&self) -> &Plan {
        self
    }
}

impl PlanSource for Evaluator {
    fn source_plan(&self) -> &Plan {
        self.plan()
    }
}

/// The (rollout, flag) that `key` names among the rollouts that have
/// `environment`; `None` when it names none, or a bare name more than one.
pub fn find<'p>(
    source: &'p (impl PlanSource + ?Sized),
    environment: &str,
    key: &str,
) -> Option<(&'p str, &'p str)> {
    let plan = source.source_plan();
    for (dot, _) in key.match_indices('.') {
        let (rollout, flag) = (&key[..dot], &key[dot + 1..]);
        let found = rollouts_in(plan, environment)
            .find(|(name, _)| *name == rollout)
            .and_then(|(name, r)| Some((name, flag_name(r, flag)?)));
        if found.is_some() {
            return found;
        }
    }
    let mut holders = rollouts_in(plan, environment)
        .filter_map(|(name, rollout)| Some((name, flag_name(rollout, key)?)));
    match (holders.next(), holders.next()) {
        (Some(only), None) => Some(only),
        _ => None,
    }
}

/// Every (rollout, flag) of the rollouts that have `environment`, in the
/// plan's order: what a bulk answer or an export lists.
pub fn flags_in<'p>(
    source: &'p (impl PlanSource + ?Sized),
    environment: &'p str,
) -> impl Iterator<Item = (&'p str, &'p str)> {
    rollouts_in(source.source_plan(), environment)
        .flat_map(|(name, rollout)| rollout.flags.keys().map(move |flag| (name, flag.as_str())))
}

/// The full key of a rollout's flag, as exports write it.
pub fn full_key(rollout: &str, flag: &str) -> String {
    format!("{rollout}.{flag}")
}

fn rollouts_in<'p>(
    plan: &'p Plan,
    environment: &str,
) -> impl Iterator<Item = (&'p str, &'p Rollout)> {
    plan.rollouts
        .iter()
        .filter(move |(_, rollout)| rollout.environments.contains_key(environment))
        .map(|(name, rollout)| (name.as_str(), rollout))
}

/// The plan's own copy of a flag's name, if the rollout has it.
fn flag_name<'p>(rollout: &'p Rollout, flag: &str) -> Option<&'p str> {
    rollout
        .flags
        .keys()
        .find(|name| *name == flag)
        .map(String::as_str)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test
mod tests {
    use super::*;

    const PLAN: &str = r#"{"schemaVersion": 1, "rollouts": {
        "a": {"flags": {"b.c": {"type": "boolean", "fallback": false}}, "stages": [], "environments": {"prod": {"activeStage": null}}},
        "a.b": {"flags": {"c": {"type": "boolean", "fallback": false}, "d": {"type": "boolean", "fallback": false}}, "stages": [], "environments": {"prod": {"activeStage": null}}}
    }}"#;

    #[test]
    fn the_first_split_from_the_left_wins_and_evaluators_read_the_same() {
        let evaluator = Evaluator::from_json(PLAN).unwrap();
        assert_eq!(find(&evaluator, "prod", "a.b.c"), Some(("a", "b.c")));
        assert_eq!(find(evaluator.plan(), "prod", "a.b.d"), Some(("a.b", "d")));
        assert_eq!(find(&evaluator, "prod", "d"), Some(("a.b", "d")));
        assert_eq!(find(&evaluator, "staging", "a.b.d"), None);
        let all: Vec<_> = flags_in(&evaluator, "prod").collect();
        assert_eq!(all, [("a", "b.c"), ("a.b", "c"), ("a.b", "d")]);
        assert_eq!(full_key("a.b", "d"), "a.b.d");
    }
}
