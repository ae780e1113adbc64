//! Overview and controls: every rollout × environment with its active stage, kill
//! switch, the next stage and its missing sign-offs, and the buttons to move it.

use evaluator::Plan;
use evaluator::model::{GATED_ENVIRONMENT, Rollout};
use leptos::prelude::*;
use stagegate_api::{Action, AuditEntry, KillSwitchRequest, StageRequest};

use crate::api;
use crate::components::{
    CollectAny, ConfirmPanel, ErrorNote, PercentBar, focus, focus_heading, short_time,
};
use crate::gate;
use crate::nav::Link;
use crate::read;
use crate::store::use_store;
use crate::task::{Fetched, Task};
use crate::use_me;

#[component]
pub fn Overview() -> impl IntoView {
    let store = use_store();
    let ready = Memo::new(move |_| store.plan.get().map(|result| result.map(|_| ())));
    let layout = Memo::new(move |_| {
        store.current().map(|loaded| {
            loaded
                .plan
                .rollouts
                .iter()
                .map(|(key, rollout)| {
                    (
                        key.clone(),
                        rollout.environments.keys().cloned().collect::<Vec<_>>(),
                    )
                })
                .collect::<Vec<_>>()
        })
    });
    view! {
        <h1>"Overview"</h1>
        <PlanSummary/>
        // Cards are built when the set of rollouts and environments changes, not on
        // every write: a card keeps its open question, notice and error while
        // others write.
        {move || match ready.get() {
            None => view! { <p class="loading" role="status">"Loading the plan…"</p> }.into_any(),
            Some(Err(error)) => view! {
                <ErrorNote error=Signal::stored(Some(error))/>
                <button class="secondary" on:click=move |_| store.reload()>"Retry"</button>
            }.into_any(),
            Some(Ok(())) => (move || {
                layout
                    .get()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(rollout, environments)| {
                        let heading = rollout.clone();
                        let description = move || {
                            store.current().and_then(|l| l.plan.rollouts.get(&rollout).and_then(|r| r.description.clone()))
                        };
                        view! {
                            <section class="rollout" aria-label=format!("Rollout {heading}")>
                                <h2>{heading.clone()}</h2>
                                <p class="description">{description}</p>
                                <div class="cards">
                                    {environments
                                        .into_iter()
                                        .map(|environment| view! { <EnvironmentCard rollout=heading.clone() environment/> })
                                        .collect_any()}
                                </div>
                            </section>
                        }
                    })
                    .collect_any()
            }).into_any(),
        }}
    }
}

/// Plan revision and the last change from the history.
#[component]
fn PlanSummary() -> impl IntoView {
    let store = use_store();
    let last = move || {
        store.revisions.get().map(|result| match result {
            Ok(list) => match list.first() {
                Some(r) => format!(
                    "Last change: revision {} by {} at {} — {}",
                    r.revision,
                    r.author,
                    short_time(&r.at),
                    if r.comment.is_empty() {
                        r.summary.join("; ")
                    } else {
                        r.comment.clone()
                    }
                ),
                None => "No changes yet".to_string(),
            },
            Err(error) => format!("History unavailable: {error}"),
        })
    };
    view! {
        <p class="summary" data-testid="plan-summary">
            {move || store.current().map(|l| format!("Plan revision {}. ", l.plan.revision))}
            {last}
        </p>
    }
}

/// One request a card sends.
#[derive(Clone)]
enum Command {
    Stage(Option<String>),
    KillSwitch(bool),
}

/// A command waiting for its confirmation in the card.
#[derive(Clone)]
struct Ask {
    command: Command,
    /// The control that asked (its test id): focus returns to it afterwards.
    control: &'static str,
    question: String,
    action: String,
    comment_optional: bool,
    danger: bool,
}

