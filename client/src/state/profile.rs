//! Connection profiles: broker URL, client id, credentials, protocol
//! version, keepalive, session and last will. Several are kept, as JSON in
//! the browser's localStorage.

use bytes::Bytes;
use mqtt::client::ClientOptions;
use mqtt::topic::validate_topic_name;
use mqtt::{ByteString, LastWill, Properties, Protocol};
use serde_json::{json, Map, Value};

use super::publish::qos_from;

/// The localStorage key of the saved profiles.
pub const STORAGE_KEY: &str = "kite.profiles";

/// One way to connect.
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    pub name: String,
    pub url: String,
    /// Empty: a random `kite-dash-…` id.
    pub client_id: String,
    pub username: String,
    pub password: String,
    /// `"5"` or `"3.1.1"`.
    pub protocol: String,
    /// Seconds.
    pub keep_alive: u16,
    pub clean_start: bool,
    /// Seconds the broker keeps the session after a disconnect (v5).
    pub session_expiry: u32,
    pub will_topic: String,
    pub will_payload: String,
    pub will_qos: u8,
    pub will_retain: bool,
}

impl Default for Profile {
    fn default() -> Profile {
        Profile {
            name: "default".to_owned(),
            url: String::new(),
            client_id: String::new(),
            username: String::new(),
            password: String::new(),
            protocol: "5".to_owned(),
            keep_alive: 30,
            clean_start: true,
            session_expiry: 0,
            will_topic: String::new(),
            will_payload: String::new(),
            will_qos: 0,
            will_retain: false,
        }
    }
}

impl Profile {
    /// From its JSON form; missing or odd fields take their defaults. (By
    /// hand, not derived: derives cost too much of the wasm bundle.)
    fn from_value(v: &Value) -> Profile {
        let d = Profile::default();
        let text = |key: &str, default: String| {
            v.get(key)
                .and_then(Value::as_str)
                .map_or(default, str::to_owned)
        };
        let int = |key: &str, default: u64| v.get(key).and_then(Value::as_u64).unwrap_or(default);
        let flag =
            |key: &str, default: bool| v.get(key).and_then(Value::as_bool).unwrap_or(default);
        Profile {
            name: text("name", d.name),
            url: text("url", d.url),
            client_id: text("client_id", d.client_id),
            username: text("username", d.username),
            password: text("password", d.password),
            protocol: text("protocol", d.protocol),
            keep_alive: int("keep_alive", 30).min(u64::from(u16::MAX)) as u16,
            clean_start: flag("clean_start", d.clean_start),
            session_expiry: int("session_expiry", 0).min(u64::from(u32::MAX)) as u32,
            will_topic: text("will_topic", d.will_topic),
            will_payload: text("will_payload", d.will_payload),
            will_qos: int("will_qos", 0).min(2) as u8,
            will_retain: flag("will_retain", d.will_retain),
        }
    }

    fn to_value(&self) -> Value {
        json!({
            "name": self.name,
            "url": self.url,
            "client_id": self.client_id,
            "username": self.username,
            "password": self.password,
            "protocol": self.protocol,
            "keep_alive": self.keep_alive,
            "clean_start": self.clean_start,
            "session_expiry": self.session_expiry,
            "will_topic": self.will_topic,
            "will_payload": self.will_payload,
            "will_qos": self.will_qos,
            "will_retain": self.will_retain,
        })
    }

    /// The default profile for a page whose broker is at `url`.
    pub fn for_url(url: &str) -> Profile {
        Profile {
            url: url.to_owned(),
            ..Profile::default()
        }
    }

    pub fn protocol(&self) -> Protocol {
        if self.protocol.trim() == "3.1.1" {
            Protocol::V311
        } else {
            Protocol::V5
        }
    }

