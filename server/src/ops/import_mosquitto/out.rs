//! The TOML being written: keys with the lines they come from, and the
//! lines that were not translated, each with its reason.

use super::read::Line;

/// The translation so far.
#[derive(Debug, Default)]
pub(super) struct Out {
    pub(super) text: String,
}

impl Out {
    /// A section heading (a comment: the keys stay top-level).
    pub(super) fn section(&mut self, title: &str) {
        if !self.text.is_empty() {
            self.text.push('\n');
        }
        self.text.push_str(&format!("# --- {title} ---\n"));
    }

    /// `key = value`, with a comment naming the lines it comes from (or
    /// why it is there).
    pub(super) fn key(&mut self, key: &str, value: impl Into<toml::Value>, why: &str) {
        let value: toml::Value = value.into();
        self.text.push_str(&format!("{key} = {value}"));
        if !why.is_empty() {
            self.text.push_str(&format!("  # {}", clean(why)));
        }
        self.text.push('\n');
    }

    /// A line Kite has no equivalent for.
    pub(super) fn skipped(&mut self, line: &Line, why: &str) {
        self.text.push_str(&format!(
            "# not translated: {}  ({})\n",
            clean(line.text),
            clean(why)
        ));
    }

    /// A line whose effect Kite has already, or that another key carries.
    pub(super) fn not_needed(&mut self, line: &Line, why: &str) {
        self.text.push_str(&format!(
            "# not needed: {}  ({})\n",
            clean(line.text),
            clean(why)
        ));
    }

    /// A remark of the translator's own.
    pub(super) fn note(&mut self, text: &str) {
        self.text.push_str(&format!("# {}\n", clean(text)));
    }

    /// A raw line (a table header).
    pub(super) fn raw(&mut self, text: &str) {
        self.text.push_str(text);
        self.text.push('\n');
    }
}

/// Where a key comes from: `line 3: listener 1883`, or
/// `lines 3, 4: listener 8883; certfile /etc/x.pem`.
pub(super) fn from(lines: &[&Line]) -> String {
    match lines {
        [] => String::new(),
        [line] => format!("line {}: {}", line.number, line.text),
        _ => format!(
            "lines {}: {}",
            lines
                .iter()
                .map(|line| line.number.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            lines
                .iter()
                .map(|line| line.text)
                .collect::<Vec<_>>()
                .join("; ")
        ),
    }
}

/// A comment stays one line of valid TOML: control characters (a stray
/// carriage return, a NUL) are shown escaped.
fn clean(text: &str) -> String {
    text.chars()
        .flat_map(|c| match c {
            '\t' => vec![c],
            c if c.is_control() => c.escape_default().collect(),
            c => vec![c],
        })
        .collect()
}
