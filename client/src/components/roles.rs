//! The users page's roles: the list, the role form with its ACL entries,
//! and the default access for what no entry decides.

use kite_convention::control::{ACL_TYPES, DEFAULT_ACL_TYPES};
use leptos::prelude::*;
use serde_json::json;

use super::control::{Choice, FieldError, OutcomeLine, RowInput};
use super::fields::{Btn, Empty, TextInput};
use crate::state::control::users::{AclForm, RoleForm};
use crate::store::Store;

/// The roles and their entries.
///
/// Stable ids: `#roles` with `.role[data-role]` (`.role-acl`,
/// `.role-edit`, `.role-delete`).
#[component]
pub fn RoleList(store: Store) -> impl IntoView {
    let control = store.control;
    let roles = Memo::new(move |_| control.admin.with(|a| a.roles.clone()));
    view! {
        <div class="card">
            <h3>"Roles"</h3>
            <Empty when=Signal::derive(move || roles.with(Vec::is_empty)) text="No roles yet."/>
            <ul id="roles" class="plain-list">
                {move || roles.get().into_iter().map(|role| {
                    let name = role.rolename.clone();
                    let delete_name = name.clone();
                    let edit = role.clone();
                    view! {
                        <li class="role" data-role=name.clone()>
                            <div class="role-main">
                                <strong>{name.clone()}</strong>
                                {role.textname.clone().filter(|t| !t.is_empty()).map(|t| format!(" — {t}"))}
                                <ul class="plain-list hint">
                                    {role.acls.iter().map(|a| view! {
                                        <li class="role-acl">
                                            {format!("{} {} {} (priority {})",
                                                if a.allow { "allow" } else { "deny" }, a.acltype, a.topic, a.priority)}
                                        </li>
                                    }).collect_view()}
                                </ul>
                            </div>
                            <div class="btn-group">
                                <Btn label="Edit" class="role-edit" on_click=Callback::new(move |()| {
                                    control.role_outcome.set(None);
                                    control.role_form.set(RoleForm::from_role(&edit));
                                })/>
                                <Btn label="Delete" class="danger role-delete" on_click=Callback::new(move |()| {
                                    control.user_action(format!("delete role {delete_name}"), "deleteRole", json!({"rolename": delete_name}));
                                })/>
                            </div>
                        </li>
                    }
                }).collect_view()}
            </ul>
        </div>
    }
}

/// The role form: name, description, ACL entries.
///
/// Stable ids: `#r-rolename`, `#r-textname`, per entry `i`
/// `#r-acltype-i`, `#r-topic-i`, `#r-priority-i`, `#r-allow-i`;
/// `#r-add-acl`, `#r-save`, `#r-new`, `#r-status`.
#[component]
pub fn RoleEditor(store: Store) -> impl IntoView {
    let control = store.control;
    let form = control.role_form;
    let outcome = control.role_outcome;
    let (rolename, set_rolename) = crate::bind_text!(form.rolename);
    let (textname, set_textname) = crate::bind_text!(form.textname);
    let editing = Signal::derive(move || form.with(|f| f.editing.is_some()));
    let title = move || match form.with(|f| f.editing.clone()) {
        Some(name) => format!("Edit role {name}"),
        None => "New role".to_owned(),
    };
    let count = Memo::new(move |_| form.with(|f| f.acls.len()));
    view! {
        <div class="card">
            <h3>{title}</h3>
            <form class="form-grid" on:submit=move |ev| {
                ev.prevent_default();
                control.save_role();
            }>
                <label for="r-rolename">"Role"</label>
                <div>
                    <TextInput id="r-rolename" value=rolename on_input=set_rolename disabled=editing/>
                    <FieldError outcome field="rolename"/>
                </div>
                <label for="r-textname">"Description"</label>
                <div>
                    <TextInput id="r-textname" value=textname on_input=set_textname/>
                    <FieldError outcome field="textname"/>
                </div>
                <label>"ACL"</label>
                <div class="r-acls">
                    {move || (0..count.get()).map(|i| view! { <AclRow store index=i/> }).collect_view()}
                    <FieldError outcome field="acls"/>
                    <Btn id="r-add-acl" label="Add entry" on_click=Callback::new(move |()| {
                        form.update(|f| f.acls.push(AclForm::default()))
                    })/>
                </div>
                <div class="actions span-2">
                    <button id="r-save" type="submit">"Save role"</button>
                    <Btn id="r-new" label="New" on_click=Callback::new(move |()| {
                        form.set(RoleForm::default());
                        outcome.set(None);
                    })/>
                    <OutcomeLine id="r-status" outcome/>
                </div>
            </form>
        </div>
    }
}

