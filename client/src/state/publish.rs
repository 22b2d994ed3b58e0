//! The publish panel's draft and the subscription list, checked and turned
//! into what the MQTT session sends.

use bytes::Bytes;
use mqtt::topic::{validate_topic_filter, validate_topic_name};
use mqtt::{ByteString, Properties, QoS, RetainHandling, SubscribeFilter, SubscriptionOptions};

/// A publish ready for the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    pub topic: String,
    pub payload: Bytes,
    pub qos: QoS,
    pub retain: bool,
    /// MQTT 5 only; dropped by the session before v5.
    pub properties: Properties,
}

impl Outgoing {
    /// A plain publish without properties.
    pub fn simple(topic: &str, payload: impl Into<Bytes>, qos: QoS, retain: bool) -> Outgoing {
        Outgoing {
            topic: topic.to_owned(),
            payload: payload.into(),
            qos,
            retain,
            properties: Properties::default(),
        }
    }
}

pub fn qos_from(level: u8) -> QoS {
    match level {
        1 => QoS::AtLeastOnce,
        2 => QoS::ExactlyOnce,
        _ => QoS::AtMostOnce,
    }
}

/// The publish form as typed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PublishDraft {
    pub topic: String,
    pub payload: String,
    pub qos: u8,
    pub retain: bool,
    pub content_type: String,
    pub response_topic: String,
    pub correlation_data: String,
    /// Seconds, empty for none.
    pub message_expiry: String,
    /// One `name=value` (or `name: value`) per line.
    pub user_properties: String,
    /// Say the payload is UTF-8 (payload format indicator 1).
    pub utf8: bool,
}

impl PublishDraft {
    /// The publish, or what is wrong with the form.
    pub fn build(&self) -> Result<Outgoing, String> {
        let topic = self.topic.trim();
        validate_topic_name(topic).map_err(|e| format!("topic: {e}"))?;
        let mut properties = Properties::default();
        let content_type = self.content_type.trim();
        if !content_type.is_empty() {
            properties.content_type = Some(ByteString::from(content_type));
        }
        let response_topic = self.response_topic.trim();
        if !response_topic.is_empty() {
            validate_topic_name(response_topic).map_err(|e| format!("response topic: {e}"))?;
            properties.response_topic = Some(ByteString::from(response_topic));
        }
        if !self.correlation_data.is_empty() {
            properties.correlation_data =
                Some(Bytes::copy_from_slice(self.correlation_data.as_bytes()));
        }
        let expiry = self.message_expiry.trim();
        if !expiry.is_empty() {
            let seconds = expiry
                .parse::<u32>()
                .map_err(|_| "message expiry: whole seconds, e.g. 60".to_owned())?;
            properties.message_expiry_interval = Some(seconds);
        }
        properties.user_properties = parse_user_properties(&self.user_properties)?;
        if self.utf8 {
            properties.payload_format_indicator = Some(1);
        }
        Ok(Outgoing {
            topic: topic.to_owned(),
            payload: Bytes::copy_from_slice(self.payload.as_bytes()),
            qos: qos_from(self.qos),
            retain: self.retain,
            properties,
        })
    }
}

/// `name=value` or `name: value` lines; blank lines are skipped.
pub fn parse_user_properties(text: &str) -> Result<Vec<(ByteString, ByteString)>, String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| {
            let (name, value) = line
                .split_once('=')
                .or_else(|| line.split_once(':'))
                .ok_or_else(|| format!("user property {line:?}: write name=value"))?;
            let name = name.trim();
            if name.is_empty() {
                return Err(format!("user property {line:?} has no name"));
            }
            Ok((ByteString::from(name), ByteString::from(value.trim())))
        })
        .collect()
}

/// The MQTT 5 properties of a received message, as name and text, for
/// display.
pub fn describe_properties(properties: &Properties) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(v) = properties.payload_format_indicator {
        out.push((
            "payload format".to_owned(),
            if v == 1 { "UTF-8" } else { "bytes" }.to_owned(),
        ));
    }
    if let Some(v) = properties.message_expiry_interval {
        out.push(("message expiry".to_owned(), format!("{v} s")));
    }
    if let Some(v) = &properties.content_type {
        out.push(("content type".to_owned(), v.to_string()));
    }
    if let Some(v) = &properties.response_topic {
        out.push(("response topic".to_owned(), v.to_string()));
    }
    if let Some(v) = &properties.correlation_data {
        out.push((
            "correlation data".to_owned(),
            String::from_utf8_lossy(v).into_owned(),
        ));
    }
    for (name, value) in &properties.user_properties {
        out.push((name.to_string(), value.to_string()));
    }
    out
}

