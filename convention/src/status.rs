//! `devices/<id>/status`: retained `online` when a device connects, and
//! `offline` as its last will, so the broker marks it offline when the
//! connection dies without a goodbye.

use std::{fmt, str::FromStr};

/// Whether a device is reachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Online,
    Offline,
}

/// A status payload that is neither `online` nor `offline`.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[error("not a device status: {0:?} (expected online or offline)")]
pub struct StatusError(pub String);

impl Status {
    /// The payload a device publishes.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Online => "online",
            Status::Offline => "offline",
        }
    }

    /// Parse a payload. Case and surrounding whitespace are ignored because
    /// other firmware spells it `Online` (Tasmota's LWT) or adds a newline
    /// (`mosquitto_pub -l`).
    pub fn parse(payload: &[u8]) -> Result<Status, StatusError> {
        let text = String::from_utf8_lossy(payload);
        let trimmed = text.trim();
        if trimmed.eq_ignore_ascii_case("online") {
            Ok(Status::Online)
        } else if trimmed.eq_ignore_ascii_case("offline") {
            Ok(Status::Offline)
        } else {
            Err(StatusError(trimmed.to_owned()))
        }
    }

    pub fn is_online(self) -> bool {
        self == Status::Online
    }
}

impl FromStr for Status {
    type Err = StatusError;

    fn from_str(s: &str) -> Result<Status, StatusError> {
        Status::parse(s.as_bytes())
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for status in [Status::Online, Status::Offline] {
            assert_eq!(Status::parse(status.as_str().as_bytes()), Ok(status));
            assert_eq!(status.to_string().parse::<Status>(), Ok(status));
        }
    }

    #[test]
    fn tolerant_of_case_and_whitespace() {
        assert_eq!(Status::parse(b"Online"), Ok(Status::Online));
        assert_eq!(Status::parse(b" OFFLINE\n"), Ok(Status::Offline));
    }

    #[test]
    fn anything_else_is_an_error() {
        assert_eq!(Status::parse(b"1"), Err(StatusError("1".into())));
        assert!(Status::parse(b"").is_err());
        assert!(Status::parse(&[0xff, 0xfe]).is_err());
    }
}
