use std::collections::HashSet;

use leptos::either::Either;
use leptos::prelude::*;

use super::fields::{Btn, Empty};
use crate::platform;
use crate::state::format::{format_bytes, format_date_time, hex_dump, json_pretty};
use crate::state::sys::format_si;
use crate::state::topics::{TopicMessage, TopicRow, TopicTree};
use crate::state::window::visible_rows;
use crate::store::Store;

/// Height of one tree row in px (the CSS says the same).
const ROW_H: f64 = 30.0;

/// The live topic tree (virtualised) and the selected topic's history.
///
/// Stable ids: `#topic-filter`, `#topic-tree` with `.topic-row[data-topic]`
/// (`.t-toggle`, `.t-name`, `.t-retained`, `.t-count`, `.t-rate`,
/// `.t-preview`); `#topic-detail` with `#topic-path`, `#topic-copy`,
/// `#topic-delete-retained`, `#view-text`, `#view-json`, `#view-hex`,
/// `#topic-history` with `.hist-msg`.
#[component]
pub fn TopicsPage(store: Store) -> impl IntoView {
    // Kept in the store, so the tree is as it was when coming back.
    let (expanded, filter, selected) = (
        store.ui.topic_expanded,
        store.ui.topic_filter,
        store.ui.topic_selected,
    );
    let scroll = RwSignal::new(0.0f64);
    let viewport = RwSignal::new(720.0f64);
    let rows = Memo::new(move |_| {
        let now = store.data.now.get();
        let filter = filter.get();
        store
            .data
            .topics
            .with(|t| expanded.with(|e| t.rows(e, &filter, now)))
    });
    let range =
        Memo::new(move |_| visible_rows(scroll.get(), viewport.get(), ROW_H, rows.with(Vec::len)));
    let visible = Memo::new(move |_| {
        let range = range.get();
        rows.with(|rows| rows[range].to_vec())
    });
    let summary = move || {
        let now = store.data.now.get();
        store.data.topics.with(|t| {
            format!(
                "{} nodes, {} retained, {} messages, {}/s",
                t.len(),
                t.retained_count(),
                t.messages(),
                format_si(t.rate(now))
            )
        })
    };
    let select = move |path: String| {
        expanded.update(|e| e.extend(TopicTree::ancestors(&path)));
        selected.set(Some(path));
    };
    view! {
        <section id="page-topics" class="page">
            <div class="page-head">
                <h2>"Topics"</h2>
                <span class="hint" id="topic-summary">{summary}</span>
            </div>
            <div class="two-col wide-left">
                <div class="card tree-card">
                    <div class="card-head">
                        <input
                            id="topic-filter"
                            class="search"
                            type="search"
                            placeholder="Filter topics"
                            bind:value=filter
                        />
                        <Btn label="Collapse all" on_click=Callback::new(move |()| expanded.set(HashSet::new()))/>
                    </div>
                    <div
                        id="topic-tree"
                        class="vlist"
                        role="tree"
                        on:scroll=move |ev| {
                            let el = event_target::<web_sys::Element>(&ev);
                            scroll.set(f64::from(el.scroll_top()));
                            viewport.set(f64::from(el.client_height()));
                        }
                    >
                        <div
                            class="vlist-inner"
                            style=move || {
                                format!(
                                    "height:{}px;padding-top:{}px",
                                    rows.with(Vec::len) as f64 * ROW_H,
                                    range.with(|r| r.start) as f64 * ROW_H,
                                )
                            }
                        >
                            <For
                                each=move || visible.with(|v| v.iter().map(|r| r.path.clone()).collect::<Vec<_>>())
                                key=|path| path.clone()
                                children=move |path| {
                                    let row = {
                                        let path = path.clone();
                                        Memo::new(move |_| visible.with(|v| v.iter().find(|r| r.path == path).cloned()))
                                    };
                                    view! { <TreeRow row expanded selected on_select=select/> }
                                }
                            />
                        </div>
                    </div>
                    <Empty when=Signal::derive(move || store.data.topics.with(TopicTree::is_empty)) text="No messages yet."/>
                </div>
                <TopicDetail store selected/>
            </div>
        </section>
    }
}

#[component]
fn TreeRow(
    row: Memo<Option<TopicRow>>,
    expanded: RwSignal<HashSet<String>>,
    selected: RwSignal<Option<String>>,
    on_select: impl Fn(String) + Copy + 'static,
) -> impl IntoView {
    let get = move |f: fn(&TopicRow) -> String| {
        move || row.with(|r| r.as_ref().map(f).unwrap_or_default())
    };
    let path = move || row.with(|r| r.as_ref().map(|r| r.path.clone()).unwrap_or_default());
    let toggle = move |ev: leptos::ev::MouseEvent| {
        ev.stop_propagation();
        let path = path();
        expanded.update(|e| {
            if !e.remove(&path) {
                e.insert(path);
            }
        });
    };
    view! {
        <div
            class="topic-row"
            role="treeitem"
            class:selected=move || selected.with(|s| s.as_deref() == Some(path().as_str()))
            class:is-topic=move || row.with(|r| r.as_ref().is_some_and(|r| r.is_topic))
            data-topic=path
            style=move || format!("padding-left:{}px", 6 + row.with(|r| r.as_ref().map_or(0, |r| r.depth)) * 16)
            on:click=move |_| on_select(path())
        >
            <button
                type="button"
                class="t-toggle"
                aria-label="Expand"
                class:invisible=move || !row.with(|r| r.as_ref().is_some_and(|r| r.has_children))
                on:click=toggle
            >
                {move || if row.with(|r| r.as_ref().is_some_and(|r| r.expanded)) { "▾" } else { "▸" }}
            </button>
            <span class="t-name">{get(|r| r.name.clone())}</span>
            {move || {
                row.with(|r| r.as_ref().is_some_and(|r| r.retained))
                    .then(|| view! { <span class="t-retained badge" title="retained">"R"</span> })
            }}
            <span class="t-preview">{get(|r| r.preview.clone())}</span>
            <span class="t-rate">
                {move || row.with(|r| r.as_ref().filter(|r| r.rate > 0.0).map(|r| format!("{}/s", format_si(r.rate))))}
            </span>
            <span class="t-count" title=get(|r| format!("{} messages", r.count))>{get(|r| format_si(r.count as f64))}</span>
        </div>
    }
}

