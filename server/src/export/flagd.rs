//! flagd flag definitions (flagd's flags schema,
//! <https://flagd.dev/schema/v0/flags.json>) that decide as stagegate does.
//!
//! One flagd flag per stagegate flag, keyed `ROLLOUT.FLAG`, with two variants:
//! `on` (the active stage's value) and `off` (the fallback), `defaultVariant`
//! `off`. The targeting is SPEC.md's "Evaluation" rules in their order, as
//! JSONLogic: no string targeting key → `off`; exclude → `off`; include → `on`;
//! a constraint that does not hold (or cannot be checked) → `off`; otherwise
//! `fractional` on the bucketing key salt ‖ targeting key with weights
//! `p` and `10000 − p`, which flagd turns into `(murmur3(key) × 10000) >> 32 < p`:
//! stagegate's bucket rule exactly.
//!
//! JSONLogic has no `typeof`, so the attribute checks tell types apart with
//! operators flagd's schema allows and that do not throw on a JSON value (`===`,
//! `in` against a list, `merge`, `starts_with`), and objects from numbers by
//! their text (which throws only for an object with its own `toString`). Where
//! flagd's `sem_ver` reads versions more leniently than stagegate, the targeting
//! refuses what stagegate would refuse. What remains different is listed in
//! SPEC.md, "flagd export".

use std::fmt;

use evaluator::bucket::basis_points;
use evaluator::json::{Number, Value as PlanValue};
use evaluator::model::{Constraint, Environment, FlagType, Operator, Plan, Rollout, Stage};
use evaluator::semver::Version;
use serde_json::{Map, Value, json};

/// The schema flagd's tools read the document against.
pub const SCHEMA: &str = "https://flagd.dev/schema/v0/flags.json";

/// JavaScript's `Number.MAX_SAFE_INTEGER`: flagd-core's semver library refuses
/// larger version numbers and compares larger pre-release numbers inexactly.
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Why a plan cannot be exported for an environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportError {
    /// No rollout has the environment.
    UnknownEnvironment(String),
    /// A json flag whose exported value is not an object: flagd's object flags
    /// hold objects only, and any other type would change how apps ask for it.
    NotAnObject {
        key: String,
        variant: &'static str,
        kind: &'static str,
    },
    /// Two flags whose `ROLLOUT.FLAG` keys are the same text.
    DuplicateKey(String),
    /// A constraint flagd cannot check exactly as stagegate does.
    Constraint {
        rollout: String,
        attribute: String,
        message: String,
    },
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportError::UnknownEnvironment(env) => {
                write!(f, "environment '{env}' is in no rollout of the plan")
            }
            ExportError::NotAnObject { key, variant, kind } => write!(
                f,
                "flag '{key}' is of type json and its '{variant}' value is {kind}: a flagd object flag holds only objects"
            ),
            ExportError::DuplicateKey(key) => {
                write!(f, "two flags would both have the flagd key '{key}'")
            }
            ExportError::Constraint {
                rollout,
                attribute,
                message,
            } => write!(
                f,
                "rollout '{rollout}': the constraint on attribute '{attribute}' {message}"
            ),
        }
    }
}

impl std::error::Error for ExportError {}

