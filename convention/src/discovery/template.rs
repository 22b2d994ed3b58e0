//! The part of Home Assistant's Jinja `value_template` language that device
//! firmware actually sends: `{{ value }}`, `{{ value_json.key }}`,
//! `{{ value_json['key'] }}`, nested paths (`value_json.BME280.Temperature`,
//! `value_json.sensors[0]`) and the numeric filters `float`, `int`,
//! `round(n)` and `is_defined`. Anything else is kept verbatim as
//! [`ValueTemplate::Unsupported`] so a dashboard can show it instead of
//! guessing or failing.

use std::fmt;

/// One step into a JSON document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    Key(String),
    Index(usize),
}

/// A filter after `|`.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `float` / `float(default)`: to a number.
    Float(Option<f64>),
    /// `int` / `int(default)`: to a whole number (truncates, like Jinja).
    Int(Option<f64>),
    /// `round` / `round(digits)`.
    Round(u32),
    /// `is_defined`: Home Assistant's "fail when missing", which is what a
    /// missing key does here anyway.
    IsDefined,
}

/// A parsed `value_template`.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueTemplate {
    /// `{{ value }}`: the payload as text.
    Payload(Vec<Filter>),
    /// `{{ value_json.<path> }}`: a value inside a JSON payload.
    Json(Vec<PathStep>, Vec<Filter>),
    /// Any other template, kept as written.
    Unsupported(String),
}

/// What a template produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Rendered {
    Number(f64),
    Text(String),
}

impl Rendered {
    /// The value as Jinja would print it (`True` for a JSON `true`, as Home
    /// Assistant compares it with `payload_on`).
    pub fn as_text(&self) -> String {
        match self {
            Rendered::Number(n) => crate::telemetry::format_number(*n),
            Rendered::Text(t) => t.clone(),
        }
    }

    /// A number, also from text that holds one.
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Rendered::Number(n) => Some(*n),
            Rendered::Text(t) => t.trim().parse::<f64>().ok().filter(|n| n.is_finite()),
        }
    }
}

/// Why a template gave no value for a payload.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum RenderError {
    #[error("unsupported template: {0}")]
    Unsupported(String),
    #[error("the payload is not UTF-8")]
    NotUtf8,
    #[error("the payload is not JSON: {0}")]
    NotJson(String),
    #[error("the payload has no {0}")]
    Missing(String),
    #[error("{0}")]
    Filter(String),
}

impl ValueTemplate {
    /// Parse a template; never fails: what is not understood is `Unsupported`.
    pub fn parse(template: &str) -> ValueTemplate {
        parse_supported(template).unwrap_or_else(|| ValueTemplate::Unsupported(template.to_owned()))
    }

    pub fn is_supported(&self) -> bool {
        !matches!(self, ValueTemplate::Unsupported(_))
    }

    /// The last key of a `value_json` path: `temperature` in
    /// `{{ value_json.temperature }}`, used to name a measurement.
    pub fn json_key(&self) -> Option<&str> {
        match self {
            ValueTemplate::Json(path, _) => path.iter().rev().find_map(|step| match step {
                PathStep::Key(k) => Some(k.as_str()),
                PathStep::Index(_) => None,
            }),
            _ => None,
        }
    }

    /// Apply the template to a message payload.
    pub fn render(&self, payload: &[u8]) -> Result<Rendered, RenderError> {
        let (value, filters) = match self {
            ValueTemplate::Unsupported(t) => return Err(RenderError::Unsupported(t.clone())),
            ValueTemplate::Payload(filters) => {
                let text = std::str::from_utf8(payload).map_err(|_| RenderError::NotUtf8)?;
                (Rendered::Text(text.to_owned()), filters)
            }
            ValueTemplate::Json(path, filters) => {
                let json: serde_json::Value = serde_json::from_slice(payload)
                    .map_err(|e| RenderError::NotJson(e.to_string()))?;
                let mut here = &json;
                for step in path {
                    let next = match step {
                        PathStep::Key(k) => here.get(k.as_str()),
                        PathStep::Index(i) => here.get(*i),
                    };
                    here = next.ok_or_else(|| RenderError::Missing(path_text(path)))?;
                }
                (from_json(here), filters)
            }
        };
        filters.iter().try_fold(value, apply_filter)
    }
}

impl fmt::Display for ValueTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let filters = match self {
            ValueTemplate::Unsupported(t) => return f.write_str(t),
            ValueTemplate::Payload(filters) => {
                f.write_str("{{ value")?;
                filters
            }
            ValueTemplate::Json(path, filters) => {
                write!(f, "{{{{ {}", path_text(path))?;
                filters
            }
        };
        for filter in filters {
            match filter {
                Filter::Float(None) => f.write_str(" | float")?,
                Filter::Float(Some(d)) => write!(f, " | float({d})")?,
                Filter::Int(None) => f.write_str(" | int")?,
                Filter::Int(Some(d)) => write!(f, " | int({d})")?,
                Filter::Round(n) => write!(f, " | round({n})")?,
                Filter::IsDefined => f.write_str(" | is_defined")?,
            }
        }
        f.write_str(" }}")
    }
}

