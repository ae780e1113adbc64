//! Integrations (admins): the apps' keys, ingest keys for reports and SDK keys
//! for OFREP (one environment each; the key shown once, with a copy button;
//! revoked after a question; one component for both kinds) and the alert
//! webhooks (URL and events; the signing secret shown once; each hook's recent
//! deliveries, failures with their status and error; a test alert; removal).

use std::sync::Arc;
use std::time::Duration;

use leptos::prelude::*;
use serde_json::Value;
use stagegate_api::{
    Action, AlertEvent, DeliveryStatus, IngestKeyRequest, WebhookDelivery, WebhookInfo,
    WebhookRequest,
};

use crate::api::{self, ApiError};
use crate::components::{Asking, CollectAny, Comment, ErrorNote, Question, ShownOnce, short_time};
use crate::read;
use crate::store::use_store;
use crate::task::{Fetched, Task};
use crate::use_me;

/// Deliveries listed per hook (the server keeps 50).
const SHOWN_DELIVERIES: usize = 5;

/// A removal that waits for its confirmation: (what, id, name shown).
#[derive(Clone)]
enum Ask {
    Revoke(KeyKind, String, String),
    Remove(String, String),
}

/// The two kinds of app key: the same routes and shapes under two collections.
#[derive(Clone, Copy, PartialEq)]
enum KeyKind {
    Ingest,
    Sdk,
}

impl KeyKind {
    fn collection(self) -> &'static str {
        match self {
            KeyKind::Ingest => "/api/ingest-keys",
            KeyKind::Sdk => "/api/sdk-keys",
        }
    }

    fn title(self) -> &'static str {
        match self {
            KeyKind::Ingest => "Ingest keys",
            KeyKind::Sdk => "SDK keys (OFREP)",
        }
    }

    fn what(self) -> &'static str {
        match self {
            KeyKind::Ingest => "ingest key",
            KeyKind::Sdk => "SDK key",
        }
    }

    fn hint(self) -> &'static str {
        match self {
            KeyKind::Ingest => {
                "Apps send their counts to POST /api/metrics with an environment's key (Authorization: Bearer sgi_…); a key reports for its environment only and can do nothing else."
            }
            KeyKind::Sdk => {
                "Services in any language evaluate flags over OFREP (POST /ofrep/v1/evaluate/flags…) with an environment's key (Authorization: Bearer sgk_… or X-API-Key); a key evaluates its environment only and can do nothing else."
            }
        }
    }

    /// Test ids: the ingest keys' are the first ones the tests knew.
    fn testid(self, what: &'static str) -> &'static str {
        match (self, what) {
            (KeyKind::Ingest, "env") => "key-env",
            (KeyKind::Ingest, "name") => "key-name",
            (KeyKind::Ingest, "create") => "create-key",
            (KeyKind::Ingest, "new") => "new-key",
            (KeyKind::Ingest, _) => "keys",
            (KeyKind::Sdk, "env") => "sdk-key-env",
            (KeyKind::Sdk, "name") => "sdk-key-name",
            (KeyKind::Sdk, "create") => "create-sdk-key",
            (KeyKind::Sdk, "new") => "new-sdk-key",
            (KeyKind::Sdk, _) => "sdk-keys",
        }
    }
}