/// The flag definitions for `environment`: every flag of every rollout that
/// has it.
pub fn flagd(plan: &Plan, environment: &str) -> Result<Value, ExportError> {
    let mut flags = Map::new();
    let mut found = false;
    for (rollout_key, rollout) in &plan.rollouts {
        let Some(env) = rollout.environments.get(environment) else {
            continue;
        };
        found = true;
        let stage = env.active_stage.as_deref().and_then(|id| rollout.stage(id));
        // The kill switch keeps the flag ENABLED with no targeting, so flagd
        // answers `off` (the plan's fallback, reason STATIC). A DISABLED flagd
        // flag would answer the caller's own default instead, which is not
        // what stagegate's kill switch gives.
        let targeting = match stage {
            Some(stage) if !env.kill_switch => Some(targeting(rollout_key, rollout, env, stage)?),
            _ => None,
        };
        for (name, flag) in &rollout.flags {
            let key = format!("{rollout_key}.{name}");
            let mut variants = Map::new();
            if let Some(stage) = stage {
                let on = stage.values.get(name).unwrap_or(&flag.fallback);
                variants.insert("on".into(), variant(&key, flag.kind, "on", on)?);
            }
            variants.insert(
                "off".into(),
                variant(&key, flag.kind, "off", &flag.fallback)?,
            );
            let mut metadata = Map::new();
            metadata.insert("rollout".into(), rollout_key.as_str().into());
            if let Some(stage) = stage {
                metadata.insert("stage".into(), stage.id.as_str().into());
            }
            if env.kill_switch {
                metadata.insert("killSwitch".into(), true.into());
            }
            let mut definition = Map::new();
            definition.insert("state".into(), "ENABLED".into());
            definition.insert("defaultVariant".into(), "off".into());
            definition.insert("variants".into(), variants.into());
            if let Some(targeting) = &targeting {
                definition.insert("targeting".into(), targeting.clone());
            }
            definition.insert("metadata".into(), metadata.into());
            if flags.insert(key.clone(), definition.into()).is_some() {
                return Err(ExportError::DuplicateKey(key));
            }
        }
    }
    if !found {
        return Err(ExportError::UnknownEnvironment(environment.to_string()));
    }
    Ok(json!({
        "$schema": SCHEMA,
        "metadata": { "environment": environment, "revision": plan.revision },
        "flags": flags,
    }))
}

fn variant(
    key: &str,
    kind: FlagType,
    name: &'static str,
    value: &PlanValue,
) -> Result<Value, ExportError> {
    if kind == FlagType::Json && !value.is_object() {
        return Err(ExportError::NotAnObject {
            key: key.to_string(),
            variant: name,
            kind: a_kind(value),
        });
    }
    Ok(to_json(value))
}

fn a_kind(value: &PlanValue) -> &'static str {
    match value {
        PlanValue::Null => "null",
        PlanValue::Bool(_) => "a boolean",
        PlanValue::Number(_) => "a number",
        PlanValue::String(_) => "a string",
        PlanValue::Array(_) => "an array",
        PlanValue::Object(_) => "an object",
    }
}

fn to_json(value: &PlanValue) -> Value {
    match value {
        PlanValue::Null => Value::Null,
        PlanValue::Bool(on) => Value::Bool(*on),
        // A plan's numbers are doubles as written (the validator sees to it).
        PlanValue::Number(number) => number
            .as_str()
            .parse::<f64>()
            .ok()
            .and_then(json_number)
            .map_or(Value::Null, Value::Number),
        PlanValue::String(text) => Value::String(text.clone()),
        PlanValue::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        PlanValue::Object(map) => Value::Object(
            map.iter()
                .map(|(name, item)| (name.clone(), to_json(item)))
                .collect(),
        ),
    }
}

/// Integers as integers (`5`, not `5.0`), anything else as the double.
fn json_number(x: f64) -> Option<serde_json::Number> {
    if x.fract() == 0.0 && x.abs() <= MAX_SAFE_INTEGER as f64 {
        return Some(serde_json::Number::from(x as i64));
    }
    serde_json::Number::from_f64(x)
}

/// The active stage's rules, first match wins (SPEC.md, "Evaluation", 5–10).
fn targeting(
    rollout_key: &str,
    rollout: &Rollout,
    env: &Environment,
    stage: &Stage,
) -> Result<Value, ExportError> {
    let key = json!({ "var": "targetingKey" });
    // A missing key (rule 5) and one that is not a string (INVALID_CONTEXT).
    let mut rules = vec![json!({ "!": is_string(&key) }), json!("off")];
    if !env.exclude.is_empty() {
        rules.extend([json!({ "in": [key, env.exclude] }), json!("off")]);
    }
    if !env.include.is_empty() {
        rules.extend([json!({ "in": [key, env.include] }), json!("on")]);
    }
    if !env.constraints.is_empty() {
        let all = env
            .constraints
            .iter()
            .map(|constraint| holds(rollout_key, constraint))
            .collect::<Result<Vec<_>, _>>()?;
        rules.extend([json!({ "!": { "and": all } }), json!("off")]);
    }
    let points = u32::from(basis_points(&stage.percentage).unwrap_or(0));
    let bucket_by = json!({ "cat": [rollout.salt(rollout_key), key] });
    rules.push(json!({
        "fractional": [bucket_by, ["on", points], ["off", 10_000 - points]]
    }));
    Ok(json!({ "if": rules }))
}

