//! Health: what the guardrails see in one rollout and environment (production
//! first). Every trigger is judged here, on the server's counts, with the
//! evaluator's own statistics (`evaluator::stats`, the server's functions), and
//! shown with its figures and a chart; then the sample-ratio check, the
//! schedule and the last automatic action; and the two ways to act at once:
//! roll back now (the kill switch) and report a critical bug.

mod chart;

use std::sync::Arc;
use std::time::Duration;

use evaluator::model::{GATED_ENVIRONMENT, RollbackTrigger, Rollout};
use evaluator::stats::{self, Measure, TriggerState, Verdict};
use leptos::prelude::*;
use serde_json::Value;
use stagegate_api::{
    AcknowledgeRequest, Action, AutomaticAction, GuardrailReport, IncidentReport,
    KillSwitchRequest, ScheduleReport, TriggerReport,
};

use crate::api::{self, ApiError};
use crate::components::{
    Asking, CollectAny, Comment, ErrorNote, Question, grouped, percent_text, points_text,
    short_time,
};
use crate::nav::{self, Link};
use crate::read;
use crate::store::{PlanStore, use_store};
use crate::task::{Fetched, Task};
use crate::use_me;

/// How often the page asks again for counts, which arrive without a write.
const REFRESH: Duration = Duration::from_secs(10);

/// The event a person's report counts (the plan's "critical user-facing bug").
const CRITICAL_BUG: &str = "criticalBug";

#[component]
pub fn Health() -> impl IntoView {
    let store = use_store();
    // Chosen by a link (`/health?env=staging`) or the pickers; resolved against the plan.
    let wanted_rollout = RwSignal::new(nav::query("rollout").unwrap_or_default());
    let wanted_env = RwSignal::new(nav::query("env").unwrap_or_default());
    let choices = Memo::new(move |_| {
        let loaded = store.current()?;
        let rollouts: Vec<String> = loaded.plan.rollouts.keys().cloned().collect();
        let rollout = wanted_rollout.with(|wanted| {
            rollouts
                .iter()
                .find(|key| *key == wanted)
                .or(rollouts.first())
                .cloned()
        })?;
        let environments = loaded
            .plan
            .rollouts
            .get(&rollout)
            .map(production_first)
            .unwrap_or_default();
        let environment = wanted_env.with(|wanted| {
            environments
                .iter()
                .find(|env| *env == wanted)
                .or(environments.first())
                .cloned()
        })?;
        Some(Choices {
            rollouts,
            environments,
            rollout,
            environment,
        })
    });
    let chosen = move || choices.get().map(|c| (c.rollout, c.environment));
    // The report as JSON (null before there is a choice), read where it is shown.
    let report = Fetched::new(move || {
        let at = chosen();
        // Every write (heard of through `live`) may change what the report says.
        store.plan.with(|_| ());
        Box::pin(async move {
            match at {
                Some((rollout, env)) => api::guardrails(&rollout, &env).await,
                None => Ok(Value::Null),
            }
        })
    });
    let task = Task::new();
    let notice = RwSignal::new(None::<String>);
    let asking = RwSignal::new(None::<Question>);
    let ask = Callback::new(move |ask: Ask| {
        asking.set(Some(question(ask, task, notice, report, store)));
    });
    let may_acknowledge = use_me().may(Action::Report);
    report.refresh_every(REFRESH);

    let picker = move |label: &'static str,
                       testid: &'static str,
                       signal: RwSignal<String>,
                       pick: fn(&Choices) -> (&[String], &String)| {
        view! {
            <label>
                {label} " "
                <select data-testid=testid on:change=move |event| signal.set(event_target_value(&event))>
                    {move || choices.with(|c| c.as_ref().map(|c| {
                        let (all, chosen) = pick(c);
                        all.iter()
                            .map(|name| view! { <option value=name.clone() selected=name == chosen>{name.clone()}</option> })
                            .collect_any()
                    }))}
                </select>
            </label>
        }
    };

    view! {
        <h1>"Health"</h1>
        <div class="row">
            {picker("Rollout", "health-rollout", wanted_rollout, |c| (&c.rollouts, &c.rollout))}
            {picker("Environment", "health-env", wanted_env, |c| (&c.environments, &c.environment))}
            <button class="secondary" on:click=move |_| report.refetch()>"Refresh"</button>
        </div>
        <p class="hint">"Judged here on the server's counts with the same statistics the server decides with; refreshed on every change to the plan and every 10 seconds."</p>
        <Controls choices task notice asking ask/>
        {move || {
            let (rollout_key, env) = chosen()?;
            let answer = report.read(read::guardrail_report)?;
            let report = match answer {
                Err(error) => return Some(view! { <ErrorNote error=Signal::stored(Some(error))/> }.into_any()),
                // Still the previous choice's report: the new one is on its way.
                Ok(report) if report.rollout != rollout_key || report.environment != env => {
                    return Some(view! { <p class="loading" role="status">"Loading…"</p> }.into_any());
                }
                Ok(report) => report,
            };
            let loaded = store.current()?;
            let rollout = loaded.plan.rollouts.get(&rollout_key)?.clone();
            let acknowledge = may_acknowledge.then_some(ask);
            Some(report_view(report, &rollout, acknowledge).into_any())
        }}
    }
}