/// One ACL entry of the role form.
#[component]
fn AclRow(store: Store, index: usize) -> impl IntoView {
    let form = store.control.role_form;
    let get = move |pick: fn(&AclForm) -> String| {
        Signal::derive(move || form.with(|f| f.acls.get(index).map(pick).unwrap_or_default()))
    };
    let set = move |put: fn(&mut AclForm, String)| {
        Callback::new(move |v: String| {
            form.update(|f| {
                if let Some(a) = f.acls.get_mut(index) {
                    put(a, v)
                }
            })
        })
    };
    let allow = move || form.with(|f| f.acls.get(index).is_some_and(|a| a.allow));
    view! {
        <div class="r-acl row" data-index=index>
            <Choice
                id=format!("r-acltype-{index}")
                label="ACL type"
                options=ACL_TYPES.iter().map(|t| (*t, *t)).collect()
                value=get(|a| a.acltype.clone())
                on_change=set(|a, v| a.acltype = v)
            />
            <RowInput
                id=format!("r-topic-{index}")
                label="Topic"
                placeholder="sensors/#"
                value=get(|a| a.topic.clone())
                on_input=set(|a, v| a.topic = v)
            />
            <RowInput
                id=format!("r-priority-{index}")
                class="narrow"
                label="Priority"
                value=get(|a| a.priority.clone())
                on_input=set(|a, v| a.priority = v)
            />
            <label class="inline">
                <input
                    id=format!("r-allow-{index}")
                    type="checkbox"
                    class="check"
                    prop:checked=allow
                    on:change=move |ev| {
                        let on = event_target_checked(&ev);
                        form.update(|f| {
                            if let Some(a) = f.acls.get_mut(index) {
                                a.allow = on;
                            }
                        });
                    }
                />
                " allow"
            </label>
            <Btn label="✕" class="r-remove-acl" title="Remove this entry" on_click=Callback::new(move |()| {
                form.update(|f| {
                    if index < f.acls.len() {
                        f.acls.remove(index);
                    }
                })
            })/>
        </div>
    }
}

/// What no role entry decides: allowed or not, per kind.
///
/// Stable ids: `#d-<acltype>` (`#d-publishClientSend`, ...), `#d-save`,
/// `#d-status`.
#[component]
pub fn DefaultAccessCard(store: Store) -> impl IntoView {
    let control = store.control;
    let allow = RwSignal::new([false; 4]);
    // Follow what the broker says, until edited here.
    Effect::new(move |_| {
        if let Some(defaults) = control.admin.with(|a| a.defaults) {
            allow.set(defaults);
        }
    });
    view! {
        <div class="card">
            <h3>"Default access"</h3>
            <p class="hint">"For live users, when none of their roles' entries decides."</p>
            <div class="form-grid">
                {DEFAULT_ACL_TYPES.iter().enumerate().map(|(i, acltype)| view! {
                    <label for=format!("d-{acltype}")>{*acltype}</label>
                    <input
                        id=format!("d-{acltype}")
                        type="checkbox"
                        class="check"
                        prop:checked=move || allow.with(|a| a[i])
                        on:change=move |ev| {
                            let on = event_target_checked(&ev);
                            allow.update(|a| a[i] = on);
                        }
                    />
                }).collect_view()}
                <div class="actions span-2">
                    <Btn id="d-save" label="Save default access" primary=true on_click=Callback::new(move |()| {
                        control.save_default_access(allow.get_untracked())
                    })/>
                    <FieldError outcome=control.default_outcome field="acls"/>
                    <OutcomeLine id="d-status" outcome=control.default_outcome/>
                </div>
            </div>
        </div>
    }
}
