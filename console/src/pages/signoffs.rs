//! Sign-offs: roles × stages with who signed and when (stale ones marked), and
//! signing or withdrawing in one's own role.

use evaluator::Plan;
use evaluator::model::SIGNOFF_ROLES;
use evaluator::model::{GATED_ENVIRONMENT, Role, Signoff};
use leptos::prelude::*;
use stagegate_api::{Action, SignoffRequest};

use crate::api;
use crate::components::{CollectAny, ErrorNote, PlanView, short_time};
use crate::gate;
use crate::store::use_store;
use crate::task::Task;
use crate::use_me;

/// What the page asks of the server.
#[derive(Clone)]
enum Request {
    Sign {
        rollout: String,
        stage: String,
        comment: String,
    },
    Withdraw(String),
}

#[component]
pub fn Signoffs() -> impl IntoView {
    let store = use_store();
    let me = use_me();
    // The role the user signs in, if the server lets them sign.
    let own_role = me.may(Action::Sign).then_some(me.role);
    let target = RwSignal::new(String::new());
    let comment = RwSignal::new(String::new());
    let task = Task::new();
    let notice = RwSignal::new(None::<String>);
    let send = move |request: Request| {
        notice.set(None);
        task.run(Box::pin(async move {
            let done = match request {
                Request::Sign {
                    rollout,
                    stage,
                    comment,
                } => {
                    let done = format!("Signed off {rollout}/{stage}.");
                    api::sign(&SignoffRequest {
                        rollout,
                        stage,
                        comment,
                    })
                    .await
                    .map(|()| done)
                }
                Request::Withdraw(id) => api::withdraw_signoff(&id)
                    .await
                    .map(|()| "Sign-off withdrawn.".to_string()),
            };
            let done = done?;
            comment.set(String::new());
            notice.set(Some(done));
            store.reload();
            Ok(())
        }))
    };
    let error = task.error();
    // Stage choices as "rollout/stage" values. None is chosen until the signer
    // picks one: a sign-off approves exactly the stage they meant.
    let choices = Memo::new(move |_| {
        store
            .current()
            .map(|loaded| {
                loaded
                    .plan
                    .rollouts
                    .iter()
                    .flat_map(|(key, r)| {
                        r.stages
                            .iter()
                            .map(move |s| (format!("{key}/{}", s.id), format!("{key}: {}", s.name)))
                    })
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    });
    // What the signer must still give: the stage, and what they checked.
    let incomplete = move || target.with(String::is_empty) || comment.with(|c| c.trim().is_empty());
    let sign = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        if incomplete() {
            return;
        }
        if let Some((rollout, stage)) = target.get_untracked().split_once('/') {
            send(Request::Sign {
                rollout: rollout.into(),
                stage: stage.into(),
                comment: comment.get_untracked(),
            });
        }
    };
    let cannot_sign = own_role.is_none().then(|| {
        format!(
            "Only {} sign off; your role is {}.",
            SIGNOFF_ROLES.join(", "),
            me.role
        )
    });
    let me_name = me.name.clone();
    let is_admin = me.role == Role::Admin;
    view! {
        <h1>"Sign-offs"</h1>
        <section class="sign-form" aria-label="Sign off">
            <h2>{match own_role {
                Some(role) => format!("Sign off as {role}"),
                None => "Sign off".to_string(),
            }}</h2>
            // A form, so Enter in the comment signs.
            <form class="row" on:submit=sign>
                <label>
                    "Stage "
                    <select bind:value=target data-testid="signoff-stage">
                        <option value="" disabled>"Choose the stage you approve"</option>
                        {move || choices.get().into_iter().map(|(value, label)| view! { <option value=value>{label}</option> }).collect_any().into_any()}
                    </select>
                </label>
                <label>"Comment " <input type="text" bind:value=comment placeholder="what you checked" required/></label>
                <button
                    type="submit"
                    data-testid="sign"
                    disabled={
                        let refused = cannot_sign.is_some();
                        move || refused || task.pending() || incomplete()
                    }
                    title=cannot_sign.clone().unwrap_or_default()
                    aria-describedby="sign-reason"
                >"Sign off"</button>
            </form>
            <p class="hint" id="sign-reason">{
                let cannot_sign = cannot_sign.clone();
                move || match &cannot_sign {
                    Some(why) => why.clone(),
                    None if incomplete() => match (target.with(String::is_empty), comment.with(|c| c.trim().is_empty())) {
                        (true, true) => "Choose the stage you approve and say what you checked.".into(),
                        (true, false) => "Choose the stage you approve.".into(),
                        _ => "Say what you checked.".into(),
                    },
                    None => "A sign-off approves the stage as it is now; any later change to the stage makes it stale.".into(),
                }
            }</p>
            <p class="notice" role="status" data-testid="signoff-notice">{move || notice.get()}</p>
            <ErrorNote error/>
        </section>
        <PlanView render=move |loaded| {
            let plan = loaded.plan;
            let me_name = me_name.clone();
            plan.rollouts
                .iter()
                .map(|(key, rollout)| {
                    let header = rollout
                        .stages
                        .iter()
                        .map(|s| view! { <th scope="col">{s.name.clone()}</th> })
                        .collect_any();
                    let rows = SIGNOFF_ROLES
                        .iter()
                        .map(|role| {
                            let cells = rollout
                                .stages
                                .iter()
                                .map(|stage| {
                                    let required = stage.required_signoffs.iter().any(|r| r == role);
                                    signoff_cell(&plan, key, &stage.id, role, required, &me_name, is_admin, send)
                                })
                                .collect_any();
                            view! { <tr><th scope="row">{*role}</th>{cells}</tr> }
                        })
                        .collect_any();
                    // What the leads checked, beside what they signed.
                    let mut phases: Vec<(&str, usize, usize)> = Vec::new();
                    for item in &rollout.checklist {
                        match phases.iter_mut().find(|(phase, _, _)| *phase == item.phase) {
                            Some((_, done, total)) => {
                                *done += usize::from(item.done);
                                *total += 1;
                            }
                            None => phases.push((&item.phase, usize::from(item.done), 1)),
                        }
                    }
                    let progress = phases
                        .iter()
                        .map(|(phase, done, total)| format!("{phase}: {done} of {total}"))
                        .collect::<Vec<_>>()
                        .join(" · ");
                    view! {
                        <section aria-label=format!("Sign-offs of {key}")>
                            <h2>{key.clone()}</h2>
                            {(!phases.is_empty()).then(|| view! {
                                <p class="hint" data-testid="checklist-progress">"Checklist: " {progress} " "
                                    <crate::nav::Link href="/checklist">"(open)"</crate::nav::Link>
                                </p>
                            })}
                            <div class="table-wrap">
                                <table class="signoffs" data-testid="signoff-table">
                                    <thead><tr><th scope="col">"Role"</th>{header}</tr></thead>
                                    <tbody>{rows}</tbody>
                                </table>
                            </div>
                        </section>
                    }
                })
                .collect_any()
        }/>
    }
}

#[allow(clippy::too_many_arguments)]
fn signoff_cell(
    plan: &Plan,
    rollout: &str,
    stage: &str,
    role: &str,
    required: bool,
    me: &str,
    is_admin: bool,
    send: impl Fn(Request) + Copy + Send + Sync + 'static,
) -> AnyView {
    let Some(signoff) = gate::signoffs_for(plan, rollout, stage, role)
        .last()
        .cloned()
    else {
        let text = if required { "missing" } else { "not required" };
        return view! { <td class=if required { "missing" } else { "muted" } data-stage=stage.to_string()>{text}</td> }
            .into_any();
    };
    let stale = !plan.is_current(&signoff);
    // Current but given before production's last rollback or kill switch: an
    // incident voids earlier approvals, so it no longer counts (SPEC: the gate).
    let void = (!stale)
        .then(|| voided_at(plan, rollout, stage, role, &signoff))
        .flatten();
    let withdrawable = signoff.by == me || is_admin;
    let id = signoff.id.clone();
    view! {
        <td class:stale=stale class="signed" data-stage=stage.to_string()>
            <span class="who">{signoff.by.clone()}</span>
            <span class="when">{short_time(&signoff.at)}</span>
            {stale.then(|| view! { <span class="badge warn" title="The stage changed after this sign-off">"stale"</span> })}
            {void.map(|revision| view! {
                <span class="badge warn" title=format!("Given before the rollback or kill switch at revision {revision}: sign again")>
                    "void"
                </span>
            })}
            {signoff.comment.clone().map(|c| view! { <span class="comment">{c}</span> })}
            {withdrawable.then(|| view! {
                <button class="secondary small" on:click=move |_| { send(Request::Withdraw(id.clone())); }>
                    "Withdraw"
                </button>
            })}
        </td>
    }
    .into_any()
}

/// The revision of production's rollback or kill switch that voids `signoff`,
/// if one does.
fn voided_at(
    plan: &Plan,
    rollout: &str,
    stage: &str,
    role: &str,
    signoff: &Signoff,
) -> Option<u64> {
    let stage = plan.rollouts.get(rollout)?.stage(stage)?;
    let role = Role::from_name(role)?;
    if evaluator::gate::counts(plan, rollout, stage, role, signoff) {
        return None;
    }
    plan.rollouts[rollout]
        .environments
        .get(GATED_ENVIRONMENT)?
        .rolled_back_at
}