fn path_text(path: &[PathStep]) -> String {
    let mut out = String::from("value_json");
    for step in path {
        match step {
            PathStep::Key(k) if is_identifier(k) => {
                out.push('.');
                out.push_str(k);
            }
            PathStep::Key(k) => out.push_str(&format!("['{k}']")),
            PathStep::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

fn from_json(value: &serde_json::Value) -> Rendered {
    use serde_json::Value;
    match value {
        Value::Number(n) => n
            .as_f64()
            .map_or_else(|| Rendered::Text(n.to_string()), Rendered::Number),
        Value::String(s) => Rendered::Text(s.clone()),
        // Python's spelling, which is what Home Assistant's Jinja prints.
        Value::Bool(true) => Rendered::Text("True".into()),
        Value::Bool(false) => Rendered::Text("False".into()),
        Value::Null => Rendered::Text("None".into()),
        other => Rendered::Text(other.to_string()),
    }
}

fn apply_filter(value: Rendered, filter: &Filter) -> Result<Rendered, RenderError> {
    let number = |default: Option<f64>| {
        value.as_number().or(default).ok_or_else(|| {
            RenderError::Filter(format!("cannot convert {:?} to a number", value.as_text()))
        })
    };
    Ok(match filter {
        Filter::IsDefined => value.clone(),
        Filter::Float(default) => Rendered::Number(number(*default)?),
        Filter::Int(default) => Rendered::Number(number(*default)?.trunc()),
        Filter::Round(digits) => {
            let scale = 10f64.powi(*digits as i32);
            Rendered::Number((number(None)? * scale).round() / scale)
        }
    })
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A tiny cursor over the template text.
struct Cursor<'a> {
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    fn skip_ws(&mut self) {
        self.rest = self.rest.trim_start();
    }

    fn eat(&mut self, token: &str) -> bool {
        match self.rest.strip_prefix(token) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    fn identifier(&mut self) -> Option<&'a str> {
        let end = self
            .rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(self.rest.len());
        let (ident, rest) = self.rest.split_at(end);
        if ident.is_empty() || ident.starts_with(|c: char| c.is_ascii_digit()) {
            return None;
        }
        self.rest = rest;
        Some(ident)
    }

    fn quoted(&mut self) -> Option<String> {
        let quote = self
            .rest
            .chars()
            .next()
            .filter(|c| *c == '\'' || *c == '"')?;
        let body = &self.rest[1..];
        let end = body.find(quote)?;
        let text = &body[..end];
        if text.contains('\\') {
            return None;
        }
        self.rest = &body[end + 1..];
        Some(text.to_owned())
    }

    fn number(&mut self) -> Option<f64> {
        let end = self
            .rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
            .unwrap_or(self.rest.len());
        let value = self.rest[..end].parse::<f64>().ok()?;
        self.rest = &self.rest[end..];
        Some(value)
    }

    /// `(arg)` after a filter name, if present.
    fn argument(&mut self) -> Option<Option<f64>> {
        self.skip_ws();
        if !self.eat("(") {
            return Some(None);
        }
        self.skip_ws();
        let value = self.number()?;
        self.skip_ws();
        self.eat(")").then_some(Some(value))
    }
}

fn parse_supported(template: &str) -> Option<ValueTemplate> {
    let mut c = Cursor {
        rest: template.trim(),
    };
    if !c.eat("{{") {
        return None;
    }
    c.skip_ws();
    let template = match c.identifier()? {
        "value" => ValueTemplate::Payload(Vec::new()),
        "value_json" => {
            let mut path = Vec::new();
            loop {
                if c.eat(".") {
                    path.push(PathStep::Key(c.identifier()?.to_owned()));
                } else if c.eat("[") {
                    c.skip_ws();
                    let step = match c.quoted() {
                        Some(key) => PathStep::Key(key),
                        None => {
                            let n = c.number()?;
                            if n < 0.0 || n.fract() != 0.0 {
                                return None;
                            }
                            PathStep::Index(n as usize)
                        }
                    };
                    c.skip_ws();
                    if !c.eat("]") {
                        return None;
                    }
                    path.push(step);
                } else {
                    break;
                }
            }
            if path.is_empty() {
                return None;
            }
            ValueTemplate::Json(path, Vec::new())
        }
        _ => return None,
    };
    let mut filters = Vec::new();
    loop {
        c.skip_ws();
        if c.eat("}}") {
            break;
        }
        if !c.eat("|") {
            return None;
        }
        c.skip_ws();
        let filter = match c.identifier()? {
            "float" => Filter::Float(c.argument()?),
            "int" => Filter::Int(c.argument()?),
            "round" => {
                let digits = c.argument()?.unwrap_or(0.0);
                if !(0.0..=15.0).contains(&digits) || digits.fract() != 0.0 {
                    return None;
                }
                Filter::Round(digits as u32)
            }
            "is_defined" => Filter::IsDefined,
            _ => return None,
        };
        filters.push(filter);
    }
    if !c.rest.trim().is_empty() {
        return None;
    }
    Some(match template {
        ValueTemplate::Payload(_) => ValueTemplate::Payload(filters),
        ValueTemplate::Json(path, _) => ValueTemplate::Json(path, filters),
        unsupported => unsupported,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> PathStep {
        PathStep::Key(k.into())
    }

    #[test]
    fn the_common_forms_parse() {
        assert_eq!(
            ValueTemplate::parse("{{ value }}"),
            ValueTemplate::Payload(vec![])
        );
        for t in [
            "{{ value_json.temperature }}",
            "{{value_json.temperature}}",
            "{{ value_json['temperature'] }}",
            "{{ value_json[\"temperature\"] }}",
            " {{ value_json.temperature}} ",
        ] {
            assert_eq!(
                ValueTemplate::parse(t),
                ValueTemplate::Json(vec![key("temperature")], vec![]),
                "{t}"
            );
        }
        assert_eq!(
            ValueTemplate::parse("{{value_json['AM2301'].Temperature}}"),
            ValueTemplate::Json(vec![key("AM2301"), key("Temperature")], vec![])
        );
        assert_eq!(
            ValueTemplate::parse("{{ value_json.sensors[1].t | float | round(1) }}"),
            ValueTemplate::Json(
                vec![key("sensors"), PathStep::Index(1), key("t")],
                vec![Filter::Float(None), Filter::Round(1)]
            )
        );
        assert_eq!(
            ValueTemplate::parse("{{ value_json['24_hours_records'] }}").json_key(),
            Some("24_hours_records")
        );
    }

    #[test]
    fn everything_else_is_unsupported_not_an_error() {
        for t in [
            "",
            "value_json.x",
            "{{ value_json }}",
            "{{ value_json.24_hours_records }}",
            "{{ value_json.x | lower }}",
            "{{ 'ON' if value_json.state == 1 else 'OFF' }}",
            "{{ value_json.x }} °C",
            "{% if value %}on{% endif %}",
            "{{ value_json.x | round(99) }}",
            "{{ value_json['unterminated }}",
            "{{ value_json[-1] }}",
            "{{ states('sensor.x') }}",
        ] {
            let parsed = ValueTemplate::parse(t);
            assert_eq!(parsed, ValueTemplate::Unsupported(t.into()), "{t}");
            assert_eq!(
                parsed.render(b"{}"),
                Err(RenderError::Unsupported(t.into()))
            );
        }
    }

    #[test]
    fn rendering() {
        let t = ValueTemplate::parse("{{ value_json.temperature }}");
        assert_eq!(
            t.render(br#"{"temperature":21.4}"#),
            Ok(Rendered::Number(21.4))
        );
        assert_eq!(
            t.render(br#"{"humidity":40}"#),
            Err(RenderError::Missing("value_json.temperature".into()))
        );
        assert!(matches!(
            t.render(b"21.4 degrees"),
            Err(RenderError::NotJson(_))
        ));
        let occupancy = ValueTemplate::parse("{{ value_json.occupancy }}");
        assert_eq!(
            occupancy.render(br#"{"occupancy":true}"#),
            Ok(Rendered::Text("True".into()))
        );
        let value = ValueTemplate::parse("{{ value | float | round(1) }}");
        assert_eq!(value.render(b"21.46"), Ok(Rendered::Number(21.5)));
        assert!(matches!(value.render(b"warm"), Err(RenderError::Filter(_))));
        assert_eq!(
            ValueTemplate::parse("{{ value | int(0) }}").render(b"x"),
            Ok(Rendered::Number(0.0))
        );
        assert_eq!(
            ValueTemplate::parse("{{ value }}").render(&[0xff]),
            Err(RenderError::NotUtf8)
        );
    }

    #[test]
    fn display_gives_back_an_equivalent_template() {
        for t in [
            "{{ value }}",
            "{{ value_json.temperature }}",
            "{{ value_json['24_hours'][0].x | float(0) | int | round(2) | is_defined }}",
        ] {
            let parsed = ValueTemplate::parse(t);
            assert!(parsed.is_supported(), "{t}");
            assert_eq!(ValueTemplate::parse(&parsed.to_string()), parsed, "{t}");
        }
    }
}