#[derive(Clone, PartialEq)]
struct Choices {
    rollouts: Vec<String>,
    /// The rollout's environments, production first.
    environments: Vec<String>,
    rollout: String,
    environment: String,
}

/// A rollout's environments, production (the one an incident matters most in) first.
pub fn production_first(rollout: &Rollout) -> Vec<String> {
    let mut environments: Vec<String> = rollout.environments.keys().cloned().collect();
    // Not a sort: one move costs the wasm less.
    if let Some(i) = environments.iter().position(|env| env == GATED_ENVIRONMENT) {
        let production = environments.remove(i);
        environments.insert(0, production);
    }
    environments
}

/// What the buttons ask before they act: (rollout, environment, …).
#[derive(Clone)]
enum Ask {
    RollBack(String, String),
    Report(String, String),
    /// The last automatic action, by its revision.
    Acknowledge(String, String, u64),
}

/// "Roll back now" and "Report a critical bug", for the roles that may, and the
/// question any button asks (the last action's "Acknowledge" too). Built apart
/// from the report, so a refresh does not close an open question.
#[component]
fn Controls(
    choices: Memo<Option<Choices>>,
    task: Task,
    notice: RwSignal<Option<String>>,
    asking: RwSignal<Option<Question>>,
    ask: Callback<Ask>,
) -> impl IntoView {
    let store = use_store();
    let me = use_me();
    let (may_kill, may_report) = (me.may(Action::KillSwitch), me.may(Action::Report));
    // (rollout, environment, has an active stage, live) from the plan.
    let state = move || {
        let Choices {
            rollout,
            environment: env,
            ..
        } = choices.get()?;
        store.plan.with(|answer| {
            let plan = &answer.as_ref()?.as_ref().ok()?.plan;
            let found = plan.rollouts.get(&rollout)?.environments.get(&env)?;
            let active = found.active_stage.is_some();
            Some((rollout, env, active, active && !found.kill_switch))
        })
    };
    Effect::new(move |_| {
        choices.track();
        asking.set(None);
        notice.set(None);
        task.clear();
    });
    let error = task.error();
    view! {
        <div class="row health-actions">
            {move || state().map(|(rollout, env, active, live)| view! {
                {(may_kill && live).then(|| {
                    let (rollout, env) = (rollout.clone(), env.clone());
                    view! {
                        <button class="danger" data-testid="roll-back-now" disabled=move || task.pending()
                            on:click=move |_| ask.run(Ask::RollBack(rollout.clone(), env.clone()))>
                            "Roll back now…"
                        </button>
                    }
                })}
                {(may_report && active).then(|| view! {
                    <button class="secondary" data-testid="report-bug" disabled=move || task.pending()
                        on:click=move |_| ask.run(Ask::Report(rollout.clone(), env.clone()))>
                        "Report a critical bug…"
                    </button>
                })}
            })}
        </div>
        <Asking asking/>
        <Show when=move || task.pending()>
            <p class="loading" role="status">"Sending…"</p>
        </Show>
        <p class="notice" role="status" data-testid="health-notice">{move || notice.get()}</p>
        <ErrorNote error/>
    }
}