/// JSONLogic that is true exactly when stagegate's constraint holds.
fn holds(rollout: &str, constraint: &Constraint) -> Result<Value, ExportError> {
    let refuse = |message: String| ExportError::Constraint {
        rollout: rollout.to_string(),
        attribute: constraint.attribute.clone(),
        message,
    };
    // flagd puts its own object under `$flagd`; a JavaScript object has no
    // `__proto__` of its own to read.
    if matches!(constraint.attribute.as_str(), "$flagd" | "__proto__") {
        return Err(refuse(
            "reads a name that flagd's JSONLogic cannot read from a context".into(),
        ));
    }
    let value = var(&constraint.attribute);
    let missing = json!({ "===": [value, null] });
    let array = json!({ "!": { "in": [value, { "merge": [value] }] } });
    // Run only once the value is no string and no array (`includes` would turn
    // an array's items into text): a number's text never holds this one.
    let object = json!({ "in": [value, "[object Object]"] });
    Ok(match constraint.operator {
        Operator::In => json!({ "in": [value, as_texts(&constraint.values)] }),
        Operator::NotIn => {
            let absent = json!({ "!": { "in": [value, as_texts(&constraint.values)] } });
            json!({ "if": [
                missing, true,
                is_string(&value), absent,
                array, false,
                object, false,
                absent
            ] })
        }
        operator => {
            let version = constraint.value.as_deref().unwrap_or_default();
            let version = strict_version(version).map_err(refuse)?;
            let compare = json!({ "sem_ver": [value, sem_ver_operator(operator), version] });
            json!({ "if": [
                is_string(&value), { "and": [version_like(&value), compare] },
                missing, false,
                array, false,
                object, false,
                compare
            ] })
        }
    })
}

fn sem_ver_operator(operator: Operator) -> &'static str {
    match operator {
        Operator::SemverEq | Operator::In | Operator::NotIn => "=",
        Operator::SemverGt => ">",
        Operator::SemverGte => ">=",
        Operator::SemverLt => "<",
        Operator::SemverLte => "<=",
    }
}

/// flagd's own `starts_with` answers null for anything but a string.
fn is_string(value: &Value) -> Value {
    json!({ "starts_with": [value, ""] })
}

/// What `sem_ver` may see of a string: stagegate reads one leading `v` and no
/// spaces, where flagd also strips `V`, a second `v` and white space around
/// the version. A version that stagegate reads and flagd keeps starts with a
/// digit (after one `v`) and ends with a letter, digit or `-`.
fn version_like(value: &Value) -> Value {
    let digits: Vec<String> = ('0'..='9').map(String::from).collect();
    let last: Vec<String> = ('0'..='9')
        .chain('a'..='z')
        .chain('A'..='Z')
        .chain(['-'])
        .map(String::from)
        .collect();
    json!({ "and": [
        { "or": [
            { "in": [{ "substr": [value, 0, 1] }, digits] },
            { "and": [
                { "starts_with": [value, "v"] },
                { "in": [{ "substr": [value, 1, 1] }, digits] }
            ] }
        ] },
        { "in": [{ "substr": [value, -1] }, last] }
    ] })
}

/// An attribute by name: `var` reads `a.b` as a path, so dots (and the
/// backslash that escapes them) are escaped.
fn var(attribute: &str) -> Value {
    let mut path = String::with_capacity(attribute.len());
    for c in attribute.chars() {
        if matches!(c, '.' | '\\') {
            path.push('\\');
        }
        path.push(c);
    }
    json!({ "var": path })
}

/// The context values whose text (SPEC.md: a string as it is, `true` /
/// `false`, a number as JavaScript's `String(n)`) is one of `texts`.
fn as_texts(texts: &[String]) -> Vec<Value> {
    let mut values = Vec::with_capacity(texts.len());
    for text in texts {
        values.push(Value::String(text.clone()));
        match text.as_str() {
            "true" => values.push(Value::Bool(true)),
            "false" => values.push(Value::Bool(false)),
            _ => values.extend(js_number(text).map(Value::Number)),
        }
    }
    values
}

