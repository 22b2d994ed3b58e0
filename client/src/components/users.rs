//! The users page: the live sessions (who is connected under which user,
//! with their counts), the live users and their form, the roles and the
//! default access (in `components/roles.rs`), over the broker's
//! `$CONTROL/kite/v1` API.

use leptos::prelude::*;
use serde_json::json;

use super::control::{ControlProblem, FieldError, OutcomeLine};
use super::fields::{Btn, CheckBox, Empty, TextInput};
use super::roles::{DefaultAccessCard, RoleEditor, RoleList};
use crate::platform;
use crate::state::control::users::{format_roles, UserForm};
use crate::state::control::Board;
use crate::state::format::{ago, format_date_time};
use crate::store::Store;

/// Sessions, users, roles and the default access.
///
/// Stable ids: `#page-users`; `#users-status`; `#sessions-connected`,
/// `#sessions-parked`, `#sessions-by-user` with `.by-user[data-user]`
/// (`""` for anonymous); `#sessions` with `.session[data-client]`
/// (`.s-user`, `.s-state`, `.s-address`, `.s-protocol`, `.s-transport`,
/// `.s-subs`, `.s-inflight`, `.s-queued`, `.s-dropped`,
/// `.session-disconnect`, `.session-delete`); `#users` with
/// `.user[data-user]` (`.user-roles`, `.user-connected`, `.user-edit`,
/// `.user-toggle`, `.user-delete`); the user form `#u-username`,
/// `#u-password`, `#u-clientid`, `#u-textname`, `#u-roles`,
/// `#u-disabled`, `#u-save`, `#u-new`, `#u-status`; the roles and default
/// access: see `components/roles.rs`.
#[component]
pub fn UsersPage(store: Store) -> impl IntoView {
    store.control.watch(Board::Users);
    on_cleanup(move || store.control.unwatch(Board::Users));
    view! {
        <section id="page-users" class="page">
            <div class="page-head">
                <h2>"Users and roles"</h2>
                <span class="hint">"Clients connected now, live users and roles; managed over $CONTROL/kite/v1."</span>
                <OutcomeLine id="users-status" outcome=store.control.users_status/>
            </div>
            <ControlProblem store/>
            <Sessions store/>
            <div class="two-col">
                <div class="col">
                    <UserList store/>
                    <RoleList store/>
                </div>
                <div class="col">
                    <UserEditor store/>
                    <RoleEditor store/>
                    <DefaultAccessCard store/>
                </div>
            </div>
        </section>
    }
}