#[component]
pub fn Integrations() -> impl IntoView {
    let me = use_me();
    let (keys_allowed, sdk_keys_allowed, hooks_allowed) = (
        me.may(Action::ManageIngestKeys),
        me.may(Action::ManageSdkKeys),
        me.may(Action::ManageWebhooks),
    );
    if !keys_allowed && !sdk_keys_allowed && !hooks_allowed {
        return view! {
            <h1>"Integrations"</h1>
            <p class="hint">"Only admins manage app keys and webhooks."</p>
        }
        .into_any();
    }
    let task = Task::new();
    let asking = RwSignal::new(None::<Question>);
    let notice = RwSignal::new(None::<String>);
    // Both lists kept as JSON (null when not allowed) and read where shown: one
    // copy of the reactive code for every such answer (see `read`).
    let fetch_keys = move |kind: KeyKind, allowed: bool| {
        Fetched::new(move || {
            Box::pin(async move {
                if allowed {
                    api::app_keys(kind.collection()).await
                } else {
                    Ok(Value::Null)
                }
            })
        })
    };
    let keys = fetch_keys(KeyKind::Ingest, keys_allowed);
    let sdk_keys = fetch_keys(KeyKind::Sdk, sdk_keys_allowed);
    let hooks = Fetched::new(move || {
        Box::pin(async move {
            if hooks_allowed {
                api::webhooks().await
            } else {
                Ok(Value::Null)
            }
        })
    });
    let act = move |ask: Ask| {
        notice.set(None);
        task.run(Box::pin(async move {
            match ask {
                Ask::Revoke(kind, id, name) => {
                    api::revoke_app_key(kind.collection(), &id).await?;
                    notice.set(Some(format!(
                        "Revoked the {} {name}: it is refused from now on.",
                        kind.what()
                    )));
                    match kind {
                        KeyKind::Ingest => keys.refetch(),
                        KeyKind::Sdk => sdk_keys.refetch(),
                    }
                }
                Ask::Remove(id, url) => {
                    api::remove_webhook(&id).await?;
                    notice.set(Some(format!("Removed the webhook {url}.")));
                    hooks.refetch();
                }
            }
            Ok(())
        }))
    };
    let ask = Callback::new(move |ask: Ask| {
        let (question, action) = match &ask {
            Ask::Revoke(kind, _, name) => (
                format!(
                    "Revoke the {} {name}? Apps that use it are refused from then on.",
                    kind.what()
                ),
                "Revoke the key".to_string(),
            ),
            Ask::Remove(_, url) => (
                format!(
                    "Remove the webhook {url}? Its pending retries stop and its deliveries are forgotten."
                ),
                "Remove the webhook".to_string(),
            ),
        };
        asking.set(Some(Question {
            question,
            action,
            comment: Comment::Without,
            danger: true,
            then: Arc::new(move |_comment| act(ask.clone())),
            cancelled: None,
        }));
    });
    let error = task.error();
    view! {
        <h1>"Integrations"</h1>
        <Asking asking/>
        <p class="notice" role="status">{move || notice.get()}</p>
        <ErrorNote error/>
        {keys_allowed.then(|| view! { <AppKeys kind=KeyKind::Ingest keys task ask/> })}
        {sdk_keys_allowed.then(|| view! { <AppKeys kind=KeyKind::Sdk keys=sdk_keys task ask/> })}
        {hooks_allowed.then(|| view! { <Webhooks hooks task ask/> })}
    }
    .into_any()
}

