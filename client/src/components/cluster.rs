//! The cluster page: every node heard under `$SYS/brokers/<node-id>/...`
//! (see [`crate::state::cluster`]), or a note that the broker is a single
//! node.

use leptos::prelude::*;

use crate::state::cluster::{NodeRow, NodeState, DOWN_AFTER_INTERVALS, MIN_DOWN_AFTER_MS};
use crate::state::sys::{format_si, format_uptime};
use crate::store::Store;

/// The nodes of the cluster with their state, clients, subscriptions,
/// message rates, uptime and version; which one this dashboard is
/// connected to.
///
/// Stable ids: `#page-cluster`, `#cluster-summary`, `#cluster-url`,
/// `#cluster-single` (the single-node note), `#cluster-waiting` (no `$SYS`
/// yet), `#cluster-nodes` with `tr.node[data-node][data-state]` (`up`,
/// `waiting`, `down`; `.own` on the dashboard's node) and cells
/// `.node-state`, `.node-own`, `.node-clients`, `.node-sessions`,
/// `.node-subscriptions`, `.node-in`, `.node-out`, `.node-uptime`,
/// `.node-version`, `.node-quiet`.
#[component]
pub fn ClusterPage(store: Store) -> impl IntoView {
    let rows = Memo::new(move |_| {
        let now = store.data.now.get();
        store.data.sys.with(|s| s.cluster.rows(now))
    });
    let heard_sys = move || store.data.sys.with(|s| !s.values.is_empty());
    let single = move || rows.with(Vec::is_empty) && heard_sys();
    let waiting = move || rows.with(Vec::is_empty) && !heard_sys();
    let summary = move || {
        rows.with(|rows| {
            if rows.is_empty() {
                return String::new();
            }
            let up = rows.iter().filter(|r| r.state == NodeState::Up).count();
            let own = rows
                .iter()
                .find(|r| r.own)
                .map_or_else(|| "not recognised yet".to_owned(), |r| r.id.clone());
            format!(
                "{up} of {} nodes up · this dashboard is on {own}",
                rows.len()
            )
        })
    };
    view! {
        <section id="page-cluster" class="page">
            <div class="page-head">
                <h2>"Cluster"</h2>
                <span id="cluster-summary" class="hint">{summary}</span>
            </div>
            <p class="hint">
                "Connected to " <code id="cluster-url">{move || store.connection.broker_url.get()}</code>
                ". Each node publishes its figures under $SYS/brokers/<node-id>/ every --sys-interval seconds; "
                {format!(
                    "a node is down when they stopped changing for {DOWN_AFTER_INTERVALS} of its intervals (at least {} s).",
                    MIN_DOWN_AFTER_MS / 1000
                )}
            </p>
            {move || waiting().then(|| view! {
                <p id="cluster-waiting" class="empty card">
                    "No $SYS figures yet: the broker publishes them every --sys-interval seconds (10 s by default)."
                </p>
            })}
            {move || single().then(|| view! {
                <div id="cluster-single" class="card">
                    <h3>"This broker is a single node"</h3>
                    <p>
                        "No node publishes $SYS/brokers/<node-id>/… here, so this broker runs alone. "
                        "To run several nodes sharing one topic space over NATS, see the README's "
                        <strong>"Cluster"</strong> " section (" <code>"--cluster nats://… --node-id NAME"</code>
                        "), or try " <code>"make cluster"</code> " (three nodes on this machine)."
                    </p>
                </div>
            })}
            <div class="card table-scroll" class:hidden=move || rows.with(Vec::is_empty)>
                <table id="cluster-nodes">
                    <thead>
                        <tr>
                            <th>"Node"</th>
                            <th>"State"</th>
                            <th>"Clients"</th>
                            <th title="connected, and sessions kept for clients away">"Sessions"</th>
                            <th>"Subscriptions"</th>
                            <th>"In msg/s"</th>
                            <th>"Out msg/s"</th>
                            <th>"Uptime"</th>
                            <th>"Version"</th>
                            <th>"Last change"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {move || rows.get().into_iter().map(node_row).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
}

fn node_row(row: NodeRow) -> impl IntoView {
    let count = |v: Option<f64>| v.map_or_else(|| "—".to_owned(), format_si);
    let state = row.state.as_str();
    let pill = match row.state {
        NodeState::Up => "pill ok node-state",
        NodeState::Down => "pill bad node-state",
        NodeState::Waiting => "pill node-state",
    };
    view! {
        <tr class="node" class:own=row.own class:down=row.state == NodeState::Down data-node=row.id.clone() data-state=state>
            <td>
                <strong>{row.id.clone()}</strong>
                {row.own.then(|| view! { " " <span class="pill node-own">"this dashboard"</span> })}
            </td>
            <td><span class=pill>{state}</span></td>
            <td class="num node-clients">{count(row.clients_connected)}</td>
            <td class="num node-sessions">{count(row.clients_total)}</td>
            <td class="num node-subscriptions">{count(row.subscriptions)}</td>
            <td class="num node-in">{count(row.messages_in_rate)}</td>
            <td class="num node-out">{count(row.messages_out_rate)}</td>
            <td class="num node-uptime">{row.uptime_s.map_or_else(|| "—".to_owned(), |s| format_uptime(s as u64))}</td>
            <td class="node-version">{row.version.clone().unwrap_or_default()}</td>
            <td class="num node-quiet" title=format!("judged on an interval of {} s", row.interval_s)>
                {format!("{} s ago", row.quiet_ms / 1000)}
            </td>
        </tr>
    }
}
