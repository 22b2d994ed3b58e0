//! Form inputs shared by every form. One component per kind of input, with
//! type-erased value and handler, so the many fields of the connection,
//! rule and publish forms share one copy of the input code in the bundle.

use leptos::prelude::*;

/// A text input bound to a value.
#[component]
pub fn TextInput(
    id: &'static str,
    #[prop(into)] value: Signal<String>,
    on_input: Callback<String>,
    /// `text` when empty; `password`, `number`, …
    #[prop(optional)]
    kind: &'static str,
    #[prop(optional, into)] placeholder: String,
    #[prop(optional)] class: &'static str,
    /// `decimal`, `numeric`, `url`, … for phone keyboards.
    #[prop(optional)]
    mode: &'static str,
    #[prop(optional, into)] disabled: Signal<bool>,
    #[prop(optional)] label: &'static str,
) -> impl IntoView {
    view! {
        <input
            id=id
            type=if kind.is_empty() { "text" } else { kind }
            class=class
            inputmode=(!mode.is_empty()).then_some(mode)
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

/// A multi-line text input bound to a value.
#[component]
pub fn TextArea(
    id: &'static str,
    #[prop(into)] value: Signal<String>,
    on_input: Callback<String>,
    rows: &'static str,
    #[prop(optional)] placeholder: &'static str,
) -> impl IntoView {
    view! {
        <textarea
            id=id
            rows=rows
            placeholder=placeholder
            spellcheck="false"
            prop:value=move || value.get()
            on:input=move |ev| on_input.run(event_target_value(&ev))
        ></textarea>
    }
}

/// A checkbox bound to a flag.
#[component]
pub fn CheckBox(
    id: &'static str,
    #[prop(into)] checked: Signal<bool>,
    on_change: Callback<bool>,
) -> impl IntoView {
    view! {
        <input
            id=id
            type="checkbox"
            class="check"
            prop:checked=move || checked.get()
            on:change=move |ev| on_change.run(event_target_checked(&ev))
        />
    }
}

/// `(value, handler)` for a `String` field of a struct in a signal.
#[macro_export]
macro_rules! bind_text {
    ($signal:ident . $field:ident) => {
        (
            leptos::prelude::Signal::derive(move || $signal.with(|d| d.$field.clone())),
            leptos::prelude::Callback::new(move |v: String| $signal.update(|d| d.$field = v)),
        )
    };
}

/// `(value, handler)` for a `bool` field of a struct in a signal.
#[macro_export]
macro_rules! bind_flag {
    ($signal:ident . $field:ident) => {
        (
            leptos::prelude::Signal::derive(move || $signal.with(|d| d.$field)),
            leptos::prelude::Callback::new(move |v: bool| $signal.update(|d| d.$field = v)),
        )
    };
}

/// A button (`type="button"`) with a fixed label.
#[component]
pub fn Btn(
    label: &'static str,
    on_click: Callback<()>,
    #[prop(optional)] id: &'static str,
    /// Added to `secondary small`, e.g. `danger`.
    #[prop(optional)]
    class: &'static str,
    #[prop(optional)] title: &'static str,
    #[prop(optional, into)] active: Signal<bool>,
    #[prop(optional)] disabled: bool,
    /// A primary (filled) button instead of a secondary one.
    #[prop(optional)]
    primary: bool,
) -> impl IntoView {
    let class = match (primary, class.is_empty()) {
        (true, _) => format!("small {class}"),
        (false, true) => "secondary small".to_owned(),
        (false, false) => format!("secondary small {class}"),
    };
    view! {
        <button
            type="button"
            id=(!id.is_empty()).then_some(id)
            class=class
            class:active=move || active.get()
            title=(!title.is_empty()).then_some(title)
            disabled=disabled
            on:click=move |_| on_click.run(())
        >
            {label}
        </button>
    }
}

/// A "nothing here" note, shown while `when` holds.
#[component]
pub fn Empty(
    #[prop(into)] when: Signal<bool>,
    text: &'static str,
    #[prop(optional)] card: bool,
) -> impl IntoView {
    let class = if card { "empty card" } else { "empty" };
    move || when.get().then(|| view! { <p class=class>{text}</p> })
}
