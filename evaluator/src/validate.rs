//! The rules across fields of a plan whose shape has been read: every problem
//! found, not just the first.

use crate::json::{Number, Value};

use crate::bucket::basis_points;
#[cfg(not(feature = "wasm"))]
use crate::model::{Compare, EXPOSURE_EVENT, RollbackTrigger, ThresholdUnit};
use crate::model::{Constraint, Plan, Rollout, SCHEMA_VERSION, SIGNOFF_ROLES};
use crate::problem::{Problem, escape, listed};
use crate::semver::Version;
use crate::sort::SortedSet;

/// Rules across fields, checked on a plan that has the right shape.
pub fn validate(plan: &Plan) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut report = |path: String, message: String| problems.push(Problem::at(path, message));

    if plan.schema_version != SCHEMA_VERSION {
        report(
            "/schemaVersion".into(),
            format!(
                "schemaVersion {} is not supported; this version reads {SCHEMA_VERSION}",
                plan.schema_version
            ),
        );
    }
    if plan.rollouts.is_empty() {
        report(
            "/rollouts".into(),
            "a plan needs at least one rollout".into(),
        );
    }
    if too_many(
        ("", "rollouts"),
        "a plan",
        plan.rollouts.len(),
        MAX_ROLLOUTS,
        &mut report,
    ) {
        return problems;
    }
    for (key, rollout) in &plan.rollouts {
        let at = format!("/rollouts/{}", escape(key));
        check_identifier(&at, "rollout key", key, &mut report);
        check_rollout(&at, rollout, &mut report);
    }

    for (i, signoff) in plan.signoffs.iter().enumerate() {
        let at = format!("/signoffs/{i}");
        if plan
            .signoffs
            .iter()
            .take(i)
            .any(|earlier| earlier.id == signoff.id)
        {
            report(
                format!("{at}/id"),
                format!("sign-off id '{}' is used more than once", signoff.id),
            );
        }
        match plan.rollouts.get(&signoff.rollout) {
            None => report(
                format!("{at}/rollout"),
                format!("rollout '{}' does not exist", signoff.rollout),
            ),
            Some(rollout) if rollout.stage(&signoff.stage).is_none() => report(
                format!("{at}/stage"),
                format!(
                    "stage '{}' does not exist in rollout '{}'",
                    signoff.stage, signoff.rollout
                ),
            ),
            Some(_) => {}
        }
        if !SIGNOFF_ROLES.contains(&signoff.role.as_str()) {
            report(format!("{at}/role"), unknown_role(&signoff.role));
        }
    }
    problems
}