/// The number whose JavaScript `String(n)` is `text`, if there is one.
fn js_number(text: &str) -> Option<serde_json::Number> {
    let x: f64 = text.parse().ok()?;
    let written = Number::from_f64(x)?;
    (written.as_str() == text).then(|| json_number(x)).flatten()
}

/// A constraint's version as SemVer 2.0 writes it (what flagd's schema and
/// `sem_ver` read): no `v`, three numbers without leading zeros, no build.
fn strict_version(text: &str) -> Result<String, String> {
    let unsafe_number = || {
        format!(
            "compares with '{text}', whose numbers flagd's sem_ver cannot hold: at most 2^53 - 2"
        )
    };
    let number = |digits: &str| digits.parse::<u64>().ok().filter(|&n| n < MAX_SAFE_INTEGER);
    let body = text.strip_prefix('v').unwrap_or(text);
    let body = body
        .split_once('+')
        .map_or(body, |(version, _build)| version);
    let (core, pre) = match body.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (body, None),
    };
    let mut parts = Vec::with_capacity(3);
    for part in core.split('.') {
        parts.push(number(part).ok_or_else(unsafe_number)?.to_string());
    }
    parts.resize(3, "0".into());
    let mut strict = parts.join(".");
    if let Some(pre) = pre {
        let mut ids = Vec::new();
        for id in pre.split('.') {
            if id.bytes().all(|b| b.is_ascii_digit()) {
                ids.push(number(id).ok_or_else(unsafe_number)?.to_string());
            } else {
                ids.push(id.to_string());
            }
        }
        strict.push('-');
        strict.push_str(&ids.join("."));
    }
    // The rewrite must name the same version, by stagegate's own order.
    match (Version::parse(text), Version::parse(&strict)) {
        (Some(given), Some(written)) if given.cmp(&written).is_eq() => Ok(strict),
        _ => Err(format!(
            "compares with '{text}', which cannot be written as a SemVer 2.0 version"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use evaluator::parse_plan;

    fn plan(edit: impl FnOnce(&mut Value)) -> Plan {
        let text = include_str!("../../../static/default-plan.json");
        let mut value: Value = serde_json::from_str(text).unwrap();
        edit(&mut value["rollouts"]["domain-migration"]);
        parse_plan(&value.to_string()).unwrap()
    }

    const KEY: &str = "domain-migration.enableMigration";

    #[test]
    fn one_flag_per_flag_keyed_rollout_dot_flag() {
        let export = flagd(&plan(|_| {}), "production").unwrap();
        assert_eq!(export["$schema"], SCHEMA);
        let flags = export["flags"].as_object().unwrap();
        let keys: Vec<&str> = flags.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                KEY,
                "domain-migration.useDomainEntities",
                "domain-migration.enableDualProviders"
            ]
        );
        // No active stage: everyone gets the fallback, and there is no `on`.
        assert_eq!(
            flags[KEY],
            json!({
                "state": "ENABLED",
                "defaultVariant": "off",
                "variants": { "off": false },
                "metadata": { "rollout": "domain-migration" }
            })
        );
    }

    #[test]
    fn an_active_stage_splits_on_the_salted_key() {
        let export = flagd(
            &plan(|r| r["environments"]["production"]["activeStage"] = json!("stage-2")),
            "production",
        )
        .unwrap();
        let flag = &export["flags"][KEY];
        assert_eq!(flag["variants"], json!({ "on": true, "off": false }));
        assert_eq!(flag["metadata"]["stage"], "stage-2");
        let rules = flag["targeting"]["if"].as_array().unwrap();
        assert_eq!(
            rules.last().unwrap(),
            &json!({ "fractional": [
                { "cat": ["domain-migration", { "var": "targetingKey" }] },
                ["on", 2500], ["off", 7500]
            ] })
        );
        assert_eq!(export["metadata"]["environment"], "production");
    }

    #[test]
    fn the_kill_switch_serves_the_fallback_with_no_targeting() {
        let export = flagd(
            &plan(|r| {
                r["environments"]["production"]["activeStage"] = json!("stage-4");
                r["environments"]["production"]["killSwitch"] = json!(true);
            }),
            "production",
        )
        .unwrap();
        let flag = &export["flags"][KEY];
        assert_eq!(flag["state"], "ENABLED");
        assert_eq!(flag["defaultVariant"], "off");
        assert!(flag.get("targeting").is_none());
        assert_eq!(flag["metadata"]["killSwitch"], true);
    }

    #[test]
    fn lists_and_constraints_come_in_the_spec_order() {
        let export = flagd(
            &plan(|r| {
                let env = &mut r["environments"]["production"];
                env["activeStage"] = json!("stage-1");
                env["include"] = json!(["vip"]);
                env["exclude"] = json!(["banned"]);
                env["constraints"] = json!([
                    { "attribute": "platform", "operator": "in", "values": ["ios", "7", "true"] },
                    { "attribute": "app.version", "operator": "semverGte", "value": "v3.04-rc.01+b" }
                ]);
            }),
            "production",
        )
        .unwrap();
        let rules = export["flags"][KEY]["targeting"]["if"].as_array().unwrap();
        assert_eq!(rules[1], "off");
        assert_eq!(
            rules[2],
            json!({ "in": [{ "var": "targetingKey" }, ["banned"]] })
        );
        assert_eq!(rules[3], "off");
        assert_eq!(
            rules[4],
            json!({ "in": [{ "var": "targetingKey" }, ["vip"]] })
        );
        assert_eq!(rules[5], "on");
        let all = &rules[6]["!"]["and"];
        assert_eq!(
            all[0],
            json!({ "in": [{ "var": "platform" }, ["ios", "7", 7, "true", true]] })
        );
        let semver = all[1]["if"].as_array().unwrap();
        assert_eq!(
            semver.last().unwrap(),
            &json!({ "sem_ver": [{ "var": "app\\.version" }, ">=", "3.4.0-rc.1"] })
        );
        assert_eq!(rules[7], "off");
    }

    #[test]
    fn texts_match_numbers_only_in_javascripts_form() {
        assert_eq!(js_number("7"), Some(7.into()));
        assert_eq!(js_number("1e+21"), serde_json::Number::from_f64(1e21));
        assert_eq!(js_number("0.1"), serde_json::Number::from_f64(0.1));
        for not_js in [
            "7.0", "1e21", "-0", "+7", "07", "0.10", "inf", "NaN", ".5", "x",
        ] {
            assert_eq!(js_number(not_js), None, "{not_js}");
        }
    }

    #[test]
    fn versions_are_written_as_semver_writes_them() {
        assert_eq!(strict_version("3").unwrap(), "3.0.0");
        assert_eq!(strict_version("v3.4").unwrap(), "3.4.0");
        assert_eq!(
            strict_version("03.4.1-beta.02+exp.sha").unwrap(),
            "3.4.1-beta.2"
        );
        assert!(strict_version("9007199254740993.0.0").is_err());
        assert!(strict_version("1.0.0-rc.99999999999999999999").is_err());
    }

    #[test]
    fn a_json_flag_must_hold_objects() {
        let error = flagd(
            &plan(|r| {
                r["flags"]["theme"] = json!({ "type": "json", "fallback": { "color": "blue" } });
                r["stages"][1]["values"]["theme"] = json!(["red"]);
                r["environments"]["production"]["activeStage"] = json!("stage-2");
            }),
            "production",
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "flag 'domain-migration.theme' is of type json and its 'on' value is an array: a flagd object flag holds only objects"
        );
        // The same flag exports while its values are objects.
        let export = flagd(
            &plan(|r| {
                r["flags"]["theme"] = json!({ "type": "json", "fallback": { "color": "blue" } });
            }),
            "production",
        )
        .unwrap();
        assert_eq!(
            export["flags"]["domain-migration.theme"]["variants"]["off"],
            json!({ "color": "blue" })
        );
    }

    #[test]
    fn refusals_name_what_is_wrong() {
        assert_eq!(
            flagd(&plan(|_| {}), "qa").unwrap_err(),
            ExportError::UnknownEnvironment("qa".into())
        );
        let error = flagd(
            &plan(|r| {
                let env = &mut r["environments"]["production"];
                env["activeStage"] = json!("stage-1");
                env["constraints"] =
                    json!([{ "attribute": "$flagd", "operator": "notIn", "values": ["x"] }]);
            }),
            "production",
        )
        .unwrap_err();
        assert!(error.to_string().contains("attribute '$flagd'"), "{error}");
    }
}
