//! Pieces the administration pages share: the notice when the broker
//! refuses the API, a form field's error, a form's or a page's status line,
//! and text inputs whose id is made at run time (rows of a list).
//!
//! Stable ids and classes: `#control-problem`; `.field-error[data-field]`
//! (the field as the API names it: `bridge.topic[0].pattern`, `username`).

use leptos::prelude::*;

use crate::state::control::Outcome;
use crate::store::Store;

/// Why the API cannot be used from this connection, with what to do; or,
/// while disconnected, that the page needs the broker.
#[component]
pub fn ControlProblem(store: Store) -> impl IntoView {
    move || {
        let connected = store.connection.conn_state.get() == crate::state::ConnState::Connected;
        let problem = store.control.problem.get();
        let text = match (connected, problem) {
            (false, _) => Some(
                "Not connected: this page speaks the broker's $CONTROL API over the dashboard's \
                 own connection."
                    .to_owned(),
            ),
            (true, problem) => problem,
        };
        text.map(|text| {
            view! {
                <div id="control-problem" class="card notice error" role="alert">
                    <p>{text}</p>
                    <a href="#/connection">"Connection settings"</a>
                </div>
            }
        })
    }
}

/// The error the last save found with `field`, next to it.
#[component]
pub fn FieldError(
    outcome: RwSignal<Option<Outcome>>,
    #[prop(into)] field: String,
) -> impl IntoView {
    let name = field.clone();
    move || {
        outcome
            .with(|o| o.as_ref().and_then(|o| o.for_field(&name)))
            .map(|error| {
                view! {
                    <span class="field-error error" data-field=field.clone() role="alert">{error}</span>
                }
            })
    }
}

/// A status line for `outcome`: green when it went well.
#[component]
pub fn OutcomeLine(id: &'static str, outcome: RwSignal<Option<Outcome>>) -> impl IntoView {
    view! {
        <span
            id=id
            role="status"
            class=move || match outcome.with(|o| o.as_ref().map(|o| o.ok)) {
                Some(false) => "status error",
                Some(true) => "status ok",
                None => "status",
            }
        >
            {move || outcome.with(|o| o.as_ref().map(Outcome::summary).unwrap_or_default())}
        </span>
    }
}

/// A text input with an id made at run time.
#[component]
pub fn RowInput(
    id: String,
    #[prop(into)] value: Signal<String>,
    on_input: Callback<String>,
    #[prop(optional)] placeholder: &'static str,
    #[prop(optional)] class: &'static str,
    #[prop(optional)] label: &'static str,
    #[prop(optional, into)] disabled: Signal<bool>,
) -> impl IntoView {
    view! {
        <input
            id=id
            type="text"
            class=class
            placeholder=placeholder
            aria-label=(!label.is_empty()).then_some(label)
            spellcheck="false"
            autocomplete="off"
            disabled=move || disabled.get()
            prop:value=move || value.get()
            on:input=move |ev| on_input.run(event_target_value(&ev))
        />
    }
}

/// A `<select>` of `options` (value, label) bound to a value.
#[component]
pub fn Choice(
    id: String,
    options: Vec<(&'static str, &'static str)>,
    #[prop(into)] value: Signal<String>,
    on_change: Callback<String>,
    #[prop(optional)] label: &'static str,
    #[prop(optional, into)] disabled: Signal<bool>,
) -> impl IntoView {
    view! {
        <select
            id=id
            aria-label=(!label.is_empty()).then_some(label)
            disabled=move || disabled.get()
            prop:value=move || value.get()
            on:change=move |ev| on_change.run(event_target_value(&ev))
        >
            {options
                .into_iter()
                .map(|(v, text)| view! { <option value=v prop:selected=move || value.get() == v>{text}</option> })
                .collect_view()}
        </select>
    }
}
