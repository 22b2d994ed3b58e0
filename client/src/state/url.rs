//! The broker URL the dashboard connects to by default.

/// Used when the page has no usable location (e.g. opened from `file://`):
/// the broker's default HTTP listener.
pub const FALLBACK_BROKER_URL: &str = "ws://127.0.0.1:8080/mqtt";

/// The path the broker serves MQTT over WebSocket on.
pub const MQTT_PATH: &str = "/mqtt";

/// The broker URL for a page loaded from `protocol` (`window.location.protocol`,
/// e.g. `"https:"`) and `host` (`window.location.host`, host and port): the
/// broker that served the page, on `/mqtt`, over `wss:` when the page came
/// over HTTPS and `ws:` otherwise.
pub fn broker_url_from_location(protocol: &str, host: &str) -> String {
    let scheme = match protocol.trim_end_matches(':').to_ascii_lowercase().as_str() {
        "https" => "wss",
        "http" => "ws",
        _ => return FALLBACK_BROKER_URL.to_owned(),
    };
    if host.is_empty() {
        return FALLBACK_BROKER_URL.to_owned();
    }
    format!("{scheme}://{host}{MQTT_PATH}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_page_gives_ws_on_the_same_host_and_port() {
        assert_eq!(
            broker_url_from_location("http:", "127.0.0.1:8080"),
            "ws://127.0.0.1:8080/mqtt"
        );
        assert_eq!(
            broker_url_from_location("http:", "localhost:8081"),
            "ws://localhost:8081/mqtt"
        );
    }

    #[test]
    fn https_page_gives_wss() {
        assert_eq!(
            broker_url_from_location("https:", "kite.example.org"),
            "wss://kite.example.org/mqtt"
        );
        assert_eq!(
            broker_url_from_location("HTTPS:", "[::1]:8443"),
            "wss://[::1]:8443/mqtt"
        );
    }

    #[test]
    fn protocol_without_colon_is_accepted() {
        assert_eq!(broker_url_from_location("http", "h:1"), "ws://h:1/mqtt");
    }

    #[test]
    fn pages_without_a_host_fall_back_to_the_local_broker() {
        assert_eq!(broker_url_from_location("file:", ""), FALLBACK_BROKER_URL);
        assert_eq!(broker_url_from_location("http:", ""), FALLBACK_BROKER_URL);
        assert_eq!(
            broker_url_from_location("about:", "whatever"),
            FALLBACK_BROKER_URL
        );
    }
}
