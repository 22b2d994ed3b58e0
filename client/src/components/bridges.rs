//! The bridges page: every bridge with its state and rates, and a form to
//! create or edit one, over the broker's `$CONTROL/kite/v1` API.

use leptos::prelude::*;

use super::control::{Choice, ControlProblem, FieldError, OutcomeLine, RowInput};
use super::fields::{Btn, CheckBox, Empty, TextInput};
use crate::state::control::bridges::{format_rate, BridgeForm, TopicForm, DIRECTIONS, PROTOCOLS};
use crate::state::control::Board;
use crate::store::Store;

/// The bridges (state, counts, rates; pause, resume, edit, delete) and
/// the bridge form. A bridge from the configuration file is listed and
/// may be paused, not edited or deleted.
///
/// Stable ids: `#page-bridges`; `#bridges` with `.bridge[data-bridge]`
/// (`.bridge-state` `connected`/`connecting`/`paused`, `.bridge-source`,
/// `.bridge-sent`, `.bridge-received`, `.bridge-sent-rate`,
/// `.bridge-received-rate`, `.bridge-queued`, `.bridge-dropped`,
/// `.bridge-edit`, `.bridge-pause`, `.bridge-delete`); `#bridges-status`;
/// the form `#br-name`, `#br-addresses`, `#br-protocol`, `#br-client-id`,
/// `#br-username`, `#br-password`, `#br-keepalive`, `#br-clean-start`,
/// `#br-tls`, `#br-ca-file`, `#br-cert-file`, `#br-key-file`,
/// `#br-insecure`, `#br-try-private`, `#br-max-queued`,
/// `#br-restart-timeout`, `#br-enabled`, per rule `i` `#br-pattern-i`,
/// `#br-direction-i`, `#br-qos-i`, `#br-local-i`, `#br-remote-i`;
/// `#br-add-topic`, `#br-save`, `#br-new`, `#br-status`.
#[component]
pub fn BridgesPage(store: Store) -> impl IntoView {
    store.control.watch(Board::Bridges);
    on_cleanup(move || store.control.unwatch(Board::Bridges));
    view! {
        <section id="page-bridges" class="page">
            <div class="page-head">
                <h2>"Bridges"</h2>
                <span class="hint">"Bridges to other brokers, run by this broker; managed over $CONTROL/kite/v1."</span>
            </div>
            <ControlProblem store/>
            <div class="two-col">
                <div class="col">
                    <BridgeList store/>
                </div>
                <div class="col">
                    <BridgeEditor store/>
                </div>
            </div>
        </section>
    }
}

#[component]
fn BridgeList(store: Store) -> impl IntoView {
    let rows = Memo::new(move |_| store.control.bridges.with(|b| b.rows.clone()));
    let control = store.control;
    view! {
        <div class="card">
            <div class="card-head">
                <h3>"Bridges"</h3>
                <OutcomeLine id="bridges-status" outcome=control.bridges_status/>
            </div>
            <Empty
                when=Signal::derive(move || rows.with(Vec::is_empty) && control.bridges.with(|b| b.at_ms > 0))
                text="No bridges. Create one with the form."
            />
            {move || control.bridges.with(|b| b.error.clone()).map(|e| view! { <p class="error">{e}</p> })}
            <ul id="bridges" class="plain-list">
                {move || {
                    rows.get()
                        .into_iter()
                        .map(|row| {
                            let name = row.name().to_owned();
                            let (pause_name, delete_name) = (name.clone(), name.clone());
                            let paused = !row.status.config.enabled;
                            let from_file = row.from_file();
                            let status = row.status.clone();
                            let state = row.state();
                            let addresses = row.status.config.addresses.join(", ");
                            view! {
                                <li class="bridge" data-bridge=name.clone()>
                                    <div class="bridge-main">
                                        <strong>{name.clone()}</strong>
                                        " "
                                        <span class=format!("pill bridge-state {state}")>{state}</span>
                                        " "
                                        <span class="pill bridge-source">{row.status.source.clone()}</span>
                                        <div class="hint">{format!("{} · {}", addresses, row.status.config.protocol)}</div>
                                        <div class="hint bridge-rules">{row.rules().join(" · ")}</div>
                                        <div class="bridge-figures">
                                            "sent " <span class="bridge-sent">{row.status.sent}</span>
                                            " (" <span class="bridge-sent-rate">{format_rate(row.sent_rate)}</span> ")"
                                            " · received " <span class="bridge-received">{row.status.received}</span>
                                            " (" <span class="bridge-received-rate">{format_rate(row.received_rate)}</span> ")"
                                            " · queued " <span class="bridge-queued">{row.status.queued}</span>
                                            " · dropped " <span class="bridge-dropped">{row.status.dropped}</span>
                                            " · reconnects " <span class="bridge-reconnects">{row.status.reconnects}</span>
                                        </div>
                                    </div>
                                    <div class="btn-group">
                                        <Btn
                                            label=if paused { "Resume" } else { "Pause" }
                                            class="bridge-pause"
                                            on_click=Callback::new(move |()| control.pause_bridge(&pause_name, !paused))
                                        />
                                        {(!from_file).then(|| view! {
                                            <Btn
                                                label="Edit"
                                                class="bridge-edit"
                                                on_click=Callback::new(move |()| {
                                                    control.bridge_outcome.set(None);
                                                    control.bridge_form.set(BridgeForm::from_status(&status));
                                                })
                                            />
                                            <Btn
                                                label="Delete"
                                                class="danger bridge-delete"
                                                on_click=Callback::new(move |()| control.delete_bridge(&delete_name))
                                            />
                                        })}
                                        {from_file.then(|| view! { <span class="hint">"from the configuration file"</span> })}
                                    </div>
                                </li>
                            }
                        })
                        .collect_view()
                }}
            </ul>
        </div>
    }
}