#[component]
fn EnvironmentCard(rollout: String, environment: String) -> impl IntoView {
    let store = use_store();
    let me = use_me();
    let may_move = gate::may_change(&me, Action::MoveStage).err();
    let may_kill = gate::may_change(&me, Action::KillSwitch).err();
    let target = RwSignal::new(String::new());
    let asking = RwSignal::new(None::<Ask>);
    let notice = RwSignal::new(None::<String>);
    let task = Task::new();
    let (names_rollout, names_env) = (rollout.clone(), environment.clone());
    let send = Callback::new(
        move |(command, comment, control): (Command, String, &'static str)| {
            let (rollout, environment) = (names_rollout.clone(), names_env.clone());
            notice.set(None);
            task.run(Box::pin(async move {
                let loaded = match command {
                    Command::Stage(stage) => {
                        let request = StageRequest { stage, comment };
                        api::set_stage(&rollout, &environment, &request).await?
                    }
                    Command::KillSwitch(on) => {
                        let request = KillSwitchRequest { on, comment };
                        api::set_kill_switch(&rollout, &environment, &request).await?
                    }
                };
                notice.set(Some(format!("Done: revision {}.", loaded.plan.revision)));
                store.saved(loaded);
                // The card's controls are rebuilt with the new state: focus goes back
                // to the one that acted, or to the card's heading if it is gone or disabled.
                let card = format!("article[data-env=\"{environment}\"]");
                request_animation_frame(move || {
                    let _ = focus(&format!(
                        "{card} [data-testid=\"{control}\"]:not([disabled])"
                    )) || focus_heading(&format!("{card} h3"));
                });
                Ok(())
            }))
        },
    );
    let error = task.error();
    let pending = move || task.pending();
    // Production's moves, and turning its kill switch off, say why in the history.
    let gated = environment == GATED_ENVIRONMENT;

    let (r, e) = (rollout.clone(), environment.clone());
    let state = Memo::new(move |_| {
        store
            .current()
            .and_then(|loaded| CardState::of(&loaded.plan, &r, &e))
    });
    // A refusal is about the plan as it was: a new revision (sign-offs given,
    // the switch flipped elsewhere) takes it away.
    Effect::new(move |_| {
        state.track();
        task.clear();
    });
    let reason_id = format!("reason-{rollout}-{environment}");
    let env_label = environment.clone();
    // Why the kill switch is on, when the server turned it on by itself.
    let (r, e) = (rollout.clone(), environment.clone());
    let automatic = move || {
        state.get().filter(|s| s.kill_switch)?;
        store.revisions.with(|answer| {
            let entries = answer.as_ref()?.as_ref().ok()?;
            automatic_rollback(entries, &r, &e).map(|entry| entry.comment.clone())
        })
    };
    let health = format!("/health?rollout={rollout}&env={environment}");
    // What the next automatic step waits for (the server's words), when the
    // live stage has one: asked again on every write. The report is kept as
    // JSON (null when not asked), as the Health page keeps it: one copy of the
    // reactive code for both.
    let (r, e) = (rollout.clone(), environment.clone());
    let waiting = Fetched::new(move || {
        let wanted = state.get().is_some_and(|s| s.auto_step);
        // Tracks every new revision of the plan.
        store.plan.with(|_| ());
        let (r, e) = (r.clone(), e.clone());
        Box::pin(async move {
            if wanted {
                api::guardrails(&r, &e).await
            } else {
                Ok(serde_json::Value::Null)
            }
        })
    });

    view! {
        <article class="card" data-env=environment.clone() aria-label=format!("{rollout} in {environment}")>
            <h3>
                {environment.clone()}
                // Not "Live" before the first stage: nobody is in the rollout yet.
                {move || state.get().map(|s| match (s.kill_switch, &s.active_name) {
                    (true, _) => view! { <span class="badge danger">"Kill switch ON"</span> }.into_any(),
                    (false, None) => view! { <span class="badge">"Not started"</span> }.into_any(),
                    (false, Some(_)) => view! { <span class="badge ok">"Live"</span> }.into_any(),
                }).into_any()}
            </h3>
            {move || state.get().map(|s| view! {
                <p class="active" data-testid="active-stage">
                    "Active stage: " <strong>{s.active_name.clone().unwrap_or_else(|| "none".into())}</strong>
                </p>
                <PercentBar points=s.active_points off=s.kill_switch/>
                <p class="next">{match &s.next {
                    None => "This is the last stage.".to_string(),
                    Some((name, missing)) if missing.is_empty() => format!("Next: {name} — all sign-offs present."),
                    // The gated environment says what is missing beside its advance button.
                    Some((name, _)) if s.blocked.is_some() => format!("Next: {name}."),
                    Some((name, missing)) => format!("Next: {name} — lacks sign-off from {}.", missing.join(", ")),
                }}</p>
            }.into_any())}
            {
                let health = health.clone();
                move || automatic().map(|comment| view! {
                    <p class="blocked" data-testid="auto-rollback">
                        {comment} " " <Link href=health.clone()>"See Health"</Link>
                    </p>
                })
            }
            {move || waiting.read(read::waiting_for).and_then(Result::ok)
                .filter(|_| state.get().is_some_and(|s| s.auto_step)).map(|lines| {
                let text = if lines.is_empty() {
                    "Next automatic step: due now.".to_string()
                } else {
                    let more = lines.len().saturating_sub(2);
                    let first: Vec<String> = lines.into_iter().take(2).collect();
                    let more = if more > 0 { format!(" (and {more} more)") } else { String::new() };
                    format!("Next automatic step waits for: {}{more}.", first.join("; "))
                };
                view! { <p class="hint" data-testid="waiting-for">{text}</p> }
            })}
            <div class="controls">
                {
                    let reason_id = reason_id.clone();
                    let may_move = may_move.clone();
                    let env_label = env_label.clone();
                    move || {
                        let s = state.get()?;
                        let (next_id, next_name) = s.next_id.clone()?;
                        let blocked = may_move.clone().or(s.blocked.clone());
                        let described = blocked.as_ref().map(|_| reason_id.clone());
                        let title = blocked.clone().unwrap_or_default();
                        // After a rollback the earlier sign-offs no longer count: say so on the button.
                        let label = match (&s.blocked, s.rolled_back_at) {
                            (Some(_), Some(_)) => format!("Advance to {next_name}: needs sign-offs anew after the rollback"),
                            _ => format!("Advance to {next_name}"),
                        };
                        let ask = Ask {
                            command: Command::Stage(Some(next_id)),
                            control: "advance",
                            question: format!("Advance {env_label} to {next_name}?"),
                            action: format!("Advance to {next_name}"),
                            comment_optional: !gated,
                            danger: false,
                        };
                        Some(view! {
                            <button
                                data-testid="advance"
                                disabled=move || blocked.is_some() || pending()
                                title=title
                                aria-describedby=described
                                on:click=move |_| asking.set(Some(ask.clone()))
                            >
                                {label}
                            </button>
                            {s.blocked.clone().map(|why| view! { <p class="blocked" id=reason_id.clone()>{why}</p> })}
                        }.into_any())
                    }
                }
                {
                    let may_move = may_move.clone();
                    let env_label = env_label.clone();
                    move || {
                        let s = state.get()?;
                        let earlier = s.earlier.clone();
                        // Nothing to roll back from without an active stage.
                        s.active_name.as_ref()?;
                        let may_move = may_move.clone();
                        let env_label = env_label.clone();
                        Some(view! {
                            <div class="rollback">
                                <label>
                                    "Roll back to "
                                    <select bind:value=target>
                                        <option value="">"no stage (everyone on fallbacks)"</option>
                                        {earlier.iter().map(|(id, name)| view! { <option value=id.clone()>{name.clone()}</option> }).collect_any()}
                                    </select>
                                </label>
                                <button
                                    class="secondary"
                                    data-testid="rollback"
                                    disabled=may_move.is_some()
                                    title=may_move.clone().unwrap_or_default()
                                    on:click=move |_| {
                                        let stage = Some(target.get_untracked()).filter(|id| !id.is_empty());
                                        let name = earlier
                                            .iter()
                                            .find(|(id, _)| Some(id) == stage.as_ref())
                                            .map_or("no stage (everyone on the fallback values)".to_string(), |(_, name)| name.clone());
                                        asking.set(Some(Ask {
                                            command: Command::Stage(stage),
                                            control: "rollback",
                                            question: format!("Roll {env_label} back to {name}? Users above its share return to the fallback values at once."),
                                            action: "Roll back".into(),
                                            comment_optional: !gated,
                                            danger: true,
                                        }));
                                    }
                                >"Roll back…"</button>
                            </div>
                        }.into_any())
                    }
                }
                {
                    let may_kill = may_kill.clone();
                    let reason_id = reason_id.clone();
                    move || state.get().map(|s| {
                    let on = !s.kill_switch;
                    let active = s.active_name.clone().unwrap_or_else(|| "the active stage".into());
                    let ask = Ask {
                        command: Command::KillSwitch(on),
                        control: "kill-switch",
                        question: if on {
                            format!("Turn the kill switch ON in {env_label}? Everyone gets the fallback values at once.")
                        } else {
                            format!("Turn the kill switch OFF in {env_label}? Users in {active} get its values again.")
                        },
                        action: if on { "Kill switch ON".into() } else { "Kill switch OFF".into() },
                        // Stopping is never held up; starting again is.
                        comment_optional: on || !gated,
                        danger: on,
                    };
                    // Turning it on is never gated; off may wait for fresh sign-offs.
                    let blocked = may_kill.clone().or(s.kill_off_blocked.clone());
                    let described = s.kill_off_blocked.as_ref().map(|_| format!("{reason_id}-kill"));
                    view! {
                        <button
                            class=if on { "danger" } else { "secondary" }
                            data-testid="kill-switch"
                            disabled=blocked.is_some()
                            title=blocked.clone().unwrap_or_default()
                            aria-describedby=described.clone()
                            on:click=move |_| asking.set(Some(ask.clone()))
                        >
                            {if on { "Kill switch on…" } else { "Kill switch off…" }}
                        </button>
                        {s.kill_off_blocked.clone().zip(described).map(|(why, id)| view! {
                            <p class="blocked" data-testid="kill-switch-blocked" id=id>{why}</p>
                        })}
                    }
                    .into_any()
                })}
                {
                    let may_move = may_move.clone();
                    move || may_move.clone().map(|why| view! { <p class="hint">{why}</p> })
                }
                {move || asking.get().map(|ask| {
                    let (command, control) = (ask.command.clone(), ask.control);
                    view! {
                        <ConfirmPanel
                            question=ask.question
                            action=ask.action
                            comment_optional=ask.comment_optional
                            danger=ask.danger
                            on_confirm=Callback::new(move |comment: String| {
                                asking.set(None);
                                send.run((command.clone(), comment, control));
                            })
                            on_cancel=Callback::new(move |()| asking.set(None))
                        />
                    }
                })}
                <Show when=move || pending()>
                    <p class="loading" role="status">"Sending…"</p>
                </Show>
                <p class="notice" role="status">{move || notice.get()}</p>
                <ErrorNote error/>
            </div>
        </article>
    }
}

