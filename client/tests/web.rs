//! Component tests in a real browser (headless Chromium through
//! `wasm-bindgen-test-runner`): each mounts a component on a `Store`, feeds
//! it messages as the broker would, and checks the DOM.
//!
//! Run (see scripts/test.sh): `cargo test -p kite-dashboard --target
//! wasm32-unknown-unknown --test web` with
//! `CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner`.
#![cfg(target_arch = "wasm32")]

use kite_dashboard::components::{
    AlarmsPage, BridgesPage, ChartData, ClusterPage, DevicesPage, Header, TimeChart, TopicsPage,
    UsersPage,
};
use kite_dashboard::store::Store;
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn document() -> web_sys::Document {
    web_sys::window().unwrap().document().unwrap()
}

/// A fresh element to mount into.
fn host() -> web_sys::HtmlElement {
    let div = document().create_element("div").unwrap();
    document().body().unwrap().append_child(&div).unwrap();
    div.unchecked_into()
}

fn texts(root: &web_sys::HtmlElement, selector: &str) -> Vec<String> {
    let found = root.query_selector_all(selector).unwrap();
    (0..found.length())
        .map(|i| {
            found
                .item(i)
                .unwrap()
                .text_content()
                .unwrap_or_default()
                .trim()
                .to_owned()
        })
        .collect()
}

fn text(root: &web_sys::HtmlElement, selector: &str) -> String {
    texts(root, selector)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no {selector}"))
}

/// Let animation frames (the store's batched updates) and effects run.
async fn settle() {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        web_sys::window()
            .unwrap()
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 250)
            .unwrap();
    });
    wasm_bindgen_futures::JsFuture::from(promise).await.unwrap();
}