#[component]
fn Sessions(store: Store) -> impl IntoView {
    let control = store.control;
    let sessions = Memo::new(move |_| control.admin.with(|a| a.sessions.clone()));
    let by_user = Memo::new(move |_| control.admin.with(|a| a.by_user()));
    view! {
        <div class="card">
            <div class="card-head">
                <h3>"Clients"</h3>
                <span class="hint">
                    <span id="sessions-connected">{move || control.admin.with(|a| a.connected())}</span>
                    " connected · "
                    <span id="sessions-parked">{move || control.admin.with(|a| a.parked())}</span>
                    " sessions kept for clients away"
                </span>
            </div>
            <ul id="sessions-by-user" class="plain-list by-users">
                {move || by_user.get().into_iter().map(|(user, ids)| {
                    let label = user.clone().unwrap_or_else(|| "(anonymous)".to_owned());
                    view! {
                        <li class="by-user" data-user=user.unwrap_or_default()>
                            <strong>{label}</strong>
                            {format!(": {} connected · {}", ids.len(), ids.join(", "))}
                        </li>
                    }
                }).collect_view()}
            </ul>
            <Empty
                when=Signal::derive(move || sessions.with(Vec::is_empty))
                text="Not listed yet: the list comes from the broker's listSessions."
            />
            <div class="table-scroll">
                <table id="sessions">
                    <thead>
                        <tr>
                            <th>"Client id"</th><th>"User"</th><th>"State"</th><th>"Address"</th>
                            <th>"Protocol"</th><th>"Since"</th><th>"Subs"</th><th>"In flight"</th>
                            <th>"Queued"</th><th>"Dropped"</th><th></th>
                        </tr>
                    </thead>
                    <tbody>
                        {move || sessions.get().into_iter().map(|s| {
                            let id = s.clientid.clone();
                            let since = s.connected_since;
                            let action = if s.connected {
                                let what = format!("disconnect {id}");
                                let id = id.clone();
                                view! {
                                    <Btn label="Disconnect" class="session-disconnect" on_click=Callback::new(move |()| {
                                        control.user_action(what.clone(), "disconnectClient", json!({"clientid": id}));
                                    })/>
                                }
                            } else {
                                let what = format!("delete the session of {id}");
                                let id = id.clone();
                                view! {
                                    <Btn label="Delete" class="danger session-delete" on_click=Callback::new(move |()| {
                                        control.user_action(what.clone(), "deleteSession", json!({"clientid": id}));
                                    })/>
                                }
                            };
                            view! {
                                <tr class="session" class:parked=!s.connected data-client=s.clientid.clone()>
                                    <td class="s-id">{s.clientid.clone()}</td>
                                    <td class="s-user">{s.username.clone().unwrap_or_default()}</td>
                                    <td class="s-state">{if s.connected { "connected" } else { "away" }}</td>
                                    <td class="s-address">{s.address.clone().unwrap_or_default()}</td>
                                    <td class="s-protocol">
                                        {format!("{} {}", s.protocol.clone().unwrap_or_default(), s.transport.clone().unwrap_or_default())}
                                    </td>
                                    <td class="s-since">
                                        {since.map(|at| view! {
                                            <time title=format_date_time(at, platform::utc_offset_minutes())>
                                                {move || ago(at, store.data.now.get())}
                                            </time>
                                        })}
                                    </td>
                                    <td class="s-subs num">{s.subscriptions}</td>
                                    <td class="s-inflight num">{s.inflight}</td>
                                    <td class="s-queued num">{format!("{} ({} B)", s.queued_messages, s.queued_bytes)}</td>
                                    <td class="s-dropped num">{s.dropped}</td>
                                    <td>{action}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </div>
    }
}

#[component]
fn UserList(store: Store) -> impl IntoView {
    let control = store.control;
    let users = Memo::new(move |_| control.admin.with(|a| a.users.clone()));
    view! {
        <div class="card">
            <h3>"Users"</h3>
            <Empty
                when=Signal::derive(move || users.with(Vec::is_empty) && control.admin.with(|a| a.defaults.is_some()))
                text="No live users (users of the password file are not listed here)."
            />
            <ul id="users" class="plain-list">
                {move || users.get().into_iter().map(|user| {
                    let name = user.username.clone();
                    let connected = {
                        let name = name.clone();
                        move || control.admin.with(|a| a.connections_of(&name))
                    };
                    let disabled = user.disabled;
                    let (toggle_name, delete_name) = (name.clone(), name.clone());
                    let edit = user.clone();
                    view! {
                        <li class="user" class:disabled=disabled data-user=name.clone()>
                            <div class="user-main">
                                <strong>{name.clone()}</strong>
                                {disabled.then(|| view! { " " <span class="pill">"disabled"</span> })}
                                <div class="hint">
                                    "roles: " <span class="user-roles">{format_roles(&user.roles)}</span>
                                    " · connected: " <span class="user-connected">{connected}</span>
                                    {user.clientid.clone().map(|c| format!(" · client id {c} only"))}
                                </div>
                            </div>
                            <div class="btn-group">
                                <Btn label="Edit" class="user-edit" on_click=Callback::new(move |()| {
                                    control.user_outcome.set(None);
                                    control.user_form.set(UserForm::from_user(&edit));
                                })/>
                                <Btn
                                    label=if disabled { "Enable" } else { "Disable" }
                                    class="user-toggle"
                                    on_click=Callback::new(move |()| {
                                        let (verb, what) = if disabled { ("enableClient", "enable") } else { ("disableClient", "disable") };
                                        control.user_action(format!("{what} {toggle_name}"), verb, json!({"username": toggle_name}));
                                    })
                                />
                                <Btn label="Delete" class="danger user-delete" on_click=Callback::new(move |()| {
                                    control.user_action(format!("delete {delete_name}"), "deleteClient", json!({"username": delete_name}));
                                })/>
                            </div>
                        </li>
                    }
                }).collect_view()}
            </ul>
        </div>
    }
}

#[component]
fn UserEditor(store: Store) -> impl IntoView {
    let control = store.control;
    let form = control.user_form;
    let outcome = control.user_outcome;
    let (username, set_username) = crate::bind_text!(form.username);
    let (password, set_password) = crate::bind_text!(form.password);
    let (clientid, set_clientid) = crate::bind_text!(form.clientid);
    let (textname, set_textname) = crate::bind_text!(form.textname);
    let (roles, set_roles) = crate::bind_text!(form.roles);
    let (disabled, set_disabled) = crate::bind_flag!(form.disabled);
    let editing = Signal::derive(move || form.with(|f| f.editing.is_some()));
    let title = move || match form.with(|f| f.editing.clone()) {
        Some(name) => format!("Edit user {name}"),
        None => "New user".to_owned(),
    };
    view! {
        <div class="card">
            <h3>{title}</h3>
            <form class="form-grid" on:submit=move |ev| {
                ev.prevent_default();
                control.save_user();
            }>
                <label for="u-username">"User name"</label>
                <div>
                    <TextInput id="u-username" value=username on_input=set_username disabled=editing/>
                    <FieldError outcome field="username"/>
                </div>
                <label for="u-password">"Password"</label>
                <div>
                    <TextInput
                        id="u-password"
                        kind="password"
                        placeholder="when editing, blank keeps it"
                        value=password
                        on_input=set_password
                    />
                    <FieldError outcome field="password"/>
                </div>
                <label for="u-roles">"Roles"</label>
                <div>
                    <TextInput id="u-roles" placeholder="sensors:2, viewers" value=roles on_input=set_roles/>
                    <FieldError outcome field="roles"/>
                </div>
                <label for="u-clientid">"Only client id"</label>
                <div>
                    <TextInput id="u-clientid" placeholder="any" value=clientid on_input=set_clientid/>
                    <FieldError outcome field="clientid"/>
                </div>
                <label for="u-textname">"Full name"</label>
                <div>
                    <TextInput id="u-textname" value=textname on_input=set_textname/>
                    <FieldError outcome field="textname"/>
                </div>
                <label for="u-disabled">"Disabled"</label>
                <CheckBox id="u-disabled" checked=disabled on_change=set_disabled/>
                <div class="actions span-2">
                    <button id="u-save" type="submit">"Save user"</button>
                    <Btn id="u-new" label="New" on_click=Callback::new(move |()| {
                        form.set(UserForm::default());
                        outcome.set(None);
                    })/>
                    <OutcomeLine id="u-status" outcome/>
                </div>
            </form>
        </div>
    }
}
