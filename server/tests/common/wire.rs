//! Client → broker packets built byte by byte, one comment per field, so
//! the broker is tested by code it does not share.

/// A variable byte integer (remaining length, property length, subscription id).
pub fn varint(mut n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let mut byte = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if n == 0 {
            return out;
        }
    }
}

/// A UTF-8 string or binary field: two-byte big-endian length, then the bytes.
pub fn string(s: impl AsRef<[u8]>) -> Vec<u8> {
    let s = s.as_ref();
    let mut out = (s.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(s);
    out
}

/// A whole packet: first byte (type and flags), remaining length, body.
pub fn packet(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    out.extend(varint(body.len()));
    out.extend_from_slice(body);
    out
}

/// A v5 property block: property length, then the properties.
pub fn props(properties: &[u8]) -> Vec<u8> {
    let mut out = varint(properties.len());
    out.extend_from_slice(properties);
    out
}

/// One v5 property: identifier byte, then its already-encoded value.
pub fn prop(id: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![id];
    out.extend_from_slice(value);
    out
}

pub fn prop_u16(id: u8, value: u16) -> Vec<u8> {
    prop(id, &value.to_be_bytes())
}

pub fn prop_u32(id: u8, value: u32) -> Vec<u8> {
    prop(id, &value.to_be_bytes())
}

pub fn prop_str(id: u8, value: impl AsRef<[u8]>) -> Vec<u8> {
    prop(id, &string(value))
}

/// A last will in CONNECT.
#[derive(Clone, Default)]
pub struct Will<'a> {
    pub topic: &'a str,
    pub payload: &'a [u8],
    pub qos: u8,
    pub retain: bool,
    /// v5 will properties (without their length).
    pub props: Vec<u8>,
}

/// A CONNECT packet, 3.1.1 or 5.0.
#[derive(Clone)]
pub struct Connect<'a> {
    pub v5: bool,
    pub client_id: &'a str,
    pub clean: bool,
    pub keep_alive: u16,
    /// v5 CONNECT properties (without their length).
    pub props: Vec<u8>,
    pub will: Option<Will<'a>>,
}

impl<'a> Connect<'a> {
    pub fn v311(client_id: &'a str) -> Connect<'a> {
        Connect {
            v5: false,
            client_id,
            clean: true,
            keep_alive: 60,
            props: Vec::new(),
            will: None,
        }
    }

    pub fn v5(client_id: &'a str) -> Connect<'a> {
        Connect {
            v5: true,
            ..Connect::v311(client_id)
        }
    }

    pub fn clean(mut self, clean: bool) -> Self {
        self.clean = clean;
        self
    }

    pub fn keep_alive(mut self, seconds: u16) -> Self {
        self.keep_alive = seconds;
        self
    }

    pub fn props(mut self, props: Vec<u8>) -> Self {
        self.props = props;
        self
    }

    pub fn will(mut self, will: Will<'a>) -> Self {
        self.will = Some(will);
        self
    }

    pub fn bytes(&self) -> Vec<u8> {
        let mut body = string("MQTT"); // protocol name
        body.push(if self.v5 { 5 } else { 4 }); // protocol level
        let mut flags = 0u8;
        if self.clean {
            flags |= 0x02; // clean session / clean start
        }
        if let Some(will) = &self.will {
            flags |= 0x04; // will flag
            flags |= will.qos << 3; // will QoS
            if will.retain {
                flags |= 0x20; // will retain
            }
        }
        body.push(flags); // connect flags
        body.extend(self.keep_alive.to_be_bytes()); // keep alive, seconds
        if self.v5 {
            body.extend(props(&self.props)); // CONNECT properties
        }
        body.extend(string(self.client_id)); // client identifier
        if let Some(will) = &self.will {
            if self.v5 {
                body.extend(props(&will.props)); // will properties
            }
            body.extend(string(will.topic)); // will topic
            body.extend(string(will.payload)); // will payload
        }
        packet(0x10, &body) // CONNECT
    }
}

/// A PUBLISH. `props` are v5 properties without their length (ignored before v5).
pub fn publish(
    v5: bool,
    topic: &str,
    payload: &[u8],
    qos: u8,
    pid: u16,
    retain: bool,
    properties: &[u8],
) -> Vec<u8> {
    let first = 0x30 | (qos << 1) | u8::from(retain); // PUBLISH, QoS bits, RETAIN
    let mut body = string(topic); // topic name
    if qos > 0 {
        body.extend(pid.to_be_bytes()); // packet identifier
    }
    if v5 {
        body.extend(props(properties)); // PUBLISH properties
    }
    body.extend_from_slice(payload); // payload: the rest of the packet
    packet(first, &body)
}

/// A SUBSCRIBE: (filter, options byte) pairs. Options: bits 0-1 QoS, bit 2
/// no local, bit 3 retain as published, bits 4-5 retain handling (v5).
pub fn subscribe(v5: bool, pid: u16, properties: &[u8], filters: &[(&str, u8)]) -> Vec<u8> {
    let mut body = pid.to_be_bytes().to_vec(); // packet identifier
    if v5 {
        body.extend(props(properties)); // SUBSCRIBE properties
    }
    for (filter, options) in filters {
        body.extend(string(filter)); // topic filter
        body.push(*options); // subscription options
    }
    packet(0x82, &body) // SUBSCRIBE, reserved flags 0b0010
}

/// PUBACK / PUBREC / PUBCOMP (first byte given) with success: packet id only.
pub fn ack(first: u8, pid: u16) -> Vec<u8> {
    packet(first, &pid.to_be_bytes())
}

pub fn puback(pid: u16) -> Vec<u8> {
    ack(0x40, pid)
}

pub fn pubrec(pid: u16) -> Vec<u8> {
    ack(0x50, pid)
}

pub fn pubrel(pid: u16) -> Vec<u8> {
    ack(0x62, pid) // PUBREL, reserved flags 0b0010
}

pub fn pubcomp(pid: u16) -> Vec<u8> {
    ack(0x70, pid)
}

pub const PINGREQ: [u8; 2] = [0xC0, 0x00];
/// DISCONNECT with no body: 3.1.1, or v5 normal disconnection (reason 0x00 implied).
pub const DISCONNECT: [u8; 2] = [0xE0, 0x00];
