//! Users (admins): who may do what, when each token was last used, adding a
//! user (the token shown once, with a copy button), changing a role, removing
//! a user, and the log of every change to the users.

use evaluator::model::{ROLES, Role};
use leptos::prelude::*;
use stagegate_api::{Action, UserCreated, UserInfo, UserRequest, UserRoleRequest};

use crate::api;
use crate::components::{CollectAny, ConfirmPanel, ErrorNote, short_time};
use crate::store::use_store;
use crate::task::{Fetched, Task};
use crate::use_me;

/// A change to a user that waits for its confirmation.
#[derive(Clone)]
enum Ask {
    Remove(String),
    Role(String, Role),
}

#[component]
pub fn Users() -> impl IntoView {
    let me = use_me();
    if !me.may(Action::ManageUsers) {
        return view! {
            <h1>"Users"</h1>
            <p class="hint">"Only admins manage users."</p>
        }
        .into_any();
    }
    let store = use_store();
    let users = Fetched::new(|| Box::pin(api::users()));
    let log = Fetched::new(|| Box::pin(api::user_log()));
    let task = Task::new();
    let created = RwSignal::new(None::<UserCreated>);
    let asking = RwSignal::new(None::<Ask>);
    let notice = RwSignal::new(None::<String>);
    let changed = move |what: String| {
        notice.set(Some(what));
        users.refetch();
        log.refetch();
        // Sign-offs of a removed or moved user stop counting: a plan write.
        store.reload();
    };

    let name = RwSignal::new(String::new());
    let role = RwSignal::new(Role::Viewer.name().to_string());
    let add = move || {
        let request = UserRequest {
            name: name.get_untracked().trim().to_string(),
            role: role.get_untracked(),
        };
        notice.set(None);
        task.run(Box::pin(async move {
            let answer = api::add_user(&request).await?;
            name.set(String::new());
            changed(format!("Added {} ({}).", answer.name, answer.role));
            created.set(Some(answer));
            Ok(())
        }))
    };
    let confirm = Callback::new(move |_comment: String| {
        let Some(ask) = asking.get_untracked() else {
            return;
        };
        asking.set(None);
        task.run(Box::pin(async move {
            match ask {
                Ask::Remove(user) => {
                    api::remove_user(&user).await?;
                    changed(format!("Removed {user}."));
                }
                Ask::Role(user, new_role) => {
                    let request = UserRoleRequest {
                        role: new_role.name().to_string(),
                    };
                    api::set_user_role(&user, &request).await?;
                    changed(format!("{user} is now {new_role}."));
                }
            }
            Ok(())
        }))
    });
    let error = task.error();
    let role_options = |selected: &str| {
        ROLES
            .iter()
            .map(|r| view! { <option value=*r prop:selected=*r == selected>{*r}</option> })
            .collect_any()
    };

    view! {
        <h1>"Users"</h1>
        <form class="row add-user" on:submit=move |event| {
            event.prevent_default();
            add();
        }>
            <label>"Name " <input type="text" bind:value=name data-testid="user-name" placeholder="letters, digits, - _ ."/></label>
            <label>"Role " <select bind:value=role data-testid="user-role">{role_options(Role::Viewer.name())}</select></label>
            <button type="submit" disabled=move || task.pending() || name.with(|n| n.trim().is_empty())>"Add user"</button>
        </form>
        {move || created.get().map(|user| view! { <NewToken user created/> })}
        {move || asking.get().map(|ask| {
            let (question, action) = match &ask {
                Ask::Remove(user) => (
                    format!("Remove {user}? Their token stops working at once, and their sign-offs stop counting."),
                    format!("Remove {user}"),
                ),
                Ask::Role(user, role) => (
                    format!("Make {user} {role}? Sign-offs they gave in their old role stop counting."),
                    format!("Make {user} {role}"),
                ),
            };
            view! {
                <ConfirmPanel question action without_comment=true danger=true
                    on_confirm=confirm on_cancel=Callback::new(move |()| {
                        asking.set(None);
                        // A role picked and then cancelled shows the role they have again.
                        users.refetch();
                    })/>
            }
        })}
        <p class="notice" role="status">{move || notice.get()}</p>
        <ErrorNote error/>
        {move || match users.get() {
            None => view! { <p class="loading" role="status">"Loading users…"</p> }.into_any(),
            Some(Err(error)) => view! { <ErrorNote error=Signal::stored(Some(error))/> }.into_any(),
            Some(Ok(list)) => view! {
                <div class="table-wrap">
                    <table class="users" data-testid="users">
                        <thead><tr>
                            <th scope="col">"Name"</th><th scope="col">"Role"</th><th scope="col">"Created"</th>
                            <th scope="col">"Token last used"</th><th scope="col"><span class="sr-only">"Actions"</span></th>
                        </tr></thead>
                        <tbody>{list.into_iter().map(|user| user_row(user, asking, role_options)).collect_any()}</tbody>
                    </table>
                </div>
                <p class="hint">"“Token last used” covers the time since the server started."</p>
            }.into_any(),
        }}
        <h2>"Changes to users"</h2>
        {move || log.get().map(|answer| match answer {
            Err(error) => view! { <ErrorNote error=Signal::stored(Some(error))/> }.into_any(),
            Ok(events) => view! {
                <ul class="user-log" data-testid="user-log">
                    {events.into_iter().take(20).map(|event| {
                        let what = match (&event.role, &event.previous_role) {
                            (Some(role), None) => format!("added {} as {role}", event.name),
                            (Some(role), Some(before)) => format!("made {} {role} (was {before})", event.name),
                            (None, _) => format!("removed {}", event.name),
                        };
                        view! { <li>{short_time(&event.at)} " " <strong>{event.by}</strong> " " {what}</li> }
                    }).collect_any()}
                </ul>
            }.into_any(),
        })}
    }
    .into_any()
}