/// How the history shows payloads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Text,
    Json,
    Hex,
}

#[component]
fn TopicDetail(store: Store, selected: RwSignal<Option<String>>) -> impl IntoView {
    let mode = RwSignal::new(Mode::Json);
    let copied = RwSignal::new(false);
    let history = Memo::new(move |_| {
        selected
            .get()
            .map(|t| store.data.topics.with(|tree| tree.history(&t)))
            .unwrap_or_default()
    });
    let retained = move || {
        selected
            .get()
            .is_some_and(|t| store.data.topics.with(|tree| tree.is_retained(&t)))
    };
    let counts = move || {
        selected
            .get()
            .and_then(|t| store.data.topics.with(|tree| tree.counts(&t)))
            .map(|(own, total)| format!("{own} messages here, {total} in the subtree"))
    };
    let tab = move |id: &'static str, label: &'static str, m: Mode| {
        view! {
            <Btn
                id=id
                label=label
                active=Signal::derive(move || mode.get() == m)
                on_click=Callback::new(move |()| mode.set(m))
            />
        }
    };
    view! {
        <div id="topic-detail" class="card detail">
            {move || match selected.get() {
                None => Either::Left(view! { <p class="empty">"Select a topic to see its messages."</p> }),
                Some(topic) => {
                    let copy_topic = topic.clone();
                    let delete_topic = topic.clone();
                    Either::Right(view! {
                        <div class="card-head wrap">
                            <code id="topic-path" class="topic-path">{topic.clone()}</code>
                            <button
                                id="topic-copy"
                                type="button"
                                class="secondary small"
                                on:click=move |_| {
                                    platform::copy_to_clipboard(&copy_topic);
                                    copied.set(true);
                                }
                            >
                                {move || if copied.get() { "Copied" } else { "Copy topic" }}
                            </button>
                            {move || retained().then(|| view! {
                                <Btn
                                    id="topic-delete-retained"
                                    label="Delete retained"
                                    class="danger"
                                    title="Publish an empty retained message"
                                    on_click={
                                        let topic = delete_topic.clone();
                                        Callback::new(move |()| {
                                            let _ = store.connection.delete_retained(&topic);
                                        })
                                    }
                                />
                            })}
                        </div>
                        <p class="hint">{counts} {move || retained().then_some(" · retained message held by the broker")}</p>
                    })
                }
            }}
            <div class="btn-group tabs">
                {tab("view-text", "Text", Mode::Text)}
                {tab("view-json", "JSON", Mode::Json)}
                {tab("view-hex", "Hex", Mode::Hex)}
            </div>
            <ol id="topic-history" class="plain-list">
                {move || {
                    let m = mode.get();
                    history
                        .get()
                        .into_iter()
                        .rev()
                        .map(|msg| view! { <HistoryItem msg mode=m/> })
                        .collect_view()
                }}
            </ol>
        </div>
    }
}

#[component]
fn HistoryItem(msg: TopicMessage, mode: Mode) -> impl IntoView {
    let body = match mode {
        Mode::Hex => hex_dump(&msg.payload, 4096),
        Mode::Json => json_pretty(&msg.payload)
            .unwrap_or_else(|| String::from_utf8_lossy(&msg.payload).into_owned()),
        Mode::Text => String::from_utf8_lossy(&msg.payload).into_owned(),
    };
    let time = format_date_time(msg.received_ms, platform::utc_offset_minutes());
    view! {
        <li class="hist-msg">
            <div class="hist-head hint">
                <time>{time}</time>
                <span class="badge">{format!("QoS {}", msg.qos)}</span>
                {msg.retained.then(|| view! { <span class="badge">"retained"</span> })}
                <span>{format_bytes(msg.len)}</span>
                {(msg.payload.is_empty()).then(|| view! { <span class="badge">"empty"</span> })}
            </div>
            {(!msg.properties.is_empty())
                .then(|| {
                    view! {
                        <dl class="props">
                            {msg
                                .properties
                                .iter()
                                .map(|(k, v)| view! { <dt>{k.clone()}</dt><dd>{v.clone()}</dd> })
                                .collect_view()}
                        </dl>
                    }
                })}
            <pre class="payload">{body}</pre>
        </li>
    }
}
