use leptos::prelude::*;

use super::fields::{Btn, CheckBox, TextInput};
use crate::state::profile::Profile;
use crate::store::Store;

/// Connection profiles: broker URL, client id, credentials, protocol
/// version, keepalive, session and will; several saved in localStorage.
///
/// Stable ids: `#cp-profiles`, `#cp-name`, `#cp-url`, `#cp-client-id`,
/// `#cp-username`, `#cp-password`, `#cp-protocol`, `#cp-keepalive`,
/// `#cp-clean`, `#cp-expiry`, `#cp-will-topic`, `#cp-will-payload`,
/// `#cp-will-qos`, `#cp-will-retain`, `#cp-save`, `#cp-connect`,
/// `#cp-disconnect`, `#cp-delete`, `#cp-status`, `#cp-session`.
#[component]
pub fn ConnectionPage(store: Store) -> impl IntoView {
    let draft = RwSignal::new(store.connection.profiles.with_untracked(|p| p.current()));
    let status = RwSignal::new(None::<Result<String, String>>);
    let names = move || {
        store
            .connection
            .profiles
            .with(|p| p.list.iter().map(|p| p.name.clone()).collect::<Vec<_>>())
    };
    let save = move |connect: bool| {
        let result = store
            .save_profile(draft.get_untracked(), connect)
            .map(|()| {
                if connect {
                    "saved; connecting"
                } else {
                    "saved"
                }
                .to_owned()
            });
        status.set(Some(result));
    };
    let (name, set_name) = crate::bind_text!(draft.name);
    let (url, set_url) = crate::bind_text!(draft.url);
    let (client_id, set_client_id) = crate::bind_text!(draft.client_id);
    let (username, set_username) = crate::bind_text!(draft.username);
    let (password, set_password) = crate::bind_text!(draft.password);
    let (will_topic, set_will_topic) = crate::bind_text!(draft.will_topic);
    let (will_payload, set_will_payload) = crate::bind_text!(draft.will_payload);
    let (clean, set_clean) = crate::bind_flag!(draft.clean_start);
    let (will_retain, set_will_retain) = crate::bind_flag!(draft.will_retain);
    let keep_alive = Signal::derive(move || draft.with(|d| d.keep_alive.to_string()));
    let set_keep_alive = Callback::new(move |v: String| {
        if let Ok(v) = v.trim().parse() {
            draft.update(|d| d.keep_alive = v);
        }
    });
    let expiry = Signal::derive(move || draft.with(|d| d.session_expiry.to_string()));
    let set_expiry = Callback::new(move |v: String| {
        if let Ok(v) = v.trim().parse() {
            draft.update(|d| d.session_expiry = v);
        }
    });
    let session = move || {
        store.connection.session.get().map(|s| {
            format!(
                "connected as {}{}",
                s.client_id,
                if s.session_present {
                    ", session resumed"
                } else {
                    ", new session"
                }
            )
        })
    };
    view! {
        <section id="page-connection" class="page">
            <div class="page-head">
                <h2>"Connection"</h2>
                <span id="cp-session" class="hint">
                    {move || session().unwrap_or_else(|| store.connection.conn_state.get().as_str().to_owned())}
                </span>
            </div>
            <div class="card narrow-card">
                <div class="card-head wrap">
                    <label for="cp-profiles">"Profile"</label>
                    <select
                        id="cp-profiles"
                        on:change=move |ev| {
                            let name = event_target_value(&ev);
                            store.connection.select_profile(&name);
                            draft.set(store.connection.profiles.with_untracked(|p| p.current()));
                            status.set(None);
                        }
                    >
                        {move || {
                            let selected = store.connection.profiles.with(|p| p.selected.clone());
                            names()
                                .into_iter()
                                .map(|n| view! { <option value=n.clone() selected=n == selected>{n.clone()}</option> })
                                .collect_view()
                        }}
                    </select>
                    <Btn
                        label="New profile"
                        on_click=Callback::new(move |()| {
                            draft.set(Profile {
                                name: format!("profile {}", names().len() + 1),
                                ..Profile::for_url(&store.connection.broker_url.get_untracked())
                            });
                            status.set(None);
                        })
                    />
                </div>
                <form class="form-grid" on:submit=move |ev| {
                    ev.prevent_default();
                    save(true);
                }>
                    <label for="cp-name">"Name"</label>
                    <TextInput id="cp-name" value=name on_input=set_name/>
                    <label for="cp-url">"Broker URL"</label>
                    <TextInput id="cp-url" mode="url" placeholder="ws://host:8080/mqtt" value=url on_input=set_url/>
                    <label for="cp-client-id">"Client id"</label>
                    <TextInput
                        id="cp-client-id"
                        placeholder=format!("random: {}", store.connection.client_id.get_value())
                        value=client_id
                        on_input=set_client_id
                    />
                    <label for="cp-username">"Username"</label>
                    <TextInput id="cp-username" value=username on_input=set_username/>
                    <label for="cp-password">"Password"</label>
                    <TextInput id="cp-password" kind="password" value=password on_input=set_password/>
                    <label for="cp-protocol">"Protocol"</label>
                    <select id="cp-protocol" on:change=move |ev| draft.update(|d| d.protocol = event_target_value(&ev))>
                        <option value="5" prop:selected=move || draft.with(|d| d.protocol != "3.1.1")>"MQTT 5.0"</option>
                        <option value="3.1.1" prop:selected=move || draft.with(|d| d.protocol == "3.1.1")>"MQTT 3.1.1"</option>
                    </select>
                    <label for="cp-keepalive">"Keepalive (s)"</label>
                    <TextInput id="cp-keepalive" class="narrow" mode="numeric" value=keep_alive on_input=set_keep_alive/>
                    <label for="cp-clean">"Clean start"</label>
                    <CheckBox id="cp-clean" checked=clean on_change=set_clean/>
                    <label for="cp-expiry">"Session expiry (s, v5)"</label>
                    <TextInput id="cp-expiry" class="narrow" mode="numeric" value=expiry on_input=set_expiry/>
                    <fieldset class="span-2">
                        <legend>"Last will"</legend>
                        <div class="form-grid">
                            <label for="cp-will-topic">"Topic"</label>
                            <TextInput id="cp-will-topic" placeholder="none" value=will_topic on_input=set_will_topic/>
                            <label for="cp-will-payload">"Payload"</label>
                            <TextInput id="cp-will-payload" value=will_payload on_input=set_will_payload/>
                            <label for="cp-will-qos">"QoS"</label>
                            <div class="row">
                                <select id="cp-will-qos" on:change=move |ev| draft.update(|d| d.will_qos = event_target_value(&ev).parse().unwrap_or(0))>
                                    {[0u8, 1, 2]
                                        .into_iter()
                                        .map(|q| view! {
                                            <option value=q.to_string() prop:selected=move || draft.with(|d| d.will_qos == q)>{q.to_string()}</option>
                                        })
                                        .collect_view()}
                                </select>
                                <label class="inline">
                                    <CheckBox id="cp-will-retain" checked=will_retain on_change=set_will_retain/>
                                    " retain"
                                </label>
                            </div>
                        </div>
                    </fieldset>
                    <div class="actions span-2">
                        <button id="cp-connect" type="submit">"Save and connect"</button>
                        <Btn id="cp-save" label="Save" on_click=Callback::new(move |()| save(false))/>
                        <Btn id="cp-disconnect" label="Disconnect" on_click=Callback::new(move |()| store.connection.disconnect())/>
                        <Btn
                            id="cp-delete"
                            label="Delete"
                            class="danger"
                            on_click=Callback::new(move |()| {
                                let name = draft.with_untracked(|d| d.name.clone());
                                let result = store.connection.delete_profile(&name).map(|()| format!("deleted {name}"));
                                draft.set(store.connection.profiles.with_untracked(|p| p.current()));
                                status.set(Some(result));
                            })
                        />
                    </div>
                    <p
                        id="cp-status"
                        class=move || match status.get() {
                            Some(Err(_)) => "status error span-2",
                            _ => "status span-2",
                        }
                        role="status"
                    >
                        {move || match status.get() {
                            Some(Ok(t) | Err(t)) => t,
                            None => String::new(),
                        }}
                    </p>
                </form>
            </div>
        </section>
    }
}