fn user_row(
    user: UserInfo,
    asking: RwSignal<Option<Ask>>,
    role_options: impl Fn(&str) -> Vec<AnyView>,
) -> impl IntoView {
    let (for_role, for_remove) = (user.name.clone(), user.name.clone());
    view! {
        <tr data-user=user.name.clone()>
            <th scope="row">{user.name.clone()}</th>
            <td>
                <select aria-label=format!("Role of {}", user.name) on:change=move |event| {
                    if let Some(role) = Role::from_name(&event_target_value(&event)) {
                        asking.set(Some(Ask::Role(for_role.clone(), role)));
                    }
                }>{role_options(user.role.name())}</select>
            </td>
            <td data-label="Created">{short_time(&user.created)}</td>
            <td data-label="Token last used">{user.last_used.as_deref().map_or_else(|| "not yet".to_string(), short_time)}</td>
            <td>
                <button class="secondary small" on:click=move |_| asking.set(Some(Ask::Remove(for_remove.clone())))>
                    "Remove…"
                </button>
            </td>
        </tr>
    }
}

/// A new user's token: shown this once, with a copy button.
#[component]
fn NewToken(user: UserCreated, created: RwSignal<Option<UserCreated>>) -> impl IntoView {
    let copied = RwSignal::new(false);
    let token = user.token.clone();
    let copy = move |_| {
        if let Some(window) = web_sys::window() {
            // The promise is not awaited: the token stays on screen to copy by hand.
            let _ = window.navigator().clipboard().write_text(&token);
            copied.set(true);
        }
    };
    view! {
        <section class="warning" role="status" data-testid="new-token">
            <p>{format!("{}'s token, shown this once: give it to them over a private channel.", user.name)}</p>
            <p><code data-testid="token">{user.token.clone()}</code></p>
            <div class="row">
                <button on:click=copy>{move || if copied.get() { "Copied" } else { "Copy token" }}</button>
                <button class="secondary" on:click=move |_| created.set(None)>"Done"</button>
            </div>
        </section>
    }
}
