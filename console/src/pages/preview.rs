//! Cohort preview: one unit evaluated in the browser by the evaluator crate, next to
//! the server's answer for the same context (they must agree), and a simulated
//! population showing how many land in each outcome.

use std::collections::BTreeMap;

use evaluator::{Context, Evaluator, Plan};
use leptos::prelude::*;
use serde_json::Value;

use crate::api;
use crate::components::percent_bar::{percent, share};
use crate::components::{CollectAny, ErrorNote};
use crate::store::use_store;
use crate::task::Fetched;

/// The fields both answers must agree on.
const COMPARED: [&str; 6] = [
    "values",
    "stage",
    "bucket",
    "inRollout",
    "reason",
    "errorCode",
];

#[component]
pub fn Preview() -> impl IntoView {
    let store = use_store();
    let rollout = RwSignal::new(String::new());
    let environment = RwSignal::new(String::new());
    let key = RwSignal::new("user-42".to_string());
    let attributes = RwSignal::new("platform=web".to_string());

    let plan = Memo::new(move |_| store.current().map(|loaded| loaded.plan));
    // Empty choices mean "the first one".
    let chosen_rollout = Memo::new(move |_| {
        let wanted = rollout.get();
        plan.with(|plan| {
            let keys: Vec<String> = plan
                .as_ref()
                .map(|p| p.rollouts.keys().cloned().collect())
                .unwrap_or_default();
            keys.iter()
                .find(|k| **k == wanted)
                .or(keys.first())
                .cloned()
                .unwrap_or_default()
        })
    });
    let environments = Memo::new(move |_| {
        let r = chosen_rollout.get();
        plan.with(|plan| {
            plan.as_ref()
                .and_then(|p| p.rollouts.get(&r))
                .map(|r| r.environments.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
        })
    });
    let chosen_env = Memo::new(move |_| {
        let wanted = environment.get();
        let all = environments.get();
        all.iter()
            .find(|e| **e == wanted)
            .or(all.last())
            .cloned()
            .unwrap_or_default()
    });
    let context = Memo::new(move |_| context_of(&key.get(), &attributes.get()));

    let local = Memo::new(move |_| {
        let plan = plan.get()?;
        Some(evaluate_here(
            plan,
            &chosen_rollout.get(),
            &chosen_env.get(),
            &context.get(),
        ))
    });
    let remote = Fetched::new(move || {
        let query = query_of(&chosen_rollout.get(), &chosen_env.get(), &context.get());
        Box::pin(async move { api::evaluate(&query).await })
    });

    view! {
        <h1>"Cohort preview"</h1>
        <section class="preview-form" aria-label="Context">
            <div class="grid">
                <label class="field">
                    <span class="label">"Rollout"</span>
                    <select on:change=move |e| rollout.set(event_target_value(&e))>
                        {move || plan.get().map(|p| p.rollouts.keys().map(|k| {
                            let selected = *k == chosen_rollout.get_untracked();
                            view! { <option value=k.clone() selected=selected>{k.clone()}</option> }
                        }).collect_any().into_any())}
                    </select>
                </label>
                <label class="field">
                    <span class="label">"Environment"</span>
                    <select on:change=move |e| environment.set(event_target_value(&e)) data-testid="preview-env">
                        {move || environments.get().into_iter().map(|env| {
                            let selected = env == chosen_env.get_untracked();
                            view! { <option value=env.clone() selected=selected>{env.clone()}</option> }
                        }).collect_any().into_any()}
                    </select>
                </label>
                <label class="field">
                    <span class="label">"Targeting key"</span>
                    <input type="text" bind:value=key data-testid="preview-key"
                        aria-invalid=move || if key.with(|k| k.trim().is_empty()) { "true" } else { "false" }/>
                </label>
                <label class="field">
                    <span class="label">"Attributes (name=value, one a line)"</span>
                    <textarea rows="3" bind:value=attributes></textarea>
                </label>
            </div>
            {move || key.with(|k| k.trim().is_empty()).then(|| view! {
                <p class="error" role="alert" data-testid="key-missing">
                    "No targeting key: the evaluator cannot bucket without one, so every answer is an ERROR (TARGETING_KEY_MISSING) with the fallbacks."
                </p>
            })}
            {move || {
                let problems = attributes.with(|text| attribute_problems(text));
                (!problems.is_empty()).then(|| view! {
                    <div class="error" role="alert" data-testid="attribute-problems">
                        <p>"These attribute lines are left out of the context:"</p>
                        <ul>{problems.into_iter().map(|p| view! { <li>{p}</li> }).collect_any()}</ul>
                    </div>
                })
            }}
        </section>
        <section class="answers" aria-label="Answers" aria-live="polite">
            {move || {
                let here = local.get();
                let there = remote.get();
                let verdict = match (&here, &there) {
                    (Some(Ok(a)), Some(Ok(b))) => Some(disagreements(a, b)),
                    _ => None,
                };
                view! {
                    {verdict.map(|differ| if differ.is_empty() {
                        view! { <p class="badge ok" data-testid="agree">"Browser and server agree"</p> }.into_any()
                    } else {
                        view! {
                            <p class="badge danger" role="alert" data-testid="disagree">
                                {format!("Browser and server differ in: {}", differ.join(", "))}
                            </p>
                        }.into_any()
                    })}
                    <div class="cards">
                        <article class="card">
                            <h2>"In the browser"</h2>
                            {match here {
                                None => view! { <p class="loading">"Loading the plan…"</p> }.into_any(),
                                Some(Ok(answer)) => {
                                    let split = split_explained(&answer, plan.get().as_ref(), &chosen_rollout.get());
                                    view! { <AnswerView answer split/> }.into_any()
                                }
                                Some(Err(message)) => view! { <p class="error">{message}</p> }.into_any(),
                            }}
                        </article>
                        <article class="card">
                            <h2>"On the server"</h2>
                            {match there {
                                None => view! { <p class="loading" role="status">"Asking the server…"</p> }.into_any(),
                                Some(Ok(answer)) => {
                                    let split = split_explained(&answer, plan.get().as_ref(), &chosen_rollout.get());
                                    view! { <AnswerView answer split/> }.into_any()
                                }
                                Some(Err(error)) => view! { <ErrorNote error=Signal::stored(Some(error))/> }.into_any(),
                            }}
                        </article>
                    </div>
                }
                .into_any()
            }}
        </section>
        <Population plan chosen_rollout chosen_env attributes/>
    }
}

/// Lines of the attributes box that are not `name=value` (blank lines are fine):
/// reported, since the context leaves them out.
fn attribute_problems(attributes: &str) -> Vec<String> {
    attributes
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .filter_map(|(i, line)| match line.split_once('=') {
            None => Some(format!(
                "line {}: \"{}\" is not name=value",
                i + 1,
                line.trim()
            )),
            Some((name, _)) if name.trim().is_empty() => Some(format!(
                "line {}: \"{}\" has no name before =",
                i + 1,
                line.trim()
            )),
            Some(_) => None,
        })
        .collect()
}

/// For a split, how the bucket decided against the stage's cut-off (SPEC.md:
/// in ⇔ bucket < basis points): "bucket 7035 ≥ 2500: not in".
fn split_explained(answer: &Value, plan: Option<&Plan>, rollout: &str) -> Option<String> {
    if answer.get("reason")?.as_str()? != "SPLIT" {
        return None;
    }
    let bucket = answer.get("bucket")?.as_u64()?;
    let stage = plan?
        .rollouts
        .get(rollout)?
        .stage(answer.get("stage")?.as_str()?)?;
    let cutoff = u64::from(evaluator::bucket::basis_points(&stage.percentage)?);
    Some(if bucket < cutoff {
        format!("bucket {bucket} < {cutoff}: in")
    } else {
        format!("bucket {bucket} ≥ {cutoff}: not in")
    })
}

/// The context as the server builds it from query parameters: every attribute a string.
fn context_of(key: &str, attributes: &str) -> Context {
    attributes
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| (name.trim(), value.trim()))
        .filter(|(name, _)| !name.is_empty())
        .fold(Context::new(key.trim()), |context, (name, value)| {
            context.with(name, value)
        })
}