#[component]
fn AppKeys(
    kind: KeyKind,
    keys: Fetched<Result<Value, ApiError>>,
    task: Task,
    ask: Callback<Ask>,
) -> impl IntoView {
    let store = use_store();
    // (what the secret is, the secret), as every shown-once secret is held.
    let created = RwSignal::new(None::<(String, String)>);
    // Every environment any rollout has, each rollout's production first.
    let environments = move || {
        let mut names: Vec<String> = Vec::new();
        if let Some(loaded) = store.current() {
            for rollout in loaded.plan.rollouts.values() {
                for env in super::health::production_first(rollout) {
                    if !names.contains(&env) {
                        names.push(env);
                    }
                }
            }
        }
        names
    };
    let environment = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let create = move || {
        let chosen = environment.get_untracked();
        let request = IngestKeyRequest {
            environment: if chosen.is_empty() {
                untrack(environments).first().cloned().unwrap_or_default()
            } else {
                chosen
            },
            name: name.get_untracked().trim().to_string(),
        };
        task.run(Box::pin(async move {
            let answer = api::create_app_key(kind.collection(), &request).await?;
            name.set(String::new());
            created.set(Some((
                format!(
                    "The key {} for {}, shown this once: put it in the app's configuration.",
                    answer.info.name, answer.info.environment
                ),
                answer.key,
            )));
            keys.refetch();
            Ok(())
        }))
    };
    view! {
        <section aria-label=kind.title()>
            <h2>{kind.title()}</h2>
            <p class="hint">{kind.hint()}</p>
            <form class="row" on:submit=move |event| {
                event.prevent_default();
                create();
            }>
                <label>"Environment "
                    <select data-testid=kind.testid("env") on:change=move |event| environment.set(event_target_value(&event))>
                        {move || environments().into_iter().map(|env| view! { <option value=env.clone()>{env.clone()}</option> }).collect_any()}
                    </select>
                </label>
                <label>"Name " <input type="text" bind:value=name data-testid=kind.testid("name") placeholder=match kind { KeyKind::Ingest => "e.g. web app", KeyKind::Sdk => "e.g. billing service" }/></label>
                <button type="submit" data-testid=kind.testid("create") disabled=move || task.pending() || name.with(|n| n.trim().is_empty())>"Create key"</button>
            </form>
            <ShownOnce shown=created copy="Copy key" testid=kind.testid("new")/>
            {move || keys.read(read::ingest_keys).map(|answer| match answer {
                Err(error) => view! { <ErrorNote error=Signal::stored(Some(error))/> }.into_any(),
                Ok(list) if list.is_empty() => view! { <p class="hint">{format!("No {}s yet.", kind.what())}</p> }.into_any(),
                Ok(list) => view! {
                    <div class="table-wrap">
                        <table class="keys" data-testid=kind.testid("list")>
                            <thead><tr>
                                <th scope="col">"Name"</th><th scope="col">"Environment"</th><th scope="col">"Created"</th>
                                <th scope="col"><span class="sr-only">"Actions"</span></th>
                            </tr></thead>
                            <tbody>{list.into_iter().map(|key| {
                                let revoke = Ask::Revoke(kind, key.id.clone(), key.name.clone());
                                view! {
                                    <tr data-key=key.id.clone()>
                                        <th scope="row">{key.name.clone()}</th>
                                        <td data-label="Environment">{key.environment.clone()}</td>
                                        <td data-label="Created">{format!("{} by {}", short_time(&key.created), key.created_by)}</td>
                                        <td><button class="secondary small" on:click=move |_| ask.run(revoke.clone())>"Revoke…"</button></td>
                                    </tr>
                                }
                            }).collect_any()}</tbody>
                        </table>
                    </div>
                }.into_any(),
            })}
        </section>
    }
}

#[component]
fn Webhooks(
    hooks: Fetched<Result<Value, ApiError>>,
    task: Task,
    ask: Callback<Ask>,
) -> impl IntoView {
    let created = RwSignal::new(None::<(String, String)>);
    let url = RwSignal::new(String::new());
    let description = RwSignal::new(String::new());
    // The events ticked, in `SUBSCRIBABLE`'s order; a rollback alert by default.
    let events = RwSignal::new(vec![AlertEvent::Rollback]);
    let add = move || {
        let request = WebhookRequest {
            url: url.get_untracked().trim().to_string(),
            events: events
                .get_untracked()
                .into_iter()
                .map(|e| e.name().to_string())
                .collect(),
            description: description.get_untracked().trim().to_string(),
            secret: None,
        };
        task.run(Box::pin(async move {
            let answer = api::add_webhook(&request).await?;
            url.set(String::new());
            description.set(String::new());
            created.set(Some((
                format!("The signing secret of {}, shown this once: the receiver checks X-Stagegate-Signature with it.", answer.url),
                answer.secret,
            )));
            hooks.refetch();
            Ok(())
        }))
    };
    let send_test = move |id: String| {
        task.run(Box::pin(async move {
            api::test_webhook(&id).await?;
            hooks.refetch();
            // The attempt takes a moment: look again once it has had the time.
            set_timeout(move || hooks.refetch(), Duration::from_secs(2));
            Ok(())
        }))
    };
    view! {
        <section aria-label="Webhooks">
            <h2>"Webhooks"</h2>
            <p class="hint">"Alerts are POSTed as JSON, signed with the hook's secret (X-Stagegate-Signature, HMAC-SHA256), and retried with backoff."</p>
            <form class="add-hook" on:submit=move |event| {
                event.prevent_default();
                add();
            }>
                <div class="row">
                    <label>"URL " <input type="text" bind:value=url data-testid="hook-url" placeholder="https://…"/></label>
                    <label>"Description " <input type="text" bind:value=description data-testid="hook-description"/></label>
                </div>
                <fieldset class="row">
                    <legend>"Events"</legend>
                    {AlertEvent::SUBSCRIBABLE.into_iter().map(|event| view! {
                        <label class="check">
                            <input type="checkbox"
                                prop:checked=move || events.with(|e| e.contains(&event))
                                on:change=move |ev| {
                                    let on = event_target_checked(&ev);
                                    events.update(|list| {
                                        list.retain(|e| *e != event);
                                        if on {
                                            list.push(event);
                                        }
                                    });
                                }/>
                            " " {event.name()}
                        </label>
                    }).collect_any()}
                </fieldset>
                <button type="submit" data-testid="add-hook"
                    disabled=move || task.pending() || url.with(|u| u.trim().is_empty()) || events.with(Vec::is_empty)>"Add webhook"</button>
            </form>
            <ShownOnce shown=created copy="Copy secret" testid="new-secret"/>
            <div class="row">
                <button class="secondary" on:click=move |_| hooks.refetch()>"Refresh deliveries"</button>
            </div>
            {move || hooks.read(read::webhooks).map(|answer| match answer {
                Err(error) => view! { <ErrorNote error=Signal::stored(Some(error))/> }.into_any(),
                Ok(list) if list.is_empty() => view! { <p class="hint">"No webhooks yet."</p> }.into_any(),
                Ok(list) => list.into_iter().map(|hook| hook_view(hook, ask, send_test)).collect_any().into_any(),
            })}
        </section>
    }
}