fn feed_devices(store: Store) {
    store.receive("devices/sim-1/status", b"online", true);
    store.receive(
        "devices/sim-1/meta",
        r#"{"name":"Kitchen","kind":"climate","location":"kitchen"}"#.as_bytes(),
        true,
    );
    for (i, battery) in [40, 30, 15].iter().enumerate() {
        let telemetry = format!(r#"{{"temperature":21.{i},"battery":{battery},"signal":-95}}"#);
        store.receive("devices/sim-1/telemetry", telemetry.as_bytes(), false);
    }
    store.receive("devices/sim-2/status", b"offline", true);
}

#[wasm_bindgen_test]
async fn header_shows_state_and_navigation() {
    let root = host();
    let mounted = leptos::mount::mount_to(root.clone(), || {
        let store = Store::new();
        view! { <Header store/> }
    });
    settle().await;
    assert_eq!(text(&root, "#conn-state"), "disconnected");
    assert_eq!(texts(&root, "nav a").len(), 10);
    drop(mounted);
}

#[wasm_bindgen_test]
async fn device_cards_render_values_units_and_alarms() {
    let root = host();
    let owner = Owner::new();
    let store = owner.with(Store::new);
    let mounted = leptos::mount::mount_to(root.clone(), move || view! { <DevicesPage store/> });
    feed_devices(store);
    settle().await;
    let card = r#".device-card[data-device="sim-1"]"#;
    assert_eq!(texts(&root, ".device-card").len(), 2);
    assert_eq!(text(&root, &format!("{card} .device-name")), "Kitchen");
    assert_eq!(text(&root, &format!("{card} .device-status")), "online");
    assert_eq!(
        text(&root, &format!("{card} .m-temperature .m-value")),
        "21.2"
    );
    assert_eq!(text(&root, &format!("{card} .m-temperature .m-unit")), "°C");
    assert_eq!(text(&root, &format!("{card} .m-battery .m-value")), "15");
    assert_eq!(text(&root, &format!("{card} .m-signal .m-unit")), "dBm");
    let low = root
        .query_selector(&format!("{card} .m-battery"))
        .unwrap()
        .unwrap();
    assert!(
        low.class_list().contains("low"),
        "battery under 20 % is marked"
    );
    let spark = root
        .query_selector(&format!("{card} .m-battery .spark path"))
        .unwrap()
        .unwrap();
    assert!(spark.get_attribute("d").unwrap().contains('L'));
    assert_eq!(
        text(&root, r#".device-card[data-device="sim-2"] .device-status"#),
        "offline"
    );

    // An active alarm from the broker highlights the card.
    store.receive(
        "$kite/alarms/active/sim-1/low-battery",
        br#"{"device":"sim-1","rule":"low-battery","raised_at":1700000000000,"value":15,"severity":"warning","message":"battery low","acknowledged_by":null,"acknowledged_at":null}"#,
        true,
    );
    settle().await;
    let el = root.query_selector(card).unwrap().unwrap();
    assert!(el.class_list().contains("alarm"));
    assert!(text(&root, &format!("{card} .card-alarm")).contains("battery low"));
    // Cleared: the highlight goes.
    store.receive("$kite/alarms/active/sim-1/low-battery", b"", true);
    settle().await;
    let el = root.query_selector(card).unwrap().unwrap();
    assert!(!el.class_list().contains("alarm"));
    drop(mounted);
    drop(owner);
}

#[wasm_bindgen_test]
async fn topic_tree_counts_and_marks_retained() {
    let root = host();
    let owner = Owner::new();
    let store = owner.with(Store::new);
    let mounted = leptos::mount::mount_to(root.clone(), move || view! { <TopicsPage store/> });
    feed_devices(store);
    store.receive("config/site", b"{\"name\":\"lab\"}", true);
    settle().await;
    let rows = texts(&root, "#topic-tree .topic-row .t-name");
    assert_eq!(rows, ["config", "devices"]);
    assert_eq!(
        text(&root, r#".topic-row[data-topic="devices"] .t-count"#),
        "6"
    );
    // Expand "config": its child carries the retained marker.
    let toggle: web_sys::HtmlElement = root
        .query_selector(r#".topic-row[data-topic="config"] .t-toggle"#)
        .unwrap()
        .unwrap()
        .unchecked_into();
    toggle.click();
    settle().await;
    assert_eq!(
        texts(&root, r#".topic-row[data-topic="config/site"] .t-retained"#),
        ["R"]
    );
    let row: web_sys::HtmlElement = root
        .query_selector(r#".topic-row[data-topic="config/site"]"#)
        .unwrap()
        .unwrap()
        .unchecked_into();
    row.click();
    settle().await;
    assert_eq!(text(&root, "#topic-path"), "config/site");
    assert!(text(&root, "#topic-history .payload").contains("\"name\": \"lab\""));
    assert!(root
        .query_selector("#topic-delete-retained")
        .unwrap()
        .is_some());
    drop(mounted);
    drop(owner);
}

#[wasm_bindgen_test]
async fn rule_form_explains_mistakes_and_lists_rules() {
    let root = host();
    let owner = Owner::new();
    let store = owner.with(Store::new);
    let mounted = leptos::mount::mount_to(root.clone(), move || view! { <AlarmsPage store/> });
    store.receive(
        "$kite/alarms/rules/hot",
        br#"{"device":"*","measurement":"temperature","condition":">","threshold":30,"severity":"critical"}"#,
        true,
    );
    settle().await;
    assert!(text(&root, r#"#rules .rule[data-rule="hot"]"#).contains("temperature > 30 on *"));
    let id: web_sys::HtmlInputElement = root
        .query_selector("#rule-id")
        .unwrap()
        .unwrap()
        .unchecked_into();
    id.set_value("");
    id.dispatch_event(&web_sys::Event::new("input").unwrap())
        .unwrap();
    let save: web_sys::HtmlElement = root
        .query_selector("#rule-save")
        .unwrap()
        .unwrap()
        .unchecked_into();
    save.click();
    settle().await;
    assert_eq!(text(&root, "#rule-status"), "the rule needs an id");
    // "Edit" fills the form from the rule.
    let edit: web_sys::HtmlElement = root
        .query_selector(r#".rule[data-rule="hot"] .rule-edit"#)
        .unwrap()
        .unwrap()
        .unchecked_into();
    edit.click();
    settle().await;
    assert_eq!(id.value(), "hot");
    drop(mounted);
    drop(owner);
}

#[wasm_bindgen_test]
async fn time_chart_draws_axes_with_units() {
    let root = host();
    let data = ChartData {
        points: (0..60)
            .map(|i| (1_700_000_000_000 + i * 1000, 20.0 + (i % 7) as f64))
            .collect(),
        t0: 1_700_000_000_000,
        t1: 1_700_000_060_000,
        unit: "°C".to_owned(),
    };
    let mounted = leptos::mount::mount_to(root.clone(), move || {
        view! { <TimeChart data=Signal::stored(data.clone()) label="temperature"/> }
    });
    settle().await;
    assert_eq!(text(&root, ".chart .unit"), "°C");
    assert!(texts(&root, ".chart .ytick").len() >= 3);
    assert!(texts(&root, ".chart .xtick").len() >= 3);
    let line = root.query_selector(".chart .line").unwrap().unwrap();
    assert_eq!(line.get_attribute("d").unwrap().matches('L').count(), 59);
    drop(mounted);
}

#[wasm_bindgen_test]
async fn bridge_form_marks_its_fields_and_pages_say_they_need_the_broker() {
    let root = host();
    let owner = Owner::new();
    let store = owner.with(Store::new);
    let mounted = leptos::mount::mount_to(root.clone(), move || view! { <BridgesPage store/> });
    settle().await;
    // Disconnected: the page says what it needs, not a blank page.
    assert!(text(&root, "#control-problem").contains("Not connected"));
    assert_eq!(texts(&root, ".br-topic").len(), 1);
    let keepalive: web_sys::HtmlInputElement = root
        .query_selector("#br-keepalive")
        .unwrap()
        .unwrap()
        .unchecked_into();
    keepalive.set_value("soon");
    keepalive
        .dispatch_event(&web_sys::Event::new("input").unwrap())
        .unwrap();
    let save: web_sys::HtmlElement = root
        .query_selector("#br-save")
        .unwrap()
        .unwrap()
        .unchecked_into();
    save.click();
    settle().await;
    assert!(text(&root, r#".field-error[data-field="bridge.keepalive"]"#).contains("\"soon\""));
    assert_eq!(text(&root, "#br-status"), "see the marked fields");
    let add: web_sys::HtmlElement = root
        .query_selector("#br-add-topic")
        .unwrap()
        .unwrap()
        .unchecked_into();
    add.click();
    settle().await;
    assert_eq!(texts(&root, ".br-topic").len(), 2);
    drop(mounted);
    let users = host();
    let mounted = leptos::mount::mount_to(users.clone(), move || view! { <UsersPage store/> });
    settle().await;
    assert!(text(&users, "#control-problem").contains("Not connected"));
    assert_eq!(text(&users, "#sessions-connected"), "0");
    drop(mounted);
    drop(owner);
}

#[wasm_bindgen_test]
async fn cluster_page_says_single_node_then_lists_nodes_and_its_own() {
    let root = host();
    let owner = Owner::new();
    let store = owner.with(Store::new);
    let mounted = leptos::mount::mount_to(root.clone(), move || view! { <ClusterPage store/> });
    settle().await;
    assert!(text(&root, "#cluster-waiting").contains("No $SYS figures yet"));
    store.receive("$SYS/broker/uptime", b"5 seconds", true);
    settle().await;
    assert!(text(&root, "#cluster-single").contains("single node"));
    assert!(texts(&root, "#cluster-nodes tr.node").is_empty());
    // Two publications of two nodes; east's figures are this broker's own.
    for (uptime, sent) in [("5 seconds", "10"), ("6 seconds", "20")] {
        for (node, clients) in [("east", "1"), ("west", "3")] {
            let node_sent = if node == "east" { sent } else { "77" };
            for (stat, value) in [
                ("uptime", uptime),
                ("clients/connected", clients),
                ("messages/sent", node_sent),
                ("bytes/sent", node_sent),
            ] {
                store.receive(
                    &format!("$SYS/brokers/{node}/{stat}"),
                    value.as_bytes(),
                    true,
                );
            }
        }
        store.receive("$SYS/broker/uptime", uptime.as_bytes(), true);
        store.receive("$SYS/broker/messages/sent", sent.as_bytes(), true);
        store.receive("$SYS/broker/bytes/sent", sent.as_bytes(), true);
    }
    settle().await;
    assert!(texts(&root, "#cluster-single").is_empty());
    let east = r#"#cluster-nodes tr.node[data-node="east"]"#;
    let west = r#"#cluster-nodes tr.node[data-node="west"]"#;
    assert_eq!(text(&root, &format!("{east} .node-state")), "up");
    assert_eq!(text(&root, &format!("{west} .node-clients")), "3");
    assert_eq!(text(&root, &format!("{east} .node-own")), "this dashboard");
    assert!(texts(&root, &format!("{west} .node-own")).is_empty());
    assert!(text(&root, "#cluster-summary").contains("2 of 2 nodes up · this dashboard is on east"));
    drop(mounted);
    drop(owner);
}