    /// Check the profile and turn it into session options;
    /// `random_client_id` is used when the profile names none.
    pub fn to_options(&self, random_client_id: &str) -> Result<ClientOptions, String> {
        let url = self.url.trim();
        if !(url.starts_with("ws://") || url.starts_with("wss://")) {
            return Err("the broker URL starts with ws:// or wss://".to_owned());
        }
        let client_id = self.client_id.trim();
        let mut options = ClientOptions::new(if client_id.is_empty() {
            random_client_id
        } else {
            client_id
        });
        options.protocol = self.protocol();
        options.keep_alive = self.keep_alive;
        options.clean_start = self.clean_start;
        if !self.username.is_empty() {
            options.username = Some(self.username.clone());
        }
        if !self.password.is_empty() {
            if self.username.is_empty() && options.protocol != Protocol::V5 {
                return Err("MQTT 3.1.1 sends a password only with a username".to_owned());
            }
            options.password = Some(self.password.clone().into_bytes());
        }
        if options.protocol.is_v5() && self.session_expiry > 0 {
            options.properties = Properties {
                session_expiry_interval: Some(self.session_expiry),
                ..Properties::default()
            };
        }
        let will_topic = self.will_topic.trim();
        if !will_topic.is_empty() {
            validate_topic_name(will_topic).map_err(|e| format!("will topic: {e}"))?;
            options.will = Some(LastWill {
                topic: ByteString::from(will_topic),
                payload: Bytes::copy_from_slice(self.will_payload.as_bytes()),
                qos: qos_from(self.will_qos),
                retain: self.will_retain,
                properties: Properties::default(),
            });
        }
        Ok(options)
    }
}

/// The saved profiles and which one is in use.
#[derive(Clone, Debug, PartialEq)]
pub struct Profiles {
    pub list: Vec<Profile>,
    /// The name of the profile in use.
    pub selected: String,
}

impl Default for Profiles {
    fn default() -> Profiles {
        Profiles {
            list: vec![Profile::default()],
            selected: "default".to_owned(),
        }
    }
}

impl Profiles {
    /// Profiles from their stored JSON; a default profile on this page's
    /// broker (`url`) when there is nothing usable. A stored profile with no
    /// URL gets `url`.
    pub fn load(stored: Option<&str>, url: &str) -> Profiles {
        let mut profiles = stored
            .and_then(|json| serde_json::from_str::<Value>(json).ok())
            .map(|v| Profiles {
                list: v
                    .get("list")
                    .and_then(Value::as_array)
                    .map(|l| {
                        l.iter()
                            .filter(|p| p.is_object())
                            .map(Profile::from_value)
                            .collect()
                    })
                    .unwrap_or_default(),
                selected: v
                    .get("selected")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            })
            .filter(|p| !p.list.is_empty())
            .unwrap_or_default();
        for profile in &mut profiles.list {
            if profile.url.trim().is_empty() {
                profile.url = url.to_owned();
            }
        }
        if profiles.get(&profiles.selected).is_none() {
            profiles.selected = profiles.list[0].name.clone();
        }
        profiles
    }

    pub fn to_json(&self) -> String {
        let mut o = Map::new();
        o.insert(
            "list".into(),
            Value::Array(self.list.iter().map(Profile::to_value).collect()),
        );
        o.insert("selected".into(), json!(self.selected));
        Value::Object(o).to_string()
    }

    pub fn get(&self, name: &str) -> Option<&Profile> {
        self.list.iter().find(|p| p.name == name)
    }

    /// The profile in use.
    pub fn current(&self) -> Profile {
        self.get(&self.selected)
            .or(self.list.first())
            .cloned()
            .unwrap_or_default()
    }

    /// Save `profile` (replacing one of the same name) and select it.
    pub fn save(&mut self, profile: Profile) -> Result<(), String> {
        let name = profile.name.trim().to_owned();
        if name.is_empty() {
            return Err("a profile needs a name".to_owned());
        }
        let profile = Profile {
            name: name.clone(),
            ..profile
        };
        match self.list.iter_mut().find(|p| p.name == name) {
            Some(existing) => *existing = profile,
            None => self.list.push(profile),
        }
        self.selected = name;
        Ok(())
    }

    /// Delete a profile; the last one cannot go.
    pub fn delete(&mut self, name: &str) -> Result<(), String> {
        if self.list.len() <= 1 {
            return Err("the last profile cannot be deleted".to_owned());
        }
        self.list.retain(|p| p.name != name);
        if self.selected == name {
            self.selected = self.list[0].name.clone();
        }
        Ok(())
    }

