use leptos::prelude::*;

use super::fields::{Btn, CheckBox, TextArea, TextInput};
use crate::state::publish::{PublishDraft, SubState};
use crate::store::{PublishStatus, Store};

/// Publish a message: topic, payload, QoS, retain and MQTT 5 properties.
///
/// Stable ids: `#pub-topic`, `#pub-payload`, `#pub-qos`, `#pub-retain`,
/// `#pub-send`, `#pub-status`; under `#pub-props`: `#pub-content-type`,
/// `#pub-response-topic`, `#pub-correlation`, `#pub-expiry`,
/// `#pub-user-props`, `#pub-utf8`.
#[component]
pub fn PublishForm(store: Store) -> impl IntoView {
    let draft = RwSignal::new(PublishDraft::default());
    let form_error = RwSignal::new(None::<String>);
    let send = move || match draft.get_untracked().build() {
        Ok(out) => {
            form_error.set(None);
            let _ = store.connection.publish(out);
        }
        Err(e) => form_error.set(Some(e)),
    };
    let (topic, set_topic) = crate::bind_text!(draft.topic);
    let (payload, set_payload) = crate::bind_text!(draft.payload);
    let (content_type, set_content_type) = crate::bind_text!(draft.content_type);
    let (response_topic, set_response_topic) = crate::bind_text!(draft.response_topic);
    let (correlation, set_correlation) = crate::bind_text!(draft.correlation_data);
    let (expiry, set_expiry) = crate::bind_text!(draft.message_expiry);
    let (user_props, set_user_props) = crate::bind_text!(draft.user_properties);
    let (retain, set_retain) = crate::bind_flag!(draft.retain);
    let (utf8, set_utf8) = crate::bind_flag!(draft.utf8);
    let status = move || {
        if let Some(e) = form_error.get() {
            return (true, e);
        }
        match store.connection.publish_status.get() {
            None => (false, "QoS 0, not retained".to_owned()),
            Some(PublishStatus::Sent(t)) => (false, t),
            Some(PublishStatus::Waiting(_, t)) => (false, format!("{t}, awaiting acknowledgement")),
            Some(PublishStatus::Acknowledged(t)) => (false, format!("{t}, acknowledged")),
            Some(PublishStatus::Failed(t)) => (true, t),
        }
    };
    let v5 = move || {
        store
            .connection
            .profiles
            .with(|p| p.current().protocol == "5")
    };
    view! {
        <section class="card publish" aria-labelledby="publish-title">
            <h2 id="publish-title">"Publish"</h2>
            <form on:submit=move |ev| {
                ev.prevent_default();
                send();
            }>
                <label for="pub-topic">"Topic"</label>
                <TextInput id="pub-topic" placeholder="devices/1/command" value=topic on_input=set_topic/>
                <label for="pub-payload">"Payload"</label>
                <TextArea id="pub-payload" rows="3" placeholder="hello" value=payload on_input=set_payload/>
                <div class="row">
                    <label for="pub-qos">"QoS"</label>
                    <select id="pub-qos" on:change=move |ev| draft.update(|d| d.qos = event_target_value(&ev).parse().unwrap_or(0))>
                        <option value="0">"0"</option>
                        <option value="1">"1"</option>
                        <option value="2">"2"</option>
                    </select>
                    <label class="inline">
                        <CheckBox id="pub-retain" checked=retain on_change=set_retain/>
                        " retain"
                    </label>
                </div>
                <details id="pub-props">
                    <summary>
                        "MQTT 5 properties"
                        <span class="hint">{move || (!v5()).then_some(" (ignored: this profile speaks 3.1.1)")}</span>
                    </summary>
                    <label for="pub-content-type">"Content type"</label>
                    <TextInput id="pub-content-type" placeholder="application/json" value=content_type on_input=set_content_type/>
                    <label for="pub-response-topic">"Response topic"</label>
                    <TextInput id="pub-response-topic" value=response_topic on_input=set_response_topic/>
                    <label for="pub-correlation">"Correlation data"</label>
                    <TextInput id="pub-correlation" value=correlation on_input=set_correlation/>
                    <label for="pub-expiry">"Message expiry (s)"</label>
                    <TextInput id="pub-expiry" mode="numeric" value=expiry on_input=set_expiry/>
                    <label for="pub-user-props">"User properties (name=value per line)"</label>
                    <TextArea id="pub-user-props" rows="2" value=user_props on_input=set_user_props/>
                    <label class="inline">
                        <CheckBox id="pub-utf8" checked=utf8 on_change=set_utf8/>
                        " payload is UTF-8"
                    </label>
                </details>
                <div class="actions">
                    <button id="pub-send" type="submit">"Send"</button>
                    <span id="pub-status" class=move || if status().0 { "status error" } else { "status" } role="status">
                        {move || status().1}
                    </span>
                </div>
            </form>
        </section>
    }
}

/// The subscriptions: add with wildcards and a QoS, remove, see the grant.
///
/// Stable ids: `#sub-filter`, `#sub-qos`, `#sub-nolocal`, `#sub-add`,
/// `#sub-error`, `#subs` with `.sub[data-filter]` (`.sub-state`,
/// `.sub-remove`).
#[component]
pub fn Subscriptions(store: Store) -> impl IntoView {
    let filter = RwSignal::new(String::new());
    let qos = RwSignal::new(0u8);
    let no_local = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let add = move || {
        error.set(
            store
                .connection
                .subscribe(
                    &filter.get_untracked(),
                    qos.get_untracked(),
                    no_local.get_untracked(),
                )
                .err(),
        );
    };
    view! {
        <section class="card subs">
            <h2>"Subscriptions"</h2>
            <form class="row" on:submit=move |ev| {
                ev.prevent_default();
                add();
            }>
                <input id="sub-filter" type="text" spellcheck="false" placeholder="sensors/+/temperature or a/#" aria-label="Topic filter" bind:value=filter/>
                <select id="sub-qos" aria-label="QoS" on:change=move |ev| qos.set(event_target_value(&ev).parse().unwrap_or(0))>
                    <option value="0">"QoS 0"</option>
                    <option value="1">"QoS 1"</option>
                    <option value="2">"QoS 2"</option>
                </select>
                <label class="inline" title="MQTT 5: do not receive this page's own publishes">
                    <input id="sub-nolocal" type="checkbox" class="check" bind:checked=no_local/>
                    " no local"
                </label>
                <button id="sub-add" type="submit">"Subscribe"</button>
            </form>
            <p id="sub-error" class="status error">{move || error.get()}</p>
            <ul id="subs" class="plain-list">
                {move || {
                    store.connection.subscriptions.get().list.into_iter().map(|s| {
                        let filter = s.filter.clone();
                        let (state, class) = match &s.state {
                            SubState::Pending => ("pending".to_owned(), "pill"),
                            SubState::Granted(q) => (format!("granted QoS {q}"), "pill ok"),
                            SubState::Refused(why) => (format!("refused: {why}"), "pill bad"),
                        };
                        view! {
                            <li class="sub" data-filter=s.filter.clone()>
                                <code>{s.filter.clone()}</code>
                                <span class="hint">{format!("QoS {}", s.qos)} {s.no_local.then_some(", no local")}</span>
                                <span class=format!("sub-state {class}")>{state}</span>
                                <Btn
                                    label="Remove"
                                    class="sub-remove"
                                    title=if s.builtin { "The pages need this subscription" } else { "Unsubscribe" }
                                    on_click=Callback::new(move |()| store.connection.unsubscribe(&filter))
                                />
                            </li>
                        }
                    })
                    .collect_view()
                }}
            </ul>
        </section>
    }
}
