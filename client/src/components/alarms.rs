use leptos::either::Either;
use leptos::prelude::*;

use super::fields::{Btn, CheckBox, Empty, TextInput};
use crate::platform;
use crate::state::alarms::{summary, Condition, Rule, RuleForm, Severity, PRESETS};
use crate::state::devices::format_value;
use crate::state::format::{ago, format_date_time};
use crate::store::Store;

/// Active alarms (acknowledge), the rules (create, edit, delete) and the
/// history. The broker evaluates the rules; this page only edits them.
///
/// Stable ids: `#active-alarms` with `.alarm[data-device][data-rule]`
/// (`.alarm-ack`, `.alarm-acked`); `#rules` with `.rule[data-rule]`
/// (`.rule-edit`, `.rule-delete`); the form `#rule-id`, `#rule-device`,
/// `#rule-measurement`, `#rule-condition`, `#rule-threshold`,
/// `#rule-hysteresis`, `#rule-severity`, `#rule-message`, `#rule-enabled`,
/// `#rule-save`, `#rule-status`; `#ack-name`; `#alarm-history` with `.hist`.
#[component]
pub fn AlarmsPage(store: Store) -> impl IntoView {
    let form = RwSignal::new(RuleForm::preset(0));
    view! {
        <section id="page-alarms" class="page">
            <div class="page-head">
                <h2>"Alarms"</h2>
                <span class="hint">"Rules run in the broker: alarms fire with no dashboard open."</span>
            </div>
            <div class="two-col">
                <div class="col">
                    <ActiveAlarms store/>
                    <RuleList store form/>
                </div>
                <div class="col">
                    <RuleEditor store form/>
                    <History store/>
                </div>
            </div>
        </section>
    }
}