/// What a card shows, computed from the plan.
#[derive(Clone, PartialEq)]
struct CardState {
    kill_switch: bool,
    active_name: Option<String>,
    /// The active stage's share, in basis points.
    active_points: u32,
    /// The next stage's name and the sign-offs it lacks.
    next: Option<(String, Vec<String>)>,
    next_id: Option<(String, String)>,
    /// Why advancing must wait (production only).
    blocked: Option<String>,
    /// Why turning the kill switch off must wait (production, switch on).
    kill_off_blocked: Option<String>,
    /// Stages before the active one, as (id, name).
    earlier: Vec<(String, String)>,
    /// The revision that last rolled this environment back or killed it.
    rolled_back_at: Option<u64>,
    /// Live at a stage that advances by itself to a next one.
    auto_step: bool,
}

impl CardState {
    fn of(plan: &Plan, rollout_key: &str, environment: &str) -> Option<Self> {
        let rollout: &Rollout = plan.rollouts.get(rollout_key)?;
        let env = rollout.environments.get(environment)?;
        let active = gate::active_index(rollout, environment);
        let next = gate::next_stage(rollout, environment);
        Some(CardState {
            kill_switch: env.kill_switch,
            active_name: active.map(|i| rollout.stages[i].name.clone()),
            active_points: active
                .and_then(|i| evaluator::bucket::basis_points(&rollout.stages[i].percentage))
                .map_or(0, u32::from),
            next: next.map(|stage| {
                (
                    stage.name.clone(),
                    plan.missing_signoffs(rollout_key, stage)
                        .into_iter()
                        .map(String::from)
                        .collect(),
                )
            }),
            next_id: next.map(|stage| (stage.id.clone(), stage.name.clone())),
            blocked: next
                .and_then(|stage| gate::advance_blocked(plan, rollout_key, environment, stage)),
            kill_off_blocked: env
                .kill_switch
                .then(|| gate::kill_off_blocked(plan, rollout_key, environment))
                .flatten(),
            rolled_back_at: env.rolled_back_at,
            auto_step: !env.kill_switch
                && next.is_some()
                && active.is_some_and(|i| rollout.stages[i].auto_advance),
            earlier: rollout.stages[..active.unwrap_or(0)]
                .iter()
                .map(|s| (s.id.clone(), s.name.clone()))
                .collect(),
        })
    }
}