/// Where a subscription stands with the broker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubState {
    /// Not yet acknowledged (or not connected).
    Pending,
    /// Granted at this QoS.
    Granted(u8),
    /// Refused, with the reason.
    Refused(String),
}

/// One subscription of the dashboard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    pub filter: String,
    pub qos: u8,
    /// v5: do not receive our own publishes.
    pub no_local: bool,
    pub state: SubState,
    /// Needed by the pages (removing it would empty them).
    pub builtin: bool,
}

impl Subscription {
    /// As the session sends it. Retain-as-published is always asked for (v5)
    /// so the topic tree knows which messages are retained.
    pub fn to_filter(&self) -> SubscribeFilter {
        SubscribeFilter {
            filter: ByteString::from(self.filter.as_str()),
            options: SubscriptionOptions {
                qos: qos_from(self.qos),
                no_local: self.no_local,
                retain_as_published: true,
                retain_handling: RetainHandling::SendAtSubscribe,
            },
        }
    }
}

/// The subscriptions the dashboard holds (and renews after each reconnect).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionSet {
    pub list: Vec<Subscription>,
}

/// Every topic, the broker's `$SYS` tree and the alarm topics (`#` matches
/// no topic starting with `$`).
pub const BUILTIN: [&str; 3] = [
    "#",
    kite_convention::sys::FILTER,
    kite_convention::alarms::FILTER,
];

impl Default for SubscriptionSet {
    fn default() -> SubscriptionSet {
        SubscriptionSet {
            list: BUILTIN
                .iter()
                .map(|f| Subscription {
                    filter: (*f).to_owned(),
                    qos: if *f == "#" { 0 } else { 1 },
                    no_local: false,
                    state: SubState::Pending,
                    builtin: true,
                })
                .collect(),
        }
    }
}

impl SubscriptionSet {
    /// Add a subscription (or change the QoS of an existing one); returns
    /// it, to send.
    pub fn add(&mut self, filter: &str, qos: u8, no_local: bool) -> Result<Subscription, String> {
        let filter = filter.trim();
        validate_topic_filter(filter).map_err(|e| format!("filter: {e}"))?;
        let sub = Subscription {
            filter: filter.to_owned(),
            qos: qos.min(2),
            no_local,
            state: SubState::Pending,
            builtin: BUILTIN.contains(&filter),
        };
        match self.list.iter_mut().find(|s| s.filter == filter) {
            Some(existing) => *existing = sub.clone(),
            None => self.list.push(sub.clone()),
        }
        Ok(sub)
    }

    /// Add a subscription the pages need besides [`BUILTIN`] (the history's
    /// reply topic); returns it, to send.
    pub fn add_builtin(&mut self, filter: &str, qos: u8) -> Result<Subscription, String> {
        let mut sub = self.add(filter, qos, false)?;
        sub.builtin = true;
        if let Some(held) = self.list.iter_mut().find(|s| s.filter == sub.filter) {
            held.builtin = true;
        }
        Ok(sub)
    }

    /// Remove a subscription; true when it was there.
    pub fn remove(&mut self, filter: &str) -> bool {
        let before = self.list.len();
        self.list.retain(|s| s.filter != filter);
        self.list.len() != before
    }

    /// The SUBACK for `filters`: one result per filter.
    pub fn acknowledged(&mut self, filters: &[String], results: &[Result<u8, String>]) {
        for (filter, result) in filters.iter().zip(results) {
            if let Some(sub) = self.list.iter_mut().find(|s| &s.filter == filter) {
                sub.state = match result {
                    Ok(qos) => SubState::Granted(*qos),
                    Err(why) => SubState::Refused(why.clone()),
                };
            }
        }
    }

    /// The connection dropped: everything is pending again.
    pub fn reset(&mut self) {
        for sub in &mut self.list {
            sub.state = SubState::Pending;
        }
    }