fn check_rollout(at: &str, rollout: &Rollout, report: &mut impl FnMut(String, String)) {
    // Checks below compare names pairwise: sizes are bounded first.
    let sizes = [
        ("flags", rollout.flags.len(), MAX_FLAGS),
        ("stages", rollout.stages.len(), MAX_STAGES),
        ("environments", rollout.environments.len(), MAX_STAGES),
    ];
    let mut over = false;
    for (name, len, max) in sizes {
        over |= too_many((at, name), "a rollout", len, max, report);
    }
    if over {
        return;
    }
    if rollout.flags.is_empty() {
        report(
            format!("{at}/flags"),
            "a rollout needs at least one flag".into(),
        );
    }
    for (name, flag) in &rollout.flags {
        let at = format!("{at}/flags/{}", escape(name));
        if name.is_empty() {
            report(at.clone(), "flag name must not be empty".into());
        }
        if !flag.kind.admits(&flag.fallback) {
            report(
                format!("{at}/fallback"),
                format!("fallback {} is not a {}", flag.fallback, flag.kind.name()),
            );
        }
        check_numbers(&mut format!("{at}/fallback"), &flag.fallback, report);
    }

    // The previous stage's share (basis points) and name.
    let mut previous: Option<(u16, &str)> = None;
    for (i, stage) in rollout.stages.iter().enumerate() {
        let at = format!("{at}/stages/{i}");
        check_identifier(&format!("{at}/id"), "stage id", &stage.id, report);
        if rollout
            .stages
            .iter()
            .take(i)
            .any(|earlier| earlier.id == stage.id)
        {
            report(
                format!("{at}/id"),
                format!("stage id '{}' is used more than once", stage.id),
            );
        }
        if stage.name.trim().is_empty() {
            report(format!("{at}/name"), "stage name must not be empty".into());
        }
        match basis_points(&stage.percentage) {
            None => report(
                format!("{at}/percentage"),
                format!(
                    "percentage {} must be between 0 and 100 with at most two decimals",
                    stage.percentage
                ),
            ),
            Some(points) => {
                if let Some((before, name)) = previous.filter(|&(before, _)| points < before) {
                    report(
                        format!("{at}/percentage"),
                        format!(
                            "the percentage of “{}” ({}%) must be at least that of “{name}” ({}%): stages may only widen the rollout",
                            stage.name,
                            stage.percentage,
                            percent(before)
                        ),
                    );
                }
                previous = Some((points, &stage.name));
            }
        }
        if let Some(hours) = &stage.soak_hours {
            check_numbers(
                &mut format!("{at}/soakHours"),
                &Value::Number(hours.clone()),
                report,
            );
            if is_negative(hours) {
                report(
                    format!("{at}/soakHours"),
                    format!("soakHours ({hours}) must be 0 or more"),
                );
            }
        }
        for (flag, value) in &stage.values {
            let at = format!("{at}/values/{}", escape(flag));
            match rollout.flags.get(flag) {
                None => report(
                    at,
                    format!("flag '{flag}' is not defined in this rollout's flags"),
                ),
                Some(def) if !def.kind.admits(value) => report(
                    at,
                    format!("value {value} is not a {} (flag '{flag}')", def.kind.name()),
                ),
                Some(_) => check_numbers(&mut at.clone(), value, report),
            }
        }
        for (j, role) in stage.required_signoffs.iter().enumerate() {
            let at = format!("{at}/requiredSignoffs/{j}");
            if !SIGNOFF_ROLES.contains(&role.as_str()) {
                report(at, unknown_role(role));
            } else if stage
                .required_signoffs
                .iter()
                .take(j)
                .any(|earlier| earlier == role)
            {
                report(at, format!("role '{role}' is listed twice"));
            }
        }
    }

    if rollout.environments.is_empty() {
        report(
            format!("{at}/environments"),
            "a rollout needs at least one environment".into(),
        );
    }
    for (name, env) in &rollout.environments {
        let at = format!("{at}/environments/{}", escape(name));
        check_identifier(&at, "environment name", name, report);
        if let Some(active) = &env.active_stage
            && rollout.stage(active).is_none()
        {
            report(
                format!("{at}/activeStage"),
                format!("stage '{active}' does not exist in this rollout"),
            );
        }
        let excluded = SortedSet::new(&env.exclude);
        for (j, key) in env.include.iter().enumerate() {
            if excluded.contains(key) {
                report(
                    format!("{at}/include/{j}"),
                    format!("'{key}' is both included and excluded"),
                );
            }
        }
        for (j, constraint) in env.constraints.iter().enumerate() {
            check_constraint(&format!("{at}/constraints/{j}"), constraint, report);
        }
    }

    #[cfg(not(feature = "wasm"))]
    for (i, trigger) in rollout.rollback_triggers.iter().enumerate() {
        let at = format!("{at}/rollbackTriggers/{i}");
        check_trigger(&at, trigger, report);
        if rollout
            .rollback_triggers
            .iter()
            .take(i)
            .any(|t| t.metric == trigger.metric)
        {
            report(
                format!("{at}/metric"),
                format!("metric '{}' is used by an earlier trigger", trigger.metric),
            );
        }
    }
    for (i, item) in rollout.checklist.iter().enumerate() {
        if item.phase.trim().is_empty() {
            report(
                format!("{at}/checklist/{i}/phase"),
                "phase must not be empty".into(),
            );
        }
        if item.item.trim().is_empty() {
            report(
                format!("{at}/checklist/{i}/item"),
                "item must not be empty".into(),
            );
        }
    }
}

/// Most rollouts a plan may have.
pub const MAX_ROLLOUTS: usize = 1000;
/// Most flags a rollout may have.
pub const MAX_FLAGS: usize = 1000;
/// Most stages, and most environments, a rollout may have.
pub const MAX_STAGES: usize = 100;