/// The question `ask` puts, and what confirming it sends.
fn question(
    ask: Ask,
    task: Task,
    notice: RwSignal<Option<String>>,
    report: Fetched<Result<Value, ApiError>>,
    store: PlanStore,
) -> Question {
    let (question, action, comment, danger) = match &ask {
        Ask::RollBack(_, env) => (
            format!("Turn the kill switch ON in {env}? Everyone gets the fallback values at once."),
            "Kill switch ON",
            Comment::Optional,
            true,
        ),
        Ask::Report(_, env) => (
            format!(
                "Report a critical bug in {env}? It counts against the live stage, and rolls back if a trigger allows none; say what you saw."
            ),
            "Report the bug",
            Comment::Required,
            false,
        ),
        Ask::Acknowledge(_, env, revision) => (
            format!(
                "Take revision {revision}'s automatic action in {env} in hand? Say what happens next; it is shown with the action from then on."
            ),
            "Acknowledge",
            Comment::Required,
            false,
        ),
    };
    let then = move |comment: String| {
        notice.set(None);
        let ask = ask.clone();
        task.run(Box::pin(async move {
            match ask {
                Ask::RollBack(rollout, env) => {
                    let request = KillSwitchRequest { on: true, comment };
                    let loaded = api::set_kill_switch(&rollout, &env, &request).await?;
                    notice.set(Some(format!(
                        "Kill switch on in {env}: revision {}.",
                        loaded.plan.revision
                    )));
                    store.saved(loaded);
                }
                Ask::Report(rollout, env) => {
                    let request = IncidentReport {
                        event: CRITICAL_BUG.into(),
                        comment,
                    };
                    let answer = api::report_incident(&rollout, &env, &request).await?;
                    notice.set(Some(
                        if answer.get("live").and_then(Value::as_bool) == Some(true) {
                            format!("Reported: one critical bug counted in {env}.")
                        } else {
                            format!("Reported: {env} is rolled back; the history has your comment.")
                        },
                    ));
                    report.set(Some(Ok(answer)));
                    store.reload();
                }
                Ask::Acknowledge(rollout, env, revision) => {
                    let request = AcknowledgeRequest { revision, comment };
                    let answer = api::acknowledge(&rollout, &env, &request).await?;
                    notice.set(Some(format!("Acknowledged revision {revision} in {env}.")));
                    report.set(Some(Ok(answer)));
                }
            }
            Ok(())
        }))
    };
    Question {
        question,
        action: action.to_string(),
        comment,
        danger,
        then: Arc::new(then),
        cancelled: None,
    }
}

/// The report of one environment, its triggers judged here.
fn report_view(
    report: GuardrailReport,
    rollout: &Rollout,
    acknowledge: Option<Callback<Ask>>,
) -> impl IntoView {
    let stage = report.stage.as_deref().and_then(|id| rollout.stage(id));
    let share = crate::components::percent_bar::percent(u32::from(report.basis_points));
    let status = match (stage, report.live) {
        (None, _) => "No active stage: nothing to watch.".to_string(),
        (Some(stage), false) => format!(
            "{} ({share}%), kill switch ON: nothing is live.",
            stage.name
        ),
        (Some(stage), true) => format!(
            "{} ({share}%) live since {}.",
            stage.name,
            report
                .live_since
                .as_deref()
                .map_or_else(String::new, short_time)
        ),
    };
    let triggers = report
        .triggers
        .into_iter()
        .map(|found| {
            let trigger = rollout
                .rollback_triggers
                .iter()
                .find(|t| t.metric == found.metric)
                .cloned();
            trigger_view(found, trigger, report.basis_points)
        })
        .collect_any();
    let next_name = report
        .schedule
        .next
        .as_deref()
        .map(|id| rollout.stage(id).map_or(id.to_string(), |s| s.name.clone()));
    view! {
        <p class="summary" data-testid="health-status">
            {if report.live {
                view! { <span class="badge ok">"Live"</span> }.into_any()
            } else if report.stage.is_some() {
                view! { <span class="badge danger">"Kill switch ON"</span> }.into_any()
            } else {
                view! { <span class="badge">"Not started"</span> }.into_any()
            }}
            " " {status}
        </p>
        {report.last_action.map(|action| {
            // Only an action not yet taken in hand asks for someone to.
            let ask = acknowledge.filter(|_| action.acknowledged.is_none()).map(|ask| {
                (ask, Ask::Acknowledge(report.rollout.clone(), report.environment.clone(), action.revision))
            });
            last_action_view(action, ask)
        })}
        <h2>"Triggers"</h2>
        <div class="cards triggers">{triggers}</div>
        <h2>"Sample ratio"</h2>
        {sample_ratio_view(report.exposures, report.basis_points)}
        <h2>"Schedule"</h2>
        {schedule_view(report.schedule, next_name)}
    }
}