    pub fn filters(&self) -> Vec<SubscribeFilter> {
        self.list.iter().map(Subscription::to_filter).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_draft_with_every_property() {
        let draft = PublishDraft {
            topic: " devices/x/cmd ".into(),
            payload: "on".into(),
            qos: 2,
            retain: true,
            content_type: "text/plain".into(),
            response_topic: "replies/x".into(),
            correlation_data: "req-1".into(),
            message_expiry: "60".into(),
            user_properties: "source=dashboard\n\n  team: ops \n".into(),
            utf8: true,
        };
        let out = draft.build().unwrap();
        assert_eq!(out.topic, "devices/x/cmd");
        assert_eq!(&out.payload[..], b"on");
        assert_eq!((out.qos, out.retain), (QoS::ExactlyOnce, true));
        let p = &out.properties;
        assert_eq!(p.content_type.as_deref(), Some("text/plain"));
        assert_eq!(p.response_topic.as_deref(), Some("replies/x"));
        assert_eq!(p.correlation_data.as_deref(), Some(&b"req-1"[..]));
        assert_eq!(p.message_expiry_interval, Some(60));
        assert_eq!(p.payload_format_indicator, Some(1));
        assert_eq!(
            p.user_properties,
            [
                (ByteString::from("source"), ByteString::from("dashboard")),
                (ByteString::from("team"), ByteString::from("ops"))
            ]
        );
        let described = describe_properties(p);
        assert_eq!(described.len(), 7);
        assert_eq!(described[6], ("team".to_owned(), "ops".to_owned()));
    }

    #[test]
    fn draft_mistakes_are_explained() {
        let draft = |f: fn(&mut PublishDraft)| {
            let mut d = PublishDraft {
                topic: "t".into(),
                ..PublishDraft::default()
            };
            f(&mut d);
            d.build().unwrap_err()
        };
        assert_eq!(
            draft(|d| d.topic = "a/+".into()),
            "topic: wildcard in topic name"
        );
        assert_eq!(draft(|d| d.topic = String::new()), "topic: empty topic");
        assert!(draft(|d| d.message_expiry = "soon".into()).starts_with("message expiry"));
        assert!(draft(|d| d.user_properties = "novalue".into()).contains("name=value"));
        assert!(draft(|d| d.user_properties = "=x".into()).contains("no name"));
        assert!(draft(|d| d.response_topic = "#".into()).starts_with("response topic"));
        let plain = PublishDraft {
            topic: "t".into(),
            ..PublishDraft::default()
        };
        assert_eq!(
            plain.build().unwrap(),
            Outgoing::simple("t", Bytes::new(), QoS::AtMostOnce, false)
        );
    }

    #[test]
    fn subscriptions_add_replace_remove_and_track_acks() {
        let mut set = SubscriptionSet::default();
        let builtin: Vec<&str> = set.list.iter().map(|s| s.filter.as_str()).collect();
        assert_eq!(builtin, BUILTIN);
        assert!(set.add("a/#/b", 0, false).is_err());
        let sub = set.add(" sensors/+/temp ", 1, true).unwrap();
        assert_eq!(sub.filter, "sensors/+/temp");
        assert!(!sub.builtin);
        assert_eq!(sub.to_filter().options.qos, QoS::AtLeastOnce);
        assert!(sub.to_filter().options.no_local);
        set.add("sensors/+/temp", 2, false).unwrap();
        assert_eq!(set.list.len(), 4);
        assert_eq!(set.list[3].qos, 2);
        set.acknowledged(
            &["sensors/+/temp".into(), "#".into()],
            &[Ok(1), Err("not authorized".into())],
        );
        assert_eq!(set.list[3].state, SubState::Granted(1));
        assert_eq!(
            set.list[0].state,
            SubState::Refused("not authorized".into())
        );
        set.reset();
        assert!(set.list.iter().all(|s| s.state == SubState::Pending));
        let reply = set.add_builtin("$kite/history/reply/me", 1).unwrap();
        assert!(reply.builtin && set.list[4].builtin);
        assert!(set.remove(&reply.filter));
        assert!(set.remove("sensors/+/temp"));
        assert!(!set.remove("sensors/+/temp"));
        assert_eq!(set.filters().len(), 3);
        assert!(set.filters().iter().all(|f| f.options.retain_as_published));
    }
}
