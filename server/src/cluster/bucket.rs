//! Opening the cluster's JetStream key-value buckets.

use async_nats::jetstream::{self, kv};

/// How many copies the cluster's streams and buckets keep: one per NATS
/// server, up to 3 (JetStream's usual). The servers are those `--cluster`
/// names (`given`) or those the server says it knows, whichever are more:
/// a server that has not met its routes yet knows only itself, and a
/// stream made then with one replica would die with that server.
pub(crate) fn replicas(client: &async_nats::Client, given: usize) -> usize {
    given
        .max(client.server_info().connect_urls.len())
        .clamp(1, 3)
}

/// Open the bucket `name`, or create it: history 1, [`replicas`] copies.
pub(crate) async fn open(
    js: &jetstream::Context,
    client: &async_nats::Client,
    given: usize,
    name: &str,
) -> Result<kv::Store, String> {
    if let Ok(store) = js.get_key_value(name).await {
        return Ok(store);
    }
    js.create_key_value(kv::Config {
        bucket: name.to_string(),
        history: 1,
        num_replicas: replicas(client, given),
        ..Default::default()
    })
    .await
    .map_err(|err| format!("{err} (is JetStream on? nats-server -js)"))
}
