//! The JSON of one command: reading its fields, and a failure that names
//! the field it is about (the dashboard shows it next to that field).

use serde_json::{Map, Value};

/// Why a command failed: the message, and the request field it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub error: String,
    pub field: Option<String>,
}

impl Failure {
    /// A failure about the command as a whole.
    pub(crate) fn new(error: impl Into<String>) -> Failure {
        Failure {
            error: error.into(),
            field: None,
        }
    }

    /// A failure about one field.
    pub(crate) fn field(field: impl Into<String>, error: impl Into<String>) -> Failure {
        Failure {
            error: error.into(),
            field: Some(field.into()),
        }
    }
}

/// What a command answers: `data` to add to its response, if any.
pub(crate) type Outcome = Result<Option<Value>, Failure>;

/// The fields of one command object.
pub(crate) struct Args<'a>(pub &'a Map<String, Value>);

impl<'a> Args<'a> {
    /// A field that must be a non-empty string.
    pub(crate) fn str(&self, field: &'static str) -> Result<&'a str, Failure> {
        match self.0.get(field) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s),
            Some(Value::String(_)) => Err(Failure::field(field, format!("`{field}` is empty"))),
            Some(_) => Err(Failure::field(field, format!("`{field}` must be a string"))),
            None => Err(Failure::field(field, format!("`{field}` is missing"))),
        }
    }

    /// A string field that may be left out (or null).
    pub(crate) fn opt_str(&self, field: &'static str) -> Result<Option<&'a str>, Failure> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(Failure::field(field, format!("`{field}` must be a string"))),
        }
    }

    /// A boolean field that may be left out.
    pub(crate) fn opt_bool(&self, field: &'static str) -> Result<Option<bool>, Failure> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(Failure::field(
                field,
                format!("`{field}` must be true or false"),
            )),
        }
    }

    /// An integer field that may be left out.
    pub(crate) fn opt_i64(&self, field: &'static str) -> Result<Option<i64>, Failure> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) if n.is_i64() => Ok(n.as_i64()),
            Some(_) => Err(Failure::field(
                field,
                format!("`{field}` must be an integer"),
            )),
        }
    }

    /// An array field that may be left out.
    pub(crate) fn opt_array(&self, field: &'static str) -> Result<Option<&'a Vec<Value>>, Failure> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(_) => Err(Failure::field(field, format!("`{field}` must be a list"))),
        }
    }

    /// `count` and `offset` of a list command (`count` -1: all).
    pub(crate) fn page(&self) -> Result<(usize, usize), Failure> {
        let count = self.opt_i64("count")?.unwrap_or(-1);
        let offset = self.opt_i64("offset")?.unwrap_or(0);
        let offset = usize::try_from(offset)
            .map_err(|_| Failure::field("offset", "`offset` must be 0 or more"))?;
        let count = if count < 0 {
            usize::MAX
        } else {
            count as usize
        };
        Ok((count, offset))
    }
}

/// One page of `items`.
pub(crate) fn page<T>(items: Vec<T>, (count, offset): (usize, usize)) -> Vec<T> {
    items.into_iter().skip(offset).take(count).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_name_themselves_in_errors() {
        let map = serde_json::json!({"u": "x", "e": "", "n": 3, "b": true, "l": [1]});
        let args = Args(map.as_object().unwrap());
        assert_eq!(args.str("u"), Ok("x"));
        assert_eq!(args.str("e").unwrap_err().field.as_deref(), Some("e"));
        assert!(args.str("missing").unwrap_err().error.contains("missing"));
        assert_eq!(args.str("n").unwrap_err().field.as_deref(), Some("n"));
        assert_eq!(args.opt_bool("b"), Ok(Some(true)));
        assert_eq!(args.opt_i64("n"), Ok(Some(3)));
        assert!(args.opt_array("u").is_err());
        assert_eq!(args.page(), Ok((usize::MAX, 0)));
        assert_eq!(page(vec![1, 2, 3, 4], (2, 1)), vec![2, 3]);
    }
}