/// The audit entry of the automatic rollback that turned `environment`'s kill
/// switch on, if the latest change to that switch was one (entries newest first).
fn automatic_rollback<'a>(
    entries: &'a [AuditEntry],
    rollout: &str,
    environment: &str,
) -> Option<&'a AuditEntry> {
    let switch = format!("{rollout}/{environment}: kill switch");
    entries
        .iter()
        .find(|entry| entry.summary.iter().any(|line| line.starts_with(&switch)))
        .filter(|entry| entry.action == "auto-rollback")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(revision: u64, action: &str, line: &str) -> AuditEntry {
        AuditEntry {
            revision,
            base_revision: Some(revision - 1),
            author: "stagegate".into(),
            at: "2026-12-02T10:00:00Z".into(),
            action: action.into(),
            summary: vec![line.into()],
            comment: format!("comment {revision}"),
        }
    }

    #[test]
    fn the_latest_change_to_the_switch_says_whether_it_was_automatic() {
        let on = "domain-migration/staging: kill switch off → on";
        let entries = [
            entry(
                5,
                "put-plan",
                "domain-migration: stage-2/percentage: 25 → 30",
            ),
            entry(4, "auto-rollback", on),
            entry(
                3,
                "kill-switch",
                "domain-migration/staging: kill switch on → off",
            ),
        ];
        let found = automatic_rollback(&entries, "domain-migration", "staging");
        assert_eq!(found.map(|e| e.revision), Some(4));
        assert_eq!(
            automatic_rollback(&entries, "domain-migration", "production"),
            None
        );
        // A person turned it on after the automatic rollback: theirs is the reason now.
        let mut later = vec![entry(6, "kill-switch", on)];
        later.extend(entries);
        assert_eq!(
            automatic_rollback(&later, "domain-migration", "staging"),
            None
        );
    }
}