fn hook_view(
    hook: WebhookInfo,
    ask: Callback<Ask>,
    send_test: impl Fn(String) + Copy + 'static,
) -> impl IntoView {
    let events: Vec<&str> = hook.events.iter().map(|e| e.name()).collect();
    let about = format!(
        "{}{}Added {} by {}.",
        events.join(", "),
        if hook.description.is_empty() {
            ". ".to_string()
        } else {
            format!(" · {}. ", hook.description)
        },
        short_time(&hook.created),
        hook.created_by
    );
    let remove = Ask::Remove(hook.id.clone(), hook.url.clone());
    let id = hook.id.clone();
    let failed = hook
        .deliveries
        .iter()
        .filter(|d| d.status == DeliveryStatus::Failed)
        .count();
    view! {
        <article class="card hook" data-hook=hook.id.clone()>
            <h3><code>{hook.url.clone()}</code>
                {(failed > 0).then(|| view! { <span class="badge danger">{format!("{failed} failed")}</span> })}
            </h3>
            <p class="hint">{about}</p>
            <div class="row">
                <button class="secondary small" data-testid="test-hook" on:click=move |_| send_test(id.clone())>"Send test"</button>
                <button class="secondary small" on:click=move |_| ask.run(remove.clone())>"Remove…"</button>
            </div>
            {if hook.deliveries.is_empty() {
                view! { <p class="hint">"No deliveries yet."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap">
                        <table class="deliveries" data-testid="deliveries">
                            <thead><tr>
                                <th scope="col">"When"</th><th scope="col">"Event"</th><th scope="col">"Status"</th>
                                <th scope="col">"Attempts"</th><th scope="col">"Last answer"</th>
                            </tr></thead>
                            <tbody>{hook.deliveries.into_iter().take(SHOWN_DELIVERIES).map(delivery_row).collect_any()}</tbody>
                        </table>
                    </div>
                }.into_any()
            }}
        </article>
    }
}

fn delivery_row(delivery: WebhookDelivery) -> impl IntoView {
    let (status, class) = match delivery.status {
        DeliveryStatus::Pending => ("pending", "badge"),
        DeliveryStatus::Delivered => ("delivered", "badge ok"),
        DeliveryStatus::Failed => ("failed", "badge danger"),
    };
    let answer = match (delivery.response_status, delivery.last_error) {
        (Some(code), Some(error)) => format!("HTTP {code}: {error}"),
        (Some(code), None) => format!("HTTP {code}"),
        (None, Some(error)) => error,
        (None, None) => "—".to_string(),
    };
    view! {
        <tr class:failed=delivery.status == DeliveryStatus::Failed>
            <td data-label="When">{short_time(&delivery.created)}</td>
            <td data-label="Event" title=delivery.text>{delivery.event.name()}</td>
            <td data-label="Status"><span class=class>{status}</span></td>
            <td data-label="Attempts">{delivery.attempts}</td>
            <td data-label="Last answer">{answer}</td>
        </tr>
    }
}
