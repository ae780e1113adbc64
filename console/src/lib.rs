//! stagegate's console: a client-side Leptos app that runs a staged rollout
//! against `stagegate serve`, with the evaluator crate compiled in so previews and
//! validation are the server's own rules.

use leptos::prelude::*;
use wasm_bindgen::prelude::wasm_bindgen;

mod api;
mod components;
pub mod gate;
mod live;
mod nav;
mod pages;
mod read;
mod session;
mod store;
mod task;

use api::ApiError;
use nav::Link;
use session::{Session, use_session};
use stagegate_api::Me;
use store::PlanStore;

#[wasm_bindgen(start)]
pub fn main() {
    leptos::mount::mount_to_body(App);
}

/// Where the sign-in stands.
#[derive(Clone, PartialEq)]
enum Auth {
    Checking,
    SignedOut,
    Refused(ApiError),
    SignedIn(Me),
}

#[component]
fn App() -> impl IntoView {
    let session = Session::new();
    provide_context(session);
    let auth = Memo::new(move |_| match session.me.get() {
        None => Auth::Checking,
        Some(None) => Auth::SignedOut,
        Some(Some(Err(error))) => Auth::Refused(error),
        Some(Some(Ok(me))) => Auth::SignedIn(me),
    });
    nav::provide_path();
    view! {
        <a class="skip" href="#main">"Skip to content"</a>
        {move || match auth.get() {
            Auth::Checking => view! { <p class="loading" role="status">"Checking your token…"</p> }.into_any(),
            Auth::SignedOut => view! { <pages::SignIn/> }.into_any(),
            Auth::Refused(error) => view! { <pages::SignIn refused=error/> }.into_any(),
            Auth::SignedIn(me) => view! { <Console me/> }.into_any(),
        }}
    }
}

/// The signed-in console: navigation and the pages.
#[component]
fn Console(me: Me) -> impl IntoView {
    let store = PlanStore::new();
    provide_context(store);
    provide_context(live::Live::start(store, &me.name));
    provide_context(me.clone());
    let session = use_session();
    let path = expect_context::<nav::Path>();
    // After sign-in and after each navigation, focus goes to the page's heading,
    // so keyboard and screen-reader users start where the page does.
    Effect::new(move |_| {
        path.get();
        request_animation_frame(|| {
            components::focus_heading("main h1");
        });
    });
    view! {
        <header class="top">
            <span class="brand">"stagegate"</span>
            <nav aria-label="Main">
                <Link href="/">"Overview"</Link>
                <Link href="/health">"Health"</Link>
                <Link href="/stages">"Stages"</Link>
                <Link href="/signoffs">"Sign-offs"</Link>
                <Link href="/checklist">"Checklist"</Link>
                <Link href="/history">"History"</Link>
                <Link href="/preview">"Preview"</Link>
                {me.may(stagegate_api::Action::ManageUsers).then(|| view! { <Link href="/users">"Users"</Link> })}
                {(me.may(stagegate_api::Action::ManageIngestKeys) || me.may(stagegate_api::Action::ManageSdkKeys) || me.may(stagegate_api::Action::ManageWebhooks))
                    .then(|| view! { <Link href="/integrations">"Integrations"</Link> })}
            </nav>
            <span class="who" data-testid="who">
                {me.name.clone()} " · " <span class="role">{me.role.name()}</span>
            </span>
            <button class="secondary" on:click=move |_| session.sign_out()>"Sign out"</button>
        </header>
        <nav::LeaveGuard/>
        <components::LiveBanner/>
        <main id="main" tabindex="-1">
            {move || match path.get().trim_end_matches('/') {
                "" => pages::Overview().into_any(),
                "/stages" => pages::Editor().into_any(),
                "/signoffs" => pages::Signoffs().into_any(),
                "/checklist" => pages::Checklist().into_any(),
                "/history" => pages::History().into_any(),
                "/preview" => pages::Preview().into_any(),
                "/users" => pages::Users().into_any(),
                "/health" => pages::Health().into_any(),
                "/integrations" => pages::Integrations().into_any(),
                _ => view! { <h1>"Not found"</h1> <p>"There is no such page."</p> }.into_any(),
            }}
        </main>
    }
}

/// The signed-in user (inside `Console`).
pub(crate) fn use_me() -> Me {
    expect_context::<Me>()
}