    /// The URL of the current profile changed (the header's quick form).
    pub fn set_current_url(&mut self, url: &str) {
        let selected = self.selected.clone();
        if let Some(profile) = self.list.iter_mut().find(|p| p.name == selected) {
            profile.url = url.trim().to_owned();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "ws://127.0.0.1:8080/mqtt";

    #[test]
    fn the_default_profile_uses_the_page_broker_and_v5() {
        let profiles = Profiles::load(None, URL);
        let current = profiles.current();
        assert_eq!(current.url, URL);
        let options = current.to_options("kite-dash-00000001").unwrap();
        assert_eq!(options.client_id, "kite-dash-00000001");
        assert_eq!(options.protocol, Protocol::V5);
        assert_eq!(options.keep_alive, 30);
        assert!(options.clean_start);
        assert!(options.will.is_none() && options.username.is_none());
        assert_eq!(Profiles::load(Some("garbage"), URL), profiles);
        assert_eq!(Profiles::load(Some(r#"{"list":[]}"#), URL), profiles);
    }

    #[test]
    fn every_option_reaches_the_session() {
        let profile = Profile {
            name: "lab".into(),
            url: "wss://broker.example/mqtt".into(),
            client_id: "my-dash".into(),
            username: "alice".into(),
            password: "secret".into(),
            protocol: "5".into(),
            keep_alive: 10,
            clean_start: false,
            session_expiry: 3600,
            will_topic: "dash/my-dash/status".into(),
            will_payload: "gone".into(),
            will_qos: 1,
            will_retain: true,
        };
        let options = profile.to_options("unused").unwrap();
        assert_eq!(options.client_id, "my-dash");
        assert_eq!(options.username.as_deref(), Some("alice"));
        assert_eq!(options.password.as_deref(), Some(&b"secret"[..]));
        assert!(!options.clean_start);
        assert_eq!(options.properties.session_expiry_interval, Some(3600));
        let will = options.will.unwrap();
        assert_eq!(
            (&*will.topic, &will.payload[..]),
            ("dash/my-dash/status", &b"gone"[..])
        );
        assert!(will.retain);
        let v3 = Profile {
            protocol: "3.1.1".into(),
            ..profile.clone()
        };
        let options = v3.to_options("x").unwrap();
        assert_eq!(options.protocol, Protocol::V311);
        assert_eq!(options.properties.session_expiry_interval, None);
    }

    #[test]
    fn bad_profiles_are_refused() {
        let bad = |f: fn(&mut Profile)| {
            let mut p = Profile::for_url(URL);
            f(&mut p);
            p.to_options("x").unwrap_err()
        };
        assert!(bad(|p| p.url = "http://x/mqtt".into()).contains("ws://"));
        assert!(bad(|p| p.will_topic = "a/#".into()).starts_with("will topic"));
        assert!(bad(|p| {
            p.protocol = "3.1.1".into();
            p.password = "pw".into();
        })
        .contains("username"));
    }

    #[test]
    fn profiles_save_select_delete_and_round_trip() {
        let mut profiles = Profiles::load(None, URL);
        assert!(
            profiles.save(Profile::for_url("ws://a/mqtt")).is_ok(),
            "replaces default"
        );
        assert_eq!(profiles.list.len(), 1);
        let lab = Profile {
            name: " lab ".into(),
            ..Profile::for_url("ws://lab/mqtt")
        };
        profiles.save(lab).unwrap();
        assert_eq!(profiles.selected, "lab");
        assert_eq!(profiles.current().url, "ws://lab/mqtt");
        assert!(profiles
            .save(Profile {
                name: " ".into(),
                ..Profile::default()
            })
            .is_err());
        profiles.set_current_url(" ws://lab2/mqtt ");
        assert_eq!(profiles.current().url, "ws://lab2/mqtt");

        let json = profiles.to_json();
        let loaded = Profiles::load(Some(&json), URL);
        assert_eq!(loaded, profiles);

        profiles.delete("lab").unwrap();
        assert_eq!(profiles.selected, "default");
        assert!(profiles.delete("default").is_err());
    }

    #[test]
    fn stored_profiles_without_url_get_the_page_broker() {
        let loaded = Profiles::load(Some(r#"{"list":[{"name":"x"}],"selected":"gone"}"#), URL);
        assert_eq!(loaded.selected, "x");
        assert_eq!(loaded.current().url, URL);
        assert_eq!(loaded.current().keep_alive, 30);
    }
}