#[component]
fn ActiveAlarms(store: Store) -> impl IntoView {
    let active = Memo::new(move |_| {
        store
            .data
            .alarms
            .with(|a| a.active.values().cloned().collect::<Vec<_>>())
    });
    view! {
        <div class="card">
            <div class="card-head">
                <h3>"Active alarms"</h3>
                <label class="inline hint" for="ack-name">"acknowledge as"</label>
                <input id="ack-name" class="narrow" type="text" bind:value=store.ui.ack_name/>
            </div>
            <Empty when=Signal::derive(move || active.with(Vec::is_empty)) text="No active alarms."/>
            <ul id="active-alarms" class="plain-list">
                {move || {
                    active.get().into_iter().map(|alarm| {
                        let (device, rule) = (alarm.device.clone(), alarm.rule.clone());
                        let raised = alarm.raised_at;
                        view! {
                            <li
                                class=format!("alarm sev-{}", alarm.severity)
                                class:acked=alarm.acknowledged_by.is_some()
                                data-device=alarm.device.clone()
                                data-rule=alarm.rule.clone()
                            >
                                <span class="pill">{alarm.severity.as_str()}</span>
                                <div class="alarm-main">
                                    <strong>{alarm.device.clone()}</strong>
                                    " " {alarm.message.clone()}
                                    {alarm.value.map(|v| format!(" (value {})", format_value(v)))}
                                    <div class="hint">
                                        "rule " {alarm.rule.clone()} " · raised "
                                        <time title=format_date_time(raised, platform::utc_offset_minutes())>
                                            {move || ago(raised, store.data.now.get())}
                                        </time>
                                    </div>
                                </div>
                                {match alarm.acknowledged_by.clone() {
                                    Some(by) => {
                                        let at = alarm.acknowledged_at.unwrap_or(raised);
                                        Either::Left(view! {
                                            <span class="alarm-acked hint">
                                                {format!("acknowledged by {by}")}
                                                <br/>
                                                {format_date_time(at, platform::utc_offset_minutes())}
                                            </span>
                                        })
                                    }
                                    None => Either::Right(view! {
                                        <Btn
                                            label="Acknowledge"
                                            class="alarm-ack"
                                            primary=true
                                            on_click=Callback::new(move |()| {
                                                let _ = store.acknowledge(&device, &rule);
                                            })
                                        />
                                    }),
                                }}
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
fn RuleList(store: Store, form: RwSignal<RuleForm>) -> impl IntoView {
    let rules = Memo::new(move |_| {
        store.data.alarms.with(|a| {
            a.rules
                .iter()
                .map(|(id, r)| (id.clone(), r.clone()))
                .collect::<Vec<_>>()
        })
    });
    view! {
        <div class="card">
            <h3>"Rules"</h3>
            <Empty when=Signal::derive(move || rules.with(Vec::is_empty)) text="No rules. Create one with the form."/>
            <ul id="rules" class="plain-list">
                {move || {
                    rules.get().into_iter().map(|(id, rule)| {
                        let edit_rule: Option<Rule> = rule.clone().ok();
                        let edit_id = id.clone();
                        let delete_id = id.clone();
                        view! {
                            <li class="rule" data-rule=id.clone()>
                                <div class="rule-main">
                                    <strong>{id.clone()}</strong>
                                    {match &rule {
                                        Ok(rule) => Either::Left(view! {
                                            <span class=format!("pill sev-{}", rule.severity)>{rule.severity.as_str()}</span>
                                            {(!rule.enabled).then(|| view! { <span class="pill">"disabled"</span> })}
                                            <div class="hint">{summary(rule)} {rule.message.clone().map(|m| format!(" — {m}"))}</div>
                                        }),
                                        Err(e) => Either::Right(view! { <div class="error">{format!("unreadable: {e}")}</div> }),
                                    }}
                                </div>
                                <Btn
                                    label="Edit"
                                    class="rule-edit"
                                    disabled=edit_rule.is_none()
                                    on_click=Callback::new(move |()| {
                                        if let Some(rule) = &edit_rule {
                                            form.set(RuleForm::from_rule(&edit_id, rule));
                                        }
                                    })
                                />
                                <Btn
                                    label="Delete"
                                    class="danger rule-delete"
                                    on_click=Callback::new(move |()| {
                                        let _ = store.connection.delete_rule(&delete_id);
                                    })
                                />
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
fn RuleEditor(store: Store, form: RwSignal<RuleForm>) -> impl IntoView {
    // Ok(text) after a save, Err(problems) when refused.
    let status = RwSignal::new(None::<Result<String, Vec<String>>>);
    let saved_at = RwSignal::new(0u64);
    let save = move || {
        let result = store
            .connection
            .save_rule(&form.get_untracked())
            .map(|id| format!("rule {id} sent to the broker"));
        saved_at.set(platform::now_ms().saturating_sub(2_000));
        status.set(Some(result));
    };
    // The broker's refusal of the rule just saved, if any.
    let refusal = move || {
        let id = form.with(|f| f.id.trim().to_owned());
        store
            .data
            .alarms
            .with(|a| a.refusal(&id, saved_at.get()).map(|r| r.error.clone()))
    };
    let (id, set_id) = crate::bind_text!(form.id);
    let (device, set_device) = crate::bind_text!(form.device);
    let (measurement, set_measurement) = crate::bind_text!(form.measurement);
    let (threshold, set_threshold) = crate::bind_text!(form.threshold);
    let (hysteresis, set_hysteresis) = crate::bind_text!(form.hysteresis);
    let (message, set_message) = crate::bind_text!(form.message);
    let (enabled, set_enabled) = crate::bind_flag!(form.enabled);
    let offline = move || form.with(|f| f.condition == Condition::OfflineFor.as_str());
    view! {
        <div class="card">
            <div class="card-head">
                <h3>"Rule"</h3>
                <div class="btn-group">
                    {PRESETS
                        .iter()
                        .enumerate()
                        .map(|(i, preset)| view! {
                            <Btn label=preset.0 class="preset" on_click=Callback::new(move |()| form.set(RuleForm::preset(i)))/>
                        })
                        .collect_view()}
                </div>
            </div>
            <form class="form-grid" on:submit=move |ev| {
                ev.prevent_default();
                save();
            }>
                <label for="rule-id">"Id"</label>
                <TextInput id="rule-id" value=id on_input=set_id/>
                <label for="rule-device">"Device"</label>
                <TextInput id="rule-device" placeholder="* or sim-? or an id" value=device on_input=set_device/>
                <label for="rule-condition">"When"</label>
                <div class="row">
                    <TextInput
                        id="rule-measurement"
                        placeholder="battery"
                        label="Measurement"
                        disabled=Signal::derive(offline)
                        value=measurement
                        on_input=set_measurement
                    />
                    <select
                        id="rule-condition"
                        aria-label="Condition"
                        prop:value=move || form.with(|f| f.condition.clone())
                        on:change=move |ev| form.update(|f| f.condition = event_target_value(&ev))
                    >
                        {Condition::ALL
                            .into_iter()
                            .map(Condition::as_str)
                            .map(|c| view! {
                                <option value=c prop:selected=move || form.with(|f| f.condition == c)>
                                    {c.replace('_', " ")}
                                </option>
                            })
                            .collect_view()}
                    </select>
                    <TextInput id="rule-threshold" class="narrow" mode="decimal" label="Threshold" value=threshold on_input=set_threshold/>
                    <span class="hint">{move || if offline() { "s" } else { "" }}</span>
                </div>
                <label for="rule-hysteresis">"Hysteresis"</label>
                <TextInput id="rule-hysteresis" class="narrow" mode="decimal" value=hysteresis on_input=set_hysteresis/>
                <label for="rule-severity">"Severity"</label>
                <select
                    id="rule-severity"
                    prop:value=move || form.with(|f| f.severity.clone())
                    on:change=move |ev| form.update(|f| f.severity = event_target_value(&ev))
                >
                    {Severity::ALL
                        .into_iter()
                        .map(Severity::as_str)
                        .map(|s| view! {
                            <option value=s prop:selected=move || form.with(|f| f.severity == s)>{s}</option>
                        })
                        .collect_view()}
                </select>
                <label for="rule-message">"Message"</label>
                <TextInput id="rule-message" placeholder="battery low" value=message on_input=set_message/>
                <label for="rule-enabled">"Enabled"</label>
                <CheckBox id="rule-enabled" checked=enabled on_change=set_enabled/>
                <div class="actions span-2">
                    <button id="rule-save" type="submit">"Save rule"</button>
                    <Btn label="New" on_click=Callback::new(move |()| form.set(RuleForm::default()))/>
                    <span
                        id="rule-status"
                        role="status"
                        class=move || match (status.get(), refusal()) {
                            (Some(Err(_)), _) | (_, Some(_)) => "status error",
                            _ => "status",
                        }
                    >
                        {move || match (status.get(), refusal()) {
                            (_, Some(e)) => format!("refused by the broker: {e}"),
                            (Some(Ok(text)), None) => text,
                            (Some(Err(problems)), None) => problems.join("; "),
                            (None, None) => String::new(),
                        }}
                    </span>
                </div>
            </form>
        </div>
    }
}

#[component]
fn History(store: Store) -> impl IntoView {
    let history = Memo::new(move |_| {
        store.data.alarms.with(|a| {
            a.history
                .iter()
                .rev()
                .take(100)
                .cloned()
                .collect::<Vec<_>>()
        })
    });
    view! {
        <div class="card">
            <h3>"History"</h3>
            <Empty when=Signal::derive(move || history.with(Vec::is_empty)) text="Nothing has happened yet."/>
            <ol id="alarm-history" class="plain-list history">
                {move || {
                    history
                        .get()
                        .into_iter()
                        .map(|e| {
                            let time = format_date_time(e.at, platform::utc_offset_minutes());
                            view! {
                                <li class=format!("hist {} sev-{}", e.kind, e.severity)>
                                    <time>{time}</time>
                                    <span class="pill">{e.kind.clone()}</span>
                                    <span>
                                        <strong>{e.device.clone()}</strong> " " {e.message.clone()}
                                        {e.value.map(|v| format!(" ({})", format_value(v)))}
                                        {e.by.clone().map(|by| format!(" by {by}"))}
                                    </span>
                                </li>
                            }
                        })
                        .collect_view()
                }}
            </ol>
        </div>
    }
}