fn query_of(rollout: &str, environment: &str, context: &Context) -> String {
    let Ok(params) = web_sys::UrlSearchParams::new() else {
        return String::new();
    };
    params.append("rollout", rollout);
    params.append("env", environment);
    params.append(
        "targetingKey",
        context.targeting_key.as_deref().unwrap_or_default(),
    );
    for (name, value) in &context.attributes {
        params.append(name, value.as_str().unwrap_or_default());
    }
    params.to_string().into()
}

fn evaluate_here(
    plan: Plan,
    rollout: &str,
    environment: &str,
    context: &Context,
) -> Result<Value, String> {
    let evaluator = Evaluator::from_plan(plan).map_err(|invalid| invalid.to_string())?;
    serde_json::to_value(evaluator.evaluate(rollout, environment, context))
        .map_err(|e| e.to_string())
}

fn disagreements(here: &Value, there: &Value) -> Vec<&'static str> {
    COMPARED
        .into_iter()
        .filter(|field| here.get(field) != there.get(field))
        .collect()
}

#[component]
fn AnswerView(answer: Value, split: Option<String>) -> impl IntoView {
    let field = |name: &str| match answer.get(name) {
        None | Some(Value::Null) => "—".to_string(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    };
    let values = answer
        .get("values")
        .and_then(Value::as_object)
        .map(|values| {
            values
                .iter()
                .map(|(name, value)| view! { <tr><th scope="row"><code>{name.clone()}</code></th><td>{value.to_string()}</td></tr> })
                .collect_any()
        });
    view! {
        <dl class="answer">
            <dt>"Reason"</dt><dd data-testid="reason">{field("reason")}</dd>
            <dt>"Stage"</dt><dd>{field("stage")}</dd>
            <dt>"Bucket"</dt><dd data-testid="bucket">{split.unwrap_or_else(|| field("bucket"))}</dd>
            <dt>"In rollout"</dt><dd>{field("inRollout")}</dd>
            <dt>"Error"</dt><dd>{field("errorCode")} " " {field("errorMessage")}</dd>
            <dt>"Revision"</dt><dd>{field("revision")}</dd>
        </dl>
        <table class="values"><tbody>{values}</tbody></table>
    }
}

/// The largest simulated population: a million evaluations take about a
/// second in the browser, and the page waits for them.
const MAX_POPULATION: usize = 1_000_000;

/// N simulated ids through the same evaluator, counted by outcome.
#[component]
fn Population(
    plan: Memo<Option<Plan>>,
    chosen_rollout: Memo<String>,
    chosen_env: Memo<String>,
    attributes: RwSignal<String>,
) -> impl IntoView {
    let size = RwSignal::new("10000".to_string());
    let prefix = RwSignal::new("user-".to_string());
    let outcome = RwSignal::new(None::<Result<(usize, Vec<(String, usize)>), String>>);
    let simulate = move |_| {
        let result = (|| {
            let n: usize = size
                .get_untracked()
                .trim()
                .parse()
                .ok()
                .filter(|n| (1..=MAX_POPULATION).contains(n))
                .ok_or("N must be a whole number from 1 to 1,000,000")?;
            let plan = plan.get_untracked().ok_or("the plan is not loaded yet")?;
            let evaluator = Evaluator::from_plan(plan).map_err(|invalid| invalid.to_string())?;
            let (rollout, env, prefix) = (
                chosen_rollout.get_untracked(),
                chosen_env.get_untracked(),
                prefix.get_untracked(),
            );
            let attributes = attributes.get_untracked();
            let mut counts = BTreeMap::<String, usize>::new();
            for i in 0..n {
                let context = context_of(&format!("{prefix}{i}"), &attributes);
                let answer = evaluator.evaluate(&rollout, &env, &context);
                let values = serde_json::to_string(&answer.values).unwrap_or_default();
                let reason = serde_json::to_value(answer.reason).unwrap_or_default();
                let label = format!(
                    "{} · {} · {}",
                    reason.as_str().unwrap_or_default(),
                    answer.stage.as_deref().unwrap_or("no stage"),
                    values
                );
                *counts.entry(label).or_default() += 1;
            }
            let mut rows: Vec<(String, usize)> = counts.into_iter().collect();
            rows.sort_by_key(|row| std::cmp::Reverse(row.1));
            Ok((n, rows))
        })();
        outcome.set(Some(result));
    };
    view! {
        <section class="population" aria-label="Simulated population">
            <h2>"Simulated population"</h2>
            <div class="row">
                <label>"N (at most 1,000,000) " <input type="number" min="1" max="1000000" bind:value=size data-testid="population-size"/></label>
                <label>"ids " <input type="text" bind:value=prefix/> "0 … N-1"</label>
                <button data-testid="simulate" on:click=simulate>"Simulate"</button>
            </div>
            {move || outcome.get().map(|result| match result {
                Err(message) => view! { <p class="error" role="alert">{message}</p> }.into_any(),
                Ok((n, rows)) => view! {
                    <div class="table-wrap">
                        <table data-testid="population">
                            <thead><tr><th scope="col">"Outcome (reason · stage · values)"</th><th scope="col">"Units"</th><th scope="col">"Share"</th></tr></thead>
                            <tbody>
                                {rows.into_iter().map(|(label, count)| view! {
                                    <tr>
                                        <td><code>{label}</code></td>
                                        <td>{count}</td>
                                        <td>{format!("{}%", percent(share(count, n)))}</td>
                                    </tr>
                                }).collect_any()}
                            </tbody>
                        </table>
                    </div>
                }.into_any(),
            })}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_lines_that_are_not_name_value_are_reported() {
        assert!(attribute_problems("platform=web\n\n  appVersion = 2.1 ").is_empty());
        assert_eq!(
            attribute_problems("platform web\n=ios\nok=1"),
            [
                "line 1: \"platform web\" is not name=value",
                "line 2: \"=ios\" has no name before =",
            ]
        );
    }

    #[test]
    fn a_split_is_explained_against_the_stage_cut_off() {
        let mut plan: Plan =
            evaluator::parse_plan(include_str!("../../../static/default-plan.json")).unwrap();
        let stage = |answer: &str| serde_json::from_str::<Value>(answer).unwrap();
        let key = plan.rollouts.keys().next().unwrap().clone();
        plan.rollouts.get_mut(&key).unwrap().stages[1].percentage = 25.into();
        let out = stage(r#"{"reason":"SPLIT","stage":"stage-2","bucket":7035}"#);
        let inside = stage(r#"{"reason":"SPLIT","stage":"stage-2","bucket":2499}"#);
        let other = stage(r#"{"reason":"DISABLED","stage":"stage-2","bucket":7035}"#);
        assert_eq!(
            split_explained(&out, Some(&plan), &key).as_deref(),
            Some("bucket 7035 ≥ 2500: not in")
        );
        assert_eq!(
            split_explained(&inside, Some(&plan), &key).as_deref(),
            Some("bucket 2499 < 2500: in")
        );
        assert_eq!(split_explained(&other, Some(&plan), &key), None);
    }
}
