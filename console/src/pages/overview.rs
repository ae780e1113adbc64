//! Overview and controls: every rollout × environment with its active stage, kill
//! switch, the next stage and its missing sign-offs, and the buttons to move it.

use evaluator::Plan;
use evaluator::model::Rollout;
use leptos::prelude::*;
use stagegate_api::{Action, KillSwitchRequest, StageRequest};

use crate::api;
use crate::components::{CollectAny, ErrorNote, PercentBar, short_time};
use crate::gate;
use crate::store::use_store;
use crate::task::Task;
use crate::{confirm, use_me};

#[component]
pub fn Overview() -> impl IntoView {
    let store = use_store();
    // Cards are keyed by rollout and environment so a reload after a write keeps
    // each card's comment and errors.
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
        <crate::components::PlanView render=move |_| {
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
            }/>
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

#[component]
fn EnvironmentCard(rollout: String, environment: String) -> impl IntoView {
    let store = use_store();
    let me = use_me();
    let may_move = gate::may_change(&me, Action::MoveStage).err();
    let may_kill = gate::may_change(&me, Action::KillSwitch).err();
    let comment = RwSignal::new(String::new());
    let target = RwSignal::new(String::new());
    let task = Task::new();
    let (names_rollout, names_env) = (rollout.clone(), environment.clone());
    let send = Callback::new(move |command: Command| {
        let (rollout, environment) = (names_rollout.clone(), names_env.clone());
        let comment_text = comment.get_untracked();
        task.run(Box::pin(async move {
            let loaded = match command {
                Command::Stage(stage) => {
                    let request = StageRequest {
                        stage,
                        comment: comment_text,
                    };
                    api::set_stage(&rollout, &environment, &request).await?
                }
                Command::KillSwitch(on) => {
                    let request = KillSwitchRequest {
                        on,
                        comment: comment_text,
                    };
                    api::set_kill_switch(&rollout, &environment, &request).await?
                }
            };
            comment.set(String::new());
            store.saved(loaded);
            Ok(())
        }))
    });
    let error = task.error();
    let pending = move || task.pending();

    let (r, e) = (rollout.clone(), environment.clone());
    let state = Memo::new(move |_| {
        store
            .current()
            .and_then(|loaded| CardState::of(&loaded.plan, &r, &e))
    });
    let reason_id = format!("reason-{rollout}-{environment}");
    let env_label = environment.clone();

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
            <div class="controls">
                <label>
                    "Comment"
                    <input type="text" bind:value=comment placeholder="why (recorded in the history)"/>
                </label>
                {
                    let reason_id = reason_id.clone();
                    let may_move = may_move.clone();
                    move || {
                        let s = state.get()?;
                        let (next_id, next_name) = s.next_id.clone()?;
                        let blocked = may_move.clone().or(s.blocked.clone());
                        let described = blocked.as_ref().map(|_| reason_id.clone());
                        let title = blocked.clone().unwrap_or_default();
                        Some(view! {
                            <button
                                data-testid="advance"
                                disabled=move || blocked.is_some() || pending()
                                title=title
                                aria-describedby=described
                                on:click=move |_| { send.run(Command::Stage(Some(next_id.clone()))); }
                            >
                                {format!("Advance to {next_name}")}
                            </button>
                            {s.blocked.clone().map(|why| view! { <p class="blocked" id=reason_id.clone()>{why}</p> })}
                        }.into_any())
                    }
                }
                {
                    let may_move = may_move.clone();
                    move || {
                        let s = state.get()?;
                        let earlier = s.earlier.clone();
                        // Nothing to roll back from without an active stage.
                        s.active_name.as_ref()?;
                        let may_move = may_move.clone();
                        Some(view! {
                            <div class="rollback">
                                <label>
                                    "Roll back to "
                                    <select bind:value=target>
                                        <option value="">"no stage (everyone on fallbacks)"</option>
                                        {earlier.into_iter().map(|(id, name)| view! { <option value=id>{name}</option> }).collect_any()}
                                    </select>
                                </label>
                                <button
                                    class="secondary"
                                    data-testid="rollback"
                                    disabled=may_move.is_some()
                                    title=may_move.clone().unwrap_or_default()
                                    on:click=move |_| {
                                        let stage = Some(target.get_untracked()).filter(|id| !id.is_empty());
                                        send.run(Command::Stage(stage));
                                    }
                                >"Roll back"</button>
                            </div>
                        }.into_any())
                    }
                }
                {
                    let may_kill = may_kill.clone();
                    let reason_id = reason_id.clone();
                    move || state.get().map(|s| {
                    let on = !s.kill_switch;
                    let question = if on {
                        format!("Turn the kill switch ON in {env_label}? Everyone gets the fallback values at once.")
                    } else {
                        format!("Turn the kill switch OFF in {env_label}? Users in the active stage get its values again.")
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
                            on:click=move |_| if confirm(&question) { send.run(Command::KillSwitch(on)); }
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
                <Show when=move || pending()>
                    <p class="loading" role="status">"Sending…"</p>
                </Show>
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
            earlier: rollout.stages[..active.unwrap_or(0)]
                .iter()
                .map(|s| (s.id.clone(), s.name.clone()))
                .collect(),
        })
    }
}