#[component]
fn BridgeEditor(store: Store) -> impl IntoView {
    let control = store.control;
    let form = control.bridge_form;
    let outcome = control.bridge_outcome;
    let (name, set_name) = crate::bind_text!(form.name);
    let (addresses, set_addresses) = crate::bind_text!(form.addresses);
    let (protocol, set_protocol) = crate::bind_text!(form.protocol);
    let (client_id, set_client_id) = crate::bind_text!(form.client_id);
    let (username, set_username) = crate::bind_text!(form.username);
    let (password, set_password) = crate::bind_text!(form.password);
    let (keepalive, set_keepalive) = crate::bind_text!(form.keepalive);
    let (ca_file, set_ca_file) = crate::bind_text!(form.ca_file);
    let (cert_file, set_cert_file) = crate::bind_text!(form.cert_file);
    let (key_file, set_key_file) = crate::bind_text!(form.key_file);
    let (max_queued, set_max_queued) = crate::bind_text!(form.max_queued_messages);
    let (restart, set_restart) = crate::bind_text!(form.restart_timeout);
    let (clean_start, set_clean_start) = crate::bind_flag!(form.clean_start);
    let (tls, set_tls) = crate::bind_flag!(form.tls);
    let (insecure, set_insecure) = crate::bind_flag!(form.insecure);
    let (try_private, set_try_private) = crate::bind_flag!(form.try_private);
    let (enabled, set_enabled) = crate::bind_flag!(form.enabled);
    let editing = Signal::derive(move || form.with(|f| f.editing.is_some()));
    let title = move || match form.with(|f| f.editing.clone()) {
        Some(name) => format!("Edit bridge {name}"),
        None => "New bridge".to_owned(),
    };
    let topic_count = Memo::new(move |_| form.with(|f| f.topics.len()));
    view! {
        <div class="card">
            <div class="card-head">
                <h3>{title}</h3>
            </div>
            <form class="form-grid" on:submit=move |ev| {
                ev.prevent_default();
                control.save_bridge();
            }>
                <label for="br-name">"Name"</label>
                <div>
                    <TextInput id="br-name" placeholder="cloud" value=name on_input=set_name disabled=editing/>
                    <FieldError outcome field="bridge.name"/>
                </div>
                <label for="br-addresses">"Addresses"</label>
                <div>
                    <TextInput id="br-addresses" placeholder="host:1883, backup:1883" value=addresses on_input=set_addresses/>
                    <FieldError outcome field="bridge.addresses"/>
                </div>
                <label for="br-protocol">"Protocol"</label>
                <div>
                    <Choice id="br-protocol".to_owned() options=PROTOCOLS.to_vec() value=protocol on_change=set_protocol/>
                    <FieldError outcome field="bridge.protocol"/>
                </div>
                <label>"Topics"</label>
                <div class="br-topics">
                    <FieldError outcome field="bridge.topic"/>
                    {move || (0..topic_count.get()).map(|i| view! { <TopicRow store index=i/> }).collect_view()}
                    <Btn
                        id="br-add-topic"
                        label="Add topic"
                        on_click=Callback::new(move |()| form.update(|f| f.topics.push(TopicForm::default())))
                    />
                </div>
                <label for="br-client-id">"Client id"</label>
                <div>
                    <TextInput id="br-client-id" placeholder="<host name>.<name>" value=client_id on_input=set_client_id/>
                    <FieldError outcome field="bridge.client_id"/>
                </div>
                <label for="br-username">"User name"</label>
                <div>
                    <TextInput id="br-username" value=username on_input=set_username/>
                    <FieldError outcome field="bridge.username"/>
                </div>
                <label for="br-password">"Password"</label>
                <div>
                    <TextInput
                        id="br-password"
                        kind="password"
                        placeholder="when editing, blank keeps it"
                        value=password
                        on_input=set_password
                    />
                    <FieldError outcome field="bridge.password"/>
                </div>
                <label for="br-keepalive">"Keepalive (s)"</label>
                <div>
                    <TextInput id="br-keepalive" class="narrow" mode="numeric" value=keepalive on_input=set_keepalive/>
                    <FieldError outcome field="bridge.keepalive"/>
                </div>
                <label for="br-clean-start">"Clean start"</label>
                <CheckBox id="br-clean-start" checked=clean_start on_change=set_clean_start/>
                <label for="br-tls">"TLS"</label>
                <div class="row">
                    <CheckBox id="br-tls" checked=tls on_change=set_tls/>
                    <label class="inline hint" for="br-insecure">"skip host name check"</label>
                    <CheckBox id="br-insecure" checked=insecure on_change=set_insecure/>
                    <FieldError outcome field="bridge.tls"/>
                </div>
                <label for="br-ca-file">"CA file"</label>
                <div>
                    <TextInput id="br-ca-file" placeholder="/etc/kite/ca.pem" value=ca_file on_input=set_ca_file/>
                    <FieldError outcome field="bridge.ca_file"/>
                </div>
                <label for="br-cert-file">"Certificate, key"</label>
                <div class="row">
                    <TextInput id="br-cert-file" label="Certificate file" value=cert_file on_input=set_cert_file/>
                    <TextInput id="br-key-file" label="Key file" value=key_file on_input=set_key_file/>
                    <FieldError outcome field="bridge.cert_file"/>
                    <FieldError outcome field="bridge.key_file"/>
                </div>
                <label for="br-try-private">"Mark as bridge"</label>
                <CheckBox id="br-try-private" checked=try_private on_change=set_try_private/>
                <label for="br-max-queued">"Max queued (QoS 0)"</label>
                <div>
                    <TextInput id="br-max-queued" class="narrow" mode="numeric" value=max_queued on_input=set_max_queued/>
                    <FieldError outcome field="bridge.max_queued_messages"/>
                </div>
                <label for="br-restart-timeout">"Retry after (s)"</label>
                <div>
                    <TextInput id="br-restart-timeout" class="narrow" mode="numeric" value=restart on_input=set_restart/>
                    <FieldError outcome field="bridge.restart_timeout"/>
                </div>
                <label for="br-enabled">"Enabled"</label>
                <CheckBox id="br-enabled" checked=enabled on_change=set_enabled/>
                <div class="actions span-2">
                    <button id="br-save" type="submit">"Save bridge"</button>
                    <Btn
                        id="br-new"
                        label="New"
                        on_click=Callback::new(move |()| {
                            form.set(BridgeForm::default());
                            outcome.set(None);
                        })
                    />
                    <OutcomeLine id="br-status" outcome/>
                </div>
            </form>
        </div>
    }
}