/// A trigger's state in words (never colour alone) and its badge's class.
fn state_label(state: TriggerState) -> (&'static str, &'static str) {
    match state {
        TriggerState::NotEnoughData => ("not enough data", "badge"),
        TriggerState::Healthy => ("healthy", "badge ok"),
        TriggerState::Holding => ("holding", "badge warn"),
        TriggerState::Breached => ("breached", "badge danger"),
    }
}

fn trigger_view(
    found: TriggerReport,
    trigger: Option<RollbackTrigger>,
    basis_points: u16,
) -> impl IntoView {
    let metric = found.metric.clone();
    // A trigger the plan no longer has: only the server's sentence is left.
    let Some(trigger) = trigger else {
        return view! {
            <article class="card" data-metric=found.metric>
                <h3>{metric}</h3>
                <p>{found.explanation}</p>
            </article>
        }
        .into_any();
    };
    let [inside, control] = found.cohorts;
    let verdict = stats::judge(&trigger, basis_points, &inside, &control);
    let (label, class) = state_label(verdict.state);
    let differs = (found.state != verdict.state.name()).then(|| {
        format!(
            "The server judged it {} on the plan it had then.",
            found.state
        )
    });
    let chart = (verdict.measure != Measure::Count)
        .then(|| chart_view(&trigger, basis_points, &found.minutes));
    let action = match trigger.action {
        evaluator::model::TriggerAction::Rollback => "rolls back",
        evaluator::model::TriggerAction::Hold => "holds progression",
    };
    view! {
        <article class="card trigger" data-metric=found.metric data-state=verdict.state.name()>
            <h3>{metric} <span class=class data-testid="trigger-state">{label}</span></h3>
            <p class="description">{trigger.description.clone()} " (on a breach it " {action} ")"</p>
            {figures_view(&trigger, &verdict, &inside, &control)}
            <p data-testid="explanation">{verdict.explain()}</p>
            {differs.map(|why| view! { <p class="hint">{why}</p> })}
            {chart}
        </article>
    }
    .into_any()
}

/// The counts per cohort, the rates, the difference or rate with its interval,
/// and the samples against `minSample`.
fn figures_view(
    trigger: &RollbackTrigger,
    verdict: &Verdict,
    inside: &stats::Cohort,
    control: &stats::Cohort,
) -> impl IntoView {
    let threshold = trigger.threshold.to_string();
    let needed = grouped(verdict.min_sample);
    let Some(per) = trigger.per.clone() else {
        return view! {
            <p>{format!(
                "{} {} in the rollout (threshold {threshold}); {} exposures of the {needed} needed.",
                grouped(verdict.count), trigger.event, grouped(verdict.sample_in)
            )}</p>
        }
        .into_any();
    };
    let rate = |r: Option<f64>| r.map_or("no rate".to_string(), percent_text);
    let row = |name: &'static str, cohort: &stats::Cohort, r: Option<f64>| {
        view! {
            <tr><th scope="row">{name}</th><td>{grouped(cohort.events)}</td><td>{grouped(cohort.per)}</td>
                <td>{rate(r)}</td><td>{grouped(cohort.exposures)}</td></tr>
        }
    };
    let interval = verdict.interval.map(|i| (i.estimate, i.low, i.high));
    let result = match (verdict.measure, interval) {
        (Measure::Difference, Some((d, low, high))) => format!(
            "Difference {} points, interval {} to {}; threshold {} points.",
            points_text(d),
            points_text(low),
            points_text(high),
            points_text(verdict.threshold).trim_start_matches('+')
        ),
        (Measure::Rate, Some((_, low, high))) => format!(
            "Rate in the rollout, interval {} to {}; ceiling {}.",
            percent_text(low),
            percent_text(high),
            percent_text(verdict.threshold)
        ),
        _ => "No interval yet: a compared cohort has no rate.".to_string(),
    };
    let samples = if verdict.measure == Measure::Rate {
        format!(
            "{per}: {} in the rollout, {needed} needed.",
            grouped(verdict.sample_in)
        )
    } else {
        format!(
            "{per}: {} in the rollout, {} control, {needed} needed each.",
            grouped(verdict.sample_in),
            grouped(verdict.sample_out)
        )
    };
    view! {
        <div class="table-wrap">
            <table class="cohorts">
                <thead><tr>
                    <th scope="col">"Cohort"</th><th scope="col">{trigger.event.clone()}</th>
                    <th scope="col">{per}</th><th scope="col">"Rate"</th><th scope="col">"Exposures"</th>
                </tr></thead>
                <tbody>
                    {row("In the rollout", inside, verdict.rate_in)}
                    {row("Control", control, verdict.rate_out)}
                </tbody>
            </table>
        </div>
        <p data-testid="interval">{result}</p>
        <p class="hint" data-testid="samples">{samples}</p>
    }
    .into_any()
}