/// Reports a collection larger than `max`; whether it was.
fn too_many(
    (at, name): (&str, &str),
    holder: &str,
    len: usize,
    max: usize,
    report: &mut impl FnMut(String, String),
) -> bool {
    if len > max {
        let message = format!("{holder} has at most {max} {name}, not {len}");
        report(format!("{at}/{name}"), message);
    }
    len > max
}

/// Flag values reach apps as JavaScript numbers, and the store keeps doubles: a
/// number must be one a double holds exactly as written. `at` is the value's
/// path, extended and restored on the way down.
/// A trigger's rules (SPEC.md, "Triggers"); its shape is `read`'s.
#[cfg(not(feature = "wasm"))]
fn check_trigger(at: &str, trigger: &RollbackTrigger, report: &mut impl FnMut(String, String)) {
    // Characters counted as UTF-8 lead bytes (`chars().count()` costs wasm bytes).
    let characters = trigger.metric.bytes().filter(|b| b & 0xC0 != 0x80).count();
    if trigger.metric.trim().is_empty() || characters > 100 {
        report(
            format!("{at}/metric"),
            "metric must be a name of 1 to 100 characters".into(),
        );
    }
    let mut name = |field: &str, value: &str| {
        let fits = !value.is_empty()
            && value.len() <= 64
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
        if !fits {
            report(
                format!("{at}/{field}"),
                format!("{field} '{value}' must be 1 to 64 letters, digits, '_', '-' or '.'"),
            );
        }
    };
    name("event", &trigger.event);
    if let Some(per) = &trigger.per {
        name("per", per);
    }
    if trigger.event == EXPOSURE_EVENT {
        report(
            format!("{at}/event"),
            format!("event '{EXPOSURE_EVENT}' is reserved for units exposed; name what is counted"),
        );
    }
    if trigger.per.as_deref() == Some(trigger.event.as_str()) {
        report(
            format!("{at}/per"),
            "per must name another event than event".into(),
        );
    }
    match (&trigger.per, trigger.compare, trigger.unit) {
        (None, Some(_), _) => report(
            format!("{at}/compare"),
            "compare applies to a rate: give per, or remove compare".into(),
        ),
        (None, _, Some(_)) => report(
            format!("{at}/unit"),
            "unit applies to a rate: give per, or remove unit".into(),
        ),
        (Some(_), None, _) => report(
            format!("{at}/compare"),
            "a rate needs compare: 'control' or 'ceiling'".into(),
        ),
        (Some(_), Some(Compare::Ceiling), Some(ThresholdUnit::Percent)) => report(
            format!("{at}/unit"),
            "a ceiling is in points: percent is relative to the control".into(),
        ),
        _ => {}
    }
    let threshold = &trigger.threshold;
    check_numbers(
        &mut format!("{at}/threshold"),
        &Value::Number(threshold.clone()),
        report,
    );
    let in_points = trigger.per.is_some() && trigger.unit != Some(ThresholdUnit::Percent);
    if is_negative(threshold) || (in_points && above_100(threshold)) {
        let range = if in_points {
            "from 0 to 100 points"
        } else {
            "0 or more"
        };
        report(
            format!("{at}/threshold"),
            format!("threshold ({}) must be {range}", trigger.threshold),
        );
    }
}

fn is_negative(number: &Number) -> bool {
    number.as_str().starts_with('-')
}

#[cfg(not(feature = "wasm"))]
/// Whether a number is over 100, read from its canonical text's bytes (no
/// float parsing, no `str` slicing: both would cost the npm package bytes).
fn above_100(number: &Number) -> bool {
    let text = number.as_str().as_bytes();
    if text.first() == Some(&b'-') {
        return false;
    }
    if let Some(e) = text.iter().position(|&b| b == b'e' || b == b'E') {
        return text.get(e + 1) != Some(&b'-');
    }
    let whole = text.iter().position(|&b| b == b'.').unwrap_or(text.len());
    let digits = text.get(..whole).unwrap_or_default();
    whole > 3
        || (whole == 3 && (digits > b"100".as_slice() || (digits == b"100" && whole < text.len())))
}

