//! Users (admins): who may do what, when each token was last used, adding a
//! user (the token shown once, with a copy button), changing a role, removing
//! a user, and the log of every change to the users.

use std::sync::Arc;

use evaluator::model::{ROLES, Role};
use leptos::prelude::*;
use stagegate_api::{Action, UserInfo, UserRequest, UserRoleRequest};

use crate::api;
use crate::components::{Asking, CollectAny, Comment, ErrorNote, Question, ShownOnce, short_time};
use crate::read;
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
    // Both kept as JSON and read where shown, as every admin page's lists are (see `read`).
    let users = Fetched::new(|| Box::pin(api::users()));
    let log = Fetched::new(|| Box::pin(api::user_log()));
    let task = Task::new();
    // (whose token, the token): held as every shown-once secret is.
    let created = RwSignal::new(None::<(String, String)>);
    let asking = RwSignal::new(None::<Question>);
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
            created.set(Some((
                format!(
                    "{}'s token, shown this once: give it to them over a private channel.",
                    answer.name
                ),
                answer.token,
            )));
            Ok(())
        }))
    };
    let act = move |ask: Ask| {
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
    };
    let ask = move |ask: Ask| {
        let (question, action) = match &ask {
            Ask::Remove(user) => (
                format!(
                    "Remove {user}? Their token stops working at once, and their sign-offs stop counting."
                ),
                format!("Remove {user}"),
            ),
            Ask::Role(user, role) => (
                format!("Make {user} {role}? Sign-offs they gave in their old role stop counting."),
                format!("Make {user} {role}"),
            ),
        };
        asking.set(Some(Question {
            question,
            action,
            comment: Comment::Without,
            danger: true,
            then: Arc::new(move |_comment| act(ask.clone())),
            // A role picked and then cancelled shows the role they have again.
            cancelled: Some(Arc::new(move || users.refetch())),
        }));
    };
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
        <ShownOnce shown=created copy="Copy token" testid="new-token"/>
        <Asking asking/>
        <p class="notice" role="status">{move || notice.get()}</p>
        <ErrorNote error/>
        {move || match users.read(read::users) {
            None => view! { <p class="loading" role="status">"Loading users…"</p> }.into_any(),
            Some(Err(error)) => view! { <ErrorNote error=Signal::stored(Some(error))/> }.into_any(),
            Some(Ok(list)) => view! {
                <div class="table-wrap">
                    <table class="users" data-testid="users">
                        <thead><tr>
                            <th scope="col">"Name"</th><th scope="col">"Role"</th><th scope="col">"Created"</th>
                            <th scope="col">"Token last used"</th><th scope="col"><span class="sr-only">"Actions"</span></th>
                        </tr></thead>
                        <tbody>{list.into_iter().map(|user| user_row(user, ask, role_options)).collect_any()}</tbody>
                    </table>
                </div>
                <p class="hint">"“Token last used” covers the time since the server started."</p>
            }.into_any(),
        }}
        <h2>"Changes to users"</h2>
        {move || log.read(read::user_log).map(|answer| match answer {
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
    ask: impl Fn(Ask) + Copy + 'static,
    role_options: impl Fn(&str) -> Vec<AnyView>,
) -> impl IntoView {
    let (for_role, for_remove) = (user.name.clone(), user.name.clone());
    view! {
        <tr data-user=user.name.clone()>
            <th scope="row">{user.name.clone()}</th>
            <td>
                <select aria-label=format!("Role of {}", user.name) on:change=move |event| {
                    if let Some(role) = Role::from_name(&event_target_value(&event)) {
                        ask(Ask::Role(for_role.clone(), role));
                    }
                }>{role_options(user.role.name())}</select>
            </td>
            <td data-label="Created">{short_time(&user.created)}</td>
            <td data-label="Token last used">{user.last_used.as_deref().map_or_else(|| "not yet".to_string(), short_time)}</td>
            <td>
                <button class="secondary small" on:click=move |_| ask(Ask::Remove(for_remove.clone()))>
                    "Remove…"
                </button>
            </td>
        </tr>
    }
}
