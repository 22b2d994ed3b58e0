//! Opening the cluster's JetStream key-value buckets.

use async_nats::jetstream::{self, kv};

/// Open the bucket `name`, or create it: history 1, as many replicas as
/// there are NATS servers, up to 3 (JetStream's usual).
pub(crate) async fn open(
    js: &jetstream::Context,
    client: &async_nats::Client,
    name: &str,
) -> Result<kv::Store, String> {
    if let Ok(store) = js.get_key_value(name).await {
        return Ok(store);
    }
    let servers = 1 + client.server_info().connect_urls.len().saturating_sub(1);
    js.create_key_value(kv::Config {
        bucket: name.to_string(),
        history: 1,
        num_replicas: servers.clamp(1, 3),
        ..Default::default()
    })
    .await
    .map_err(|err| format!("{err} (is JetStream on? nats-server -js)"))
}