fn check_numbers(at: &mut String, value: &Value, report: &mut impl FnMut(String, String)) {
    let end = at.len();
    match value {
        Value::Number(number) if !number.fits_double() => report(
            at.clone(),
            format!(
                "number {number} cannot be a JavaScript number as written: at most 15 significant digits, between 1e-307 and 1e308"
            ),
        ),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                at.push('/');
                at.push_str(&i.to_string());
                check_numbers(at, item, report);
                at.truncate(end);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                at.push('/');
                at.push_str(&escape(key));
                check_numbers(at, item, report);
                at.truncate(end);
            }
        }
        _ => {}
    }
}

fn check_constraint(at: &str, constraint: &Constraint, report: &mut impl FnMut(String, String)) {
    if constraint.attribute.is_empty() {
        report(
            format!("{at}/attribute"),
            "attribute must not be empty".into(),
        );
    }
    if constraint.operator.is_semver() {
        match &constraint.value {
            None => report(
                format!("{at}/value"),
                "a semver operator needs a version in 'value'".into(),
            ),
            Some(version) if Version::parse(version).is_none() => report(
                format!("{at}/value"),
                format!("'{version}' is not a version such as 3.4.1"),
            ),
            Some(_) => {}
        }
        if !constraint.values.is_empty() {
            report(
                format!("{at}/values"),
                "a semver operator takes 'value', not 'values'".into(),
            );
        }
    } else {
        if constraint.values.is_empty() {
            report(
                format!("{at}/values"),
                "'in' and 'notIn' need at least one value".into(),
            );
        }
        if constraint.value.is_some() {
            report(
                format!("{at}/value"),
                "'in' and 'notIn' take 'values', not 'value'".into(),
            );
        }
    }
}

fn check_identifier(at: &str, what: &str, id: &str, report: &mut impl FnMut(String, String)) {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !ok {
        report(
            at.to_string(),
            format!("{what} '{id}' must be 1–64 letters, digits, '-', '_' or '.'"),
        );
    }
}

fn unknown_role(role: &str) -> String {
    format!(
        "'{role}' is not a sign-off role (one of {})",
        listed(SIGNOFF_ROLES)
    )
}

/// Basis points as a percentage without trailing zeros: 1000 is "10", 1250 "12.5".
fn percent(points: u16) -> String {
    let text = format!("{}.{:02}", points / 100, points % 100);
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::parse_plan;

    #[test]
    fn percentages_read_as_people_write_them() {
        let shown: Vec<String> = [0, 5, 100, 1000, 1250, 1205, 10000]
            .into_iter()
            .map(percent)
            .collect();
        assert_eq!(shown, ["0", "0.05", "1", "10", "12.5", "12.05", "100"]);
    }

    fn plan(flags: usize, stages: usize, environments: usize) -> String {
        let flags: Vec<String> = (0..flags)
            .map(|i| format!(r#""f{i}":{{"type":"boolean","fallback":false}}"#))
            .collect();
        let stages: Vec<String> = (0..stages)
            .map(|i| format!(r#"{{"id":"s{i}","name":"S","percentage":5,"values":{{}}}}"#))
            .collect();
        let environments: Vec<String> = (0..environments)
            .map(|i| format!(r#""e{i}":{{"activeStage":null}}"#))
            .collect();
        format!(
            r#"{{"schemaVersion":1,"rollouts":{{"r":{{"flags":{{{}}},"stages":[{}],"environments":{{{}}}}}}}}}"#,
            flags.join(","),
            stages.join(","),
            environments.join(",")
        )
    }

    #[test]
    fn sizes_are_bounded_before_names_are_compared() {
        assert!(parse_plan(&plan(MAX_FLAGS, MAX_STAGES, MAX_STAGES)).is_ok());
        let problems = parse_plan(&plan(MAX_FLAGS + 1, MAX_STAGES + 1, MAX_STAGES + 1))
            .unwrap_err()
            .0;
        let found: Vec<(&str, &str)> = problems
            .iter()
            .map(|p| (p.path.as_str(), p.message.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                (
                    "/rollouts/r/flags",
                    "a rollout has at most 1000 flags, not 1001"
                ),
                (
                    "/rollouts/r/stages",
                    "a rollout has at most 100 stages, not 101"
                ),
                (
                    "/rollouts/r/environments",
                    "a rollout has at most 100 environments, not 101"
                ),
            ]
        );
    }
}
