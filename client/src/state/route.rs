//! Pages and their addresses: hash routes such as `#/devices` or
//! `#/device/kite/sim-1`, so a reload or a link shows the same page.

use super::devices::DeviceKey;

/// One page of the dashboard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Page {
    Devices,
    Device(DeviceKey),
    Alarms,
    Events,
    Topics,
    Publish,
    Broker,
    Cluster,
    Bridges,
    Users,
    Connection,
}

/// The navigation bar: page, label, address.
pub const NAV: [(&str, &str); 10] = [
    ("devices", "Devices"),
    ("alarms", "Alarms"),
    ("events", "Events"),
    ("topics", "Topics"),
    ("publish", "Publish"),
    ("broker", "Broker"),
    ("cluster", "Cluster"),
    ("bridges", "Bridges"),
    ("users", "Users"),
    ("connection", "Connection"),
];

impl Page {
    /// The page for `location.hash` (with or without `#`, `#/`); unknown
    /// addresses show the devices.
    pub fn from_hash(hash: &str) -> Page {
        let path = hash.trim_start_matches('#').trim_start_matches('/');
        let mut parts = path.splitn(3, '/');
        match (parts.next().unwrap_or(""), parts.next(), parts.next()) {
            ("device", Some(source), Some(id)) => DeviceKey::from_slug(source, &decode(id))
                .map(Page::Device)
                .unwrap_or(Page::Devices),
            ("alarms", ..) => Page::Alarms,
            ("events", ..) => Page::Events,
            ("topics", ..) => Page::Topics,
            ("publish", ..) => Page::Publish,
            ("broker", ..) => Page::Broker,
            ("cluster", ..) => Page::Cluster,
            ("bridges", ..) => Page::Bridges,
            ("users", ..) => Page::Users,
            ("connection", ..) => Page::Connection,
            _ => Page::Devices,
        }
    }

    /// The address of this page, `#/…`.
    pub fn hash(&self) -> String {
        match self {
            Page::Device(key) => format!("#/device/{}/{}", key.source_slug(), encode(&key.id)),
            other => format!("#/{}", other.slug()),
        }
    }

    /// The navigation entry this page belongs to.
    pub fn slug(&self) -> &'static str {
        match self {
            Page::Devices | Page::Device(_) => "devices",
            Page::Alarms => "alarms",
            Page::Events => "events",
            Page::Topics => "topics",
            Page::Publish => "publish",
            Page::Broker => "broker",
            Page::Cluster => "cluster",
            Page::Bridges => "bridges",
            Page::Users => "users",
            Page::Connection => "connection",
        }
    }
}

/// Percent-encode what cannot stand in a hash path segment.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Undo [`encode`]; malformed escapes are kept as they are.
pub fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(byte) = u8::from_str_radix(hex, 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use kite_convention::Source;

    use super::*;

    #[test]
    fn hashes_round_trip() {
        let pages = [
            Page::Devices,
            Page::Device(DeviceKey::new(Source::Kite, "sim-1")),
            Page::Device(DeviceKey::new(Source::HomeAssistant, "0x00158d/porch é")),
            Page::Alarms,
            Page::Events,
            Page::Topics,
            Page::Publish,
            Page::Broker,
            Page::Cluster,
            Page::Bridges,
            Page::Users,
            Page::Connection,
        ];
        for page in pages {
            assert_eq!(Page::from_hash(&page.hash()), page, "{}", page.hash());
        }
        assert_eq!(
            Page::Device(DeviceKey::new(Source::Kite, "sim-1")).hash(),
            "#/device/kite/sim-1"
        );
    }

    #[test]
    fn odd_hashes_show_the_devices() {
        for hash in [
            "",
            "#",
            "#/",
            "#/nope",
            "#/device",
            "#/device/zz/a",
            "#/device/kite/",
        ] {
            assert_eq!(Page::from_hash(hash), Page::Devices, "{hash}");
        }
        assert_eq!(Page::from_hash("alarms"), Page::Alarms);
        assert_eq!(Page::from_hash("#/alarms/extra"), Page::Alarms);
    }

    #[test]
    fn escapes() {
        assert_eq!(encode("a/b c"), "a%2Fb%20c");
        assert_eq!(decode("a%2Fb%20c"), "a/b c");
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz"), "%zz");
        assert_eq!(decode("%4"), "%4");
        assert_eq!(decode("%é"), "%é");
    }
}
