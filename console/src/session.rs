//! Who is signed in: the token lives in sessionStorage (gone when the tab closes),
//! the name and role come from the server.

use leptos::prelude::*;

use stagegate_api::Me;

use crate::api::{self, ApiError};
use crate::task::Fetched;

const TOKEN_KEY: &str = "stagegate.token";

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok()?
}

pub fn stored_token() -> Option<String> {
    storage()?
        .get_item(TOKEN_KEY)
        .ok()?
        .filter(|token| !token.is_empty())
}

fn store_token(token: Option<&str>) {
    if let Some(storage) = storage() {
        // A browser that refuses storage still gets a working tab; it just forgets on reload.
        let _ = match token {
            Some(token) => storage.set_item(TOKEN_KEY, token),
            None => storage.remove_item(TOKEN_KEY),
        };
    }
}

/// The signed-in user, shared through context.
#[derive(Clone, Copy)]
pub struct Session {
    /// Reloaded on sign-in and sign-out.
    pub me: Fetched<Option<Result<Me, ApiError>>>,
}

impl Session {
    pub fn new() -> Self {
        let me = Fetched::new(|| {
            Box::pin(async move {
                match stored_token() {
                    Some(_) => Some(api::me().await),
                    None => None,
                }
            })
        });
        Session { me }
    }

    pub fn sign_in(&self, token: &str) {
        store_token(Some(token.trim()));
        self.me.refetch();
    }

    pub fn sign_out(&self) {
        store_token(None);
        self.me.refetch();
    }
}

pub fn use_session() -> Session {
    expect_context::<Session>()
}