fn chart_view(trigger: &RollbackTrigger, basis_points: u16, minutes: &[[u64; 5]]) -> impl IntoView {
    let points = chart::points(trigger, basis_points, minutes);
    let Some(drawing) = chart::draw(&points) else {
        return view! { <p class="hint">"No chart yet: a compared cohort has no rate."</p> }
            .into_any();
    };
    let against_control = points.last().is_some_and(|p| p.rate_out.is_some())
        && trigger.compare != Some(evaluator::model::Compare::Ceiling);
    let latest = points.last().map_or(String::new(), |p| {
        format!(
            "latest {} in the rollout{}",
            percent_text(p.rate_in),
            p.rate_out
                .map_or(String::new(), |r| format!(", {} control", percent_text(r)))
        )
    });
    let label = format!("{}: cumulative rates per minute, {latest}", trigger.metric);
    let legend = if against_control {
        "Solid line: in the rollout. Dashed: control. Band: where the in-rollout rate may lie (the control's rate plus the interval of the difference). Dotted line: the control's rate plus the threshold; the trigger breaches when the band lies wholly above it."
    } else {
        "Solid line: in the rollout. Dashed: control. Band: the in-rollout rate's interval. Dotted line: the ceiling; the trigger breaches when the band lies wholly above it."
    };
    view! {
        <figure class="chart">
            <svg viewBox="0 0 600 200" role="img" aria-label=label data-testid="chart">
                <path class="band" d=drawing.band/>
                <path class="axis" d="M52 8V172H592"/>
                <path class="threshold" d=drawing.threshold/>
                <path class="out" d=drawing.rate_out/>
                <path class="in" d=drawing.rate_in/>
                <text x="46" y="176" text-anchor="end">"0%"</text>
                <text x="46" y="16" text-anchor="end">{format!("{}%", drawing.top_percent)}</text>
                <text x="52" y="192">{drawing.from}</text>
                <text x="592" y="192" text-anchor="end">{drawing.to}</text>
                <text x="322" y="192" text-anchor="middle">"time (UTC)"</text>
            </svg>
            <figcaption class="hint">{legend}</figcaption>
        </figure>
    }
    .into_any()
}

fn sample_ratio_view(exposures: [u64; 2], basis_points: u16) -> impl IntoView {
    let [e_in, e_out] = exposures;
    let split = crate::components::percent_bar::percent(u32::from(basis_points));
    let rest =
        crate::components::percent_bar::percent(10_000 - u32::from(basis_points.min(10_000)));
    let counts = format!(
        "Exposures: {} in the rollout, {} control; expected split {split}% / {rest}%.",
        grouped(e_in),
        grouped(e_out)
    );
    let check = stats::sample_ratio(e_in, e_out, basis_points);
    view! {
        <div class="card" data-testid="sample-ratio">
            <p>{counts}</p>
            {match check {
                None => view! { <p class="hint">"No check: the stage is at 0 % or 100 %, or nothing is exposed yet."</p> }.into_any(),
                Some(check) if check.mismatch => view! {
                    <p><span class="badge danger">"mismatch"</span>
                    {format!(" p = {}: the exposures do not fit the stage's share; reporting or bucketing is broken, and progression holds.", p_value(check.p_value))}</p>
                }.into_any(),
                Some(check) => view! {
                    <p><span class="badge ok">"sound"</span>
                    {format!(" p = {}: the exposures fit the stage's share.", p_value(check.p_value))}</p>
                }.into_any(),
            }}
        </div>
    }
}