/// One topic rule of the form: pattern, direction, QoS, both prefixes.
#[component]
fn TopicRow(store: Store, index: usize) -> impl IntoView {
    let form = store.control.bridge_form;
    let outcome = store.control.bridge_outcome;
    let get = move |pick: fn(&TopicForm) -> String| {
        Signal::derive(move || form.with(|f| f.topics.get(index).map(pick).unwrap_or_default()))
    };
    let set = move |put: fn(&mut TopicForm, String)| {
        Callback::new(move |v: String| {
            form.update(|f| {
                if let Some(t) = f.topics.get_mut(index) {
                    put(t, v)
                }
            })
        })
    };
    let field = |name: &str| format!("bridge.topic[{index}].{name}");
    view! {
        <div class="br-topic row" data-index=index>
            <RowInput
                id=format!("br-pattern-{index}")
                class="br-pattern"
                label="Pattern"
                placeholder="sensors/#"
                value=get(|t| t.pattern.clone())
                on_input=set(|t, v| t.pattern = v)
            />
            <Choice
                id=format!("br-direction-{index}")
                label="Direction"
                options=DIRECTIONS.iter().map(|d| (*d, *d)).collect()
                value=get(|t| t.direction.clone())
                on_change=set(|t, v| t.direction = v)
            />
            <Choice
                id=format!("br-qos-{index}")
                label="QoS"
                options=vec![("0", "QoS 0"), ("1", "QoS 1"), ("2", "QoS 2")]
                value=get(|t| t.qos.clone())
                on_change=set(|t, v| t.qos = v)
            />
            <RowInput
                id=format!("br-local-{index}")
                label="Local prefix"
                placeholder="local prefix"
                value=get(|t| t.local_prefix.clone())
                on_input=set(|t, v| t.local_prefix = v)
            />
            <RowInput
                id=format!("br-remote-{index}")
                label="Remote prefix"
                placeholder="remote prefix"
                value=get(|t| t.remote_prefix.clone())
                on_input=set(|t, v| t.remote_prefix = v)
            />
            <Btn
                label="✕"
                class="br-remove-topic"
                title="Remove this topic"
                on_click=Callback::new(move |()| form.update(|f| {
                    if index < f.topics.len() {
                        f.topics.remove(index);
                    }
                }))
            />
            <FieldError outcome field=field("pattern")/>
            <FieldError outcome field=field("direction")/>
            <FieldError outcome field=field("qos")/>
            <FieldError outcome field=field("local_prefix")/>
            <FieldError outcome field=field("remote_prefix")/>
        </div>
    }
}
