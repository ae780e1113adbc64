//! The question asked in the page before something drastic (advancing or
//! rolling back production, a kill switch, a revert): what will happen, a
//! comment that goes into the audit entry, and the two ways on. Not
//! `window.confirm`, which shows no detail, takes no comment, and which a
//! browser may stop showing.

use std::sync::Arc;

use leptos::html::Input;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

#[component]
pub fn ConfirmPanel(
    /// The question, naming what will change.
    question: String,
    /// The confirming button's text (the action, not "OK").
    action: String,
    /// Whether the action may go without a comment.
    #[prop(optional)]
    comment_optional: bool,
    /// For actions whose record has no comment (user changes): no comment field.
    #[prop(optional)]
    without_comment: bool,
    #[prop(optional)] danger: bool,
    /// Why the action may not go ahead as it stands (the gate's answer, say).
    #[prop(optional, into)]
    blocked: MaybeProp<String>,
    /// Whatever else the person must see first (a diff, say).
    #[prop(optional)]
    children: Option<Children>,
    on_confirm: Callback<String>,
    on_cancel: Callback<()>,
) -> impl IntoView {
    let comment = RwSignal::new(String::new());
    let missing = move || {
        !(comment_optional || without_comment) && comment.with(|text| text.trim().is_empty())
    };
    let refused = move || missing() || blocked.with(Option::is_some);
    let input = NodeRef::<Input>::new();
    // The control that asked: focus goes back to it when the question is answered.
    let opener = web_sys::window()
        .and_then(|window| window.document())
        .and_then(|document| document.active_element())
        .and_then(|element| element.dyn_into::<web_sys::HtmlElement>().ok());
    let back = move || {
        if let Some(opener) = &opener {
            let _ = opener.focus();
        }
    };
    let (back_on_submit, back_on_key, back_on_cancel) = (back.clone(), back.clone(), back);
    // The comment is what to type next.
    Effect::new(move |_| {
        if let Some(input) = input.get() {
            let _ = input.focus();
        }
    });
    let label = if comment_optional {
        "Comment (optional, recorded in the history)"
    } else {
        "Why? (required, recorded in the history)"
    };
    let title = question.clone();
    view! {
        <form
            class="confirm"
            role="dialog"
            aria-label=title
            data-testid="confirm"
            on:submit=move |event| {
                event.prevent_default();
                if !refused() {
                    back_on_submit();
                    on_confirm.run(comment.get_untracked().trim().to_string());
                }
            }
            on:keydown=move |event| {
                if event.key() == "Escape" {
                    back_on_key();
                    on_cancel.run(());
                }
            }
        >
            <p class="question">{question}</p>
            {children.map(|children| children())}
            <Show when=move || !without_comment>
                <label>
                    {label}
                    <input type="text" node_ref=input bind:value=comment data-testid="confirm-comment"/>
                </label>
            </Show>
            <div class="row">
                <button type="submit" class=if danger { "danger" } else { "" } disabled=refused data-testid="confirm-yes">
                    {action}
                </button>
                <button type="button" class="secondary" on:click=move |_| {
                    back_on_cancel();
                    on_cancel.run(());
                }>"Cancel"</button>
            </div>
            {move || blocked.get().map(|why| view! { <p class="blocked" data-testid="confirm-blocked">{why}</p> })}
            <Show when=missing>
                <p class="hint">"Say why before you confirm: the history keeps it."</p>
            </Show>
        </form>
    }
}

/// A question a page asks through [`Asking`]: what `ConfirmPanel` shows and what
/// to do with the comment once confirmed. The pages that ask simple questions
/// (Users, Health, Integrations) keep theirs in a signal of this one type, so
/// the reactive code and the panel's view are compiled once for all of them.
#[derive(Clone)]
pub struct Question {
    pub question: String,
    /// The confirming button's text.
    pub action: String,
    pub comment: Comment,
    pub danger: bool,
    /// Runs with the comment once confirmed (the question is closed first).
    pub then: Arc<dyn Fn(String) + Send + Sync>,
    /// Runs when the question is cancelled, after it is closed.
    pub cancelled: Option<Arc<dyn Fn() + Send + Sync>>,
}

/// What a question asks of the comment field.
#[derive(Clone, Copy, PartialEq)]
pub enum Comment {
    Required,
    Optional,
    /// The action's record keeps no comment (user changes, removals).
    Without,
}

/// The question `asking` holds, if any.
#[component]
pub fn Asking(asking: RwSignal<Option<Question>>) -> impl IntoView {
    move || {
        asking.get().map(|asked| {
            let Question {
                question,
                action,
                comment,
                danger,
                then,
                cancelled,
            } = asked;
            let on_confirm = Callback::new(move |comment: String| {
                asking.set(None);
                then(comment);
            });
            let on_cancel = Callback::new(move |()| {
                asking.set(None);
                if let Some(cancelled) = &cancelled {
                    cancelled();
                }
            });
            view! {
                <ConfirmPanel question action danger
                    comment_optional=comment == Comment::Optional
                    without_comment=comment == Comment::Without
                    on_confirm on_cancel/>
            }
        })
    }
}