/// A p-value to three decimals, or "< 0.001" (the mismatch line).
fn p_value(p: f64) -> String {
    if p < stats::SAMPLE_RATIO_ALPHA {
        return "< 0.001".into();
    }
    #[allow(clippy::manual_clamp)] // `clamp` asserts with float formatting: wasm bytes
    let thousandths = (p.max(0.0).min(1.0) * 1000.0).round() as u32;
    format!("{}.{:03}", thousandths / 1000, thousandths % 1000)
}

fn schedule_view(schedule: ScheduleReport, next_name: Option<String>) -> impl IntoView {
    let soak = match schedule.soak_ends.as_deref() {
        None => "none".to_string(),
        Some(end) => match remaining(end) {
            Some(left) => format!("ends {} ({left} left)", short_time(end)),
            None => format!("ended {}", short_time(end)),
        },
    };
    let waiting = schedule.waiting_for;
    view! {
        <div class="card" data-testid="schedule">
            <dl class="answer">
                <dt>"Planned for"</dt><dd>{schedule.planned_for.unwrap_or_else(|| "no day planned".into())}</dd>
                <dt>"Soak"</dt><dd>{soak}</dd>
                <dt>"Advances by itself"</dt><dd>{if schedule.auto_advance { "yes" } else { "no" }}</dd>
                <dt>"Next stage"</dt><dd>{next_name.unwrap_or_else(|| "none".into())}</dd>
            </dl>
            <h3>"The next automatic step waits for"</h3>
            {if waiting.is_empty() {
                view! { <p data-testid="waiting-for">"nothing: it is due."</p> }.into_any()
            } else {
                view! { <ul data-testid="waiting-for">{waiting.into_iter().map(|line| view! { <li>{line}</li> }).collect_any()}</ul> }.into_any()
            }}
        </div>
    }
}

/// Time left until `end` (RFC 3339) by the browser's clock, in words; `None` once past.
fn remaining(end: &str) -> Option<String> {
    use web_sys::js_sys::Date;
    let left = (Date::parse(end) - Date::now()) / 60_000.0;
    if left.is_nan() || left <= 0.0 {
        return None;
    }
    let minutes = left.ceil() as u64;
    Some(if minutes < 90 {
        format!("{minutes} min")
    } else {
        format!("{} h {} min", minutes / 60, minutes % 60)
    })
}

fn last_action_view(
    action: AutomaticAction,
    acknowledge: Option<(Callback<Ask>, Ask)>,
) -> impl IntoView {
    let what = if action.action == "auto-rollback" {
        "Rolled back automatically"
    } else {
        "Advanced automatically"
    };
    let href = format!("/history#revision-{}", action.revision);
    view! {
        <section class="warning" data-testid="last-action" aria-label="Last automatic action">
            <p><strong>{what}</strong> {format!(" at {} (revision {}): ", short_time(&action.at), action.revision)} {action.comment}</p>
            {action.acknowledged.map(|ack| view! {
                <p>{format!("Taken in hand by {} at {}: {}", ack.by, short_time(&ack.at), ack.comment)}</p>
            })}
            <p><Link href>{format!("Revision {} in History", action.revision)}</Link></p>
            {acknowledge.map(|(ask, acknowledgement)| view! {
                <button class="secondary small" data-testid="acknowledge"
                    on:click=move |_| ask.run(acknowledgement.clone())>"Acknowledge…"</button>
            })}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p_values_read_to_three_decimals_and_a_mismatch_says_so() {
        assert_eq!(p_value(0.5), "0.500");
        assert_eq!(p_value(1.0), "1.000");
        assert_eq!(p_value(0.0012), "0.001");
        assert_eq!(p_value(0.0009), "< 0.001");
        assert_eq!(p_value(0.0), "< 0.001");
    }

    #[test]
    fn production_comes_first() {
        let plan = evaluator::parse_plan(include_str!("../../../../static/default-plan.json"));
        let plan = plan
            .ok()
            .and_then(|plan| plan.rollouts.get("domain-migration").cloned());
        let environments = plan.as_ref().map(production_first).unwrap_or_default();
        assert_eq!(environments, ["production", "staging"]);
    }
}
