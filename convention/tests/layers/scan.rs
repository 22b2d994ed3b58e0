//! The plain string parsing under the layering test: comments and literals
//! blanked, `#[cfg(test)]` items cut, `use` trees flattened, inline `crate::`
//! and `super::` paths found. Offsets are char offsets into the file, and
//! newlines are kept, so a path's line is still its line in the file.

/// A path as written: its segments (with `::` dropped) and where it starts.
#[derive(Clone, Debug)]
pub struct PathRef {
    pub segs: Vec<String>,
    pub glob: bool,
    pub alias: Option<String>,
    /// Char offset of the segment after `crate` / the last `super`.
    pub pos: usize,
}

pub fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Comments, strings and char literals become spaces; newlines stay, so
/// offsets and line numbers do not move.
pub fn blank_literals_and_comments(text: &str) -> Vec<char> {
    let c: Vec<char> = text.chars().collect();
    let mut out = c.clone();
    let wipe = |out: &mut Vec<char>, from: usize, to: usize| {
        for ch in &mut out[from..to.min(c.len())] {
            if *ch != '\n' {
                *ch = ' ';
            }
        }
    };
    let at = |i: usize| c.get(i).copied().unwrap_or('\0');
    let mut i = 0;
    while i < c.len() {
        let starts_ident = i == 0 || !is_ident(c[i - 1]);
        if at(i) == '/' && at(i + 1) == '/' {
            let end = (i..c.len()).find(|&j| c[j] == '\n').unwrap_or(c.len());
            wipe(&mut out, i, end);
            i = end;
        } else if at(i) == '/' && at(i + 1) == '*' {
            let (mut depth, mut j) = (1, i + 2);
            while j < c.len() && depth > 0 {
                if at(j) == '/' && at(j + 1) == '*' {
                    depth += 1;
                    j += 2;
                } else if at(j) == '*' && at(j + 1) == '/' {
                    depth -= 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            wipe(&mut out, i, j);
            i = j;
        } else if at(i) == 'r'
            && (starts_ident || (at(i - 1) == 'b' && (i < 2 || !is_ident(c[i - 2]))))
            && matches!(at(i + 1), '"' | '#')
        {
            let hashes = (i + 1..c.len()).take_while(|&j| c[j] == '#').count();
            if at(i + 1 + hashes) != '"' {
                i += 1; // a raw identifier, r#type
                continue;
            }
            let mut j = i + 2 + hashes;
            while j < c.len() && !(c[j] == '"' && (1..=hashes).all(|k| at(j + k) == '#')) {
                j += 1;
            }
            let end = j + 1 + hashes;
            wipe(&mut out, i, end);
            i = end;
        } else if at(i) == '"' {
            let mut j = i + 1;
            while j < c.len() && c[j] != '"' {
                j += if c[j] == '\\' { 2 } else { 1 };
            }
            wipe(&mut out, i, j + 1);
            i = j + 1;
        } else if at(i) == '\'' {
            if at(i + 1) == '\\' {
                let end = (i + 3..c.len()).find(|&j| c[j] == '\'').unwrap_or(c.len());
                wipe(&mut out, i, end + 1);
                i = end + 1;
            } else if at(i + 2) == '\'' {
                wipe(&mut out, i, i + 3);
                i += 3;
            } else {
                i += 1; // a lifetime or a label
            }
        } else {
            i += 1;
        }
    }
    out
}

/// Blanks every item marked `#[cfg(test)]` (a `mod tests { … }`, a `use`, a
/// function): from the attribute to the item's closing brace or semicolon.
pub fn cut_test_items(code: &mut [char]) {
    const MARK: &str = "#[cfg(test)]";
    let mark: Vec<char> = MARK.chars().collect();
    let mut i = 0;
    while i + mark.len() <= code.len() {
        if code[i..i + mark.len()] != mark[..] {
            i += 1;
            continue;
        }
        let mut j = i + mark.len();
        let mut depth = 0i32;
        let end = loop {
            let Some(&ch) = code.get(j) else {
                break code.len();
            };
            match ch {
                '(' | '[' => depth += 1,
                ')' | ']' => depth -= 1,
                ';' if depth == 0 => break j + 1,
                '{' if depth == 0 => break closing_brace(code, j),
                _ => {}
            }
            j += 1;
        };
        for ch in &mut code[i..end] {
            if *ch != '\n' {
                *ch = ' ';
            }
        }
        i = end;
    }
}

/// Offset just past the `}` that closes the `{` at `open`.
fn closing_brace(code: &[char], open: usize) -> usize {
    let mut depth = 0;
    for (j, &ch) in code.iter().enumerate().skip(open) {
        match ch {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return j + 1;
                }
            }
            _ => {}
        }
    }
    code.len()
}

/// Every path of every `use` statement, flattened (`use a::{b, c::d}` gives
/// `a::b` and `a::c::d`); the statements are blanked so that the inline
/// search does not see them again.
pub fn take_use_statements(code: &mut [char]) -> Vec<PathRef> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 4 <= code.len() {
        let keyword = code[i..i + 3] == ['u', 's', 'e']
            && code[i + 3].is_whitespace()
            && (i == 0 || !(is_ident(code[i - 1]) || code[i - 1] == '#'));
        if !keyword {
            i += 1;
            continue;
        }
        let mut parser = Parser { c: code, i: i + 3 };
        parser.tree(&mut Vec::new(), &mut out);
        let end = (parser.i..code.len())
            .find(|&j| code[j] == ';')
            .map_or(code.len(), |j| j + 1);
        for ch in &mut code[i..end] {
            if *ch != '\n' {
                *ch = ' ';
            }
        }
        i = end;
    }
    out
}

/// `crate::x` and `super::…::x` paths in code (not in `use`).
pub fn inline_paths(code: &[char]) -> Vec<PathRef> {
    let mut out = Vec::new();
    for anchor in ["crate", "super"] {
        let a: Vec<char> = anchor.chars().collect();
        let mut i = 0;
        while i + a.len() <= code.len() {
            if code[i..i + a.len()] != a[..] || (i > 0 && is_ident(code[i - 1])) {
                i += 1;
                continue;
            }
            // `a::super::x` is not where a path starts (but `field: crate::x` is).
            let before: String = code[..i]
                .iter()
                .rev()
                .skip_while(|c| c.is_whitespace())
                .take(2)
                .collect();
            if before == "::" {
                i += 1;
                continue;
            }
            let mut parser = Parser { c: code, i };
            let mut segs = Vec::new();
            let mut pos = i;
            while let Some((seg, at)) = parser.ident() {
                let more = seg == anchor;
                segs.push(seg);
                pos = at;
                parser.ws();
                if !(more && parser.eat("::")) {
                    break;
                }
                parser.ws();
            }
            if segs.len() > 1 && segs.last().map(String::as_str) != Some(anchor) {
                out.push(PathRef {
                    segs,
                    glob: false,
                    alias: None,
                    pos,
                });
            }
            i = parser.i.max(i + 1);
        }
    }
    out
}

/// A small recursive-descent reader for `use` trees.
struct Parser<'a> {
    c: &'a [char],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.c.get(self.i).is_some_and(|c| c.is_whitespace()) {
            self.i += 1;
        }
    }

    fn eat(&mut self, s: &str) -> bool {
        let n = s.chars().count();
        let here = self.c.get(self.i..self.i + n);
        if here.is_some_and(|h| h.iter().copied().eq(s.chars())) {
            self.i += n;
            true
        } else {
            false
        }
    }

    /// An identifier (`$crate` included) and its offset.
    fn ident(&mut self) -> Option<(String, usize)> {
        let start = self.i;
        let mut j = start;
        if self.c.get(j) == Some(&'$') {
            j += 1;
        }
        while self.c.get(j).copied().is_some_and(is_ident) {
            j += 1;
        }
        if j == start || (j == start + 1 && self.c[start] == '$') {
            return None;
        }
        self.i = j;
        Some((self.c[start..j].iter().collect(), start))
    }

    /// One use tree after `prefix`; leaves are pushed to `out`.
    fn tree(&mut self, prefix: &mut Vec<(String, usize)>, out: &mut Vec<PathRef>) {
        self.ws();
        if prefix.is_empty() && self.eat("::") {
            prefix.push(("::".into(), self.i)); // `use ::other_crate::…`
        }
        loop {
            self.ws();
            if self.eat("{") {
                loop {
                    self.ws();
                    let before = self.i;
                    if self.i >= self.c.len() || self.eat("}") {
                        return;
                    }
                    self.tree(&mut prefix.clone(), out);
                    self.ws();
                    self.eat(",");
                    if self.i == before {
                        self.i += 1;
                    }
                }
            }
            if self.eat("*") {
                out.push(path_ref(prefix, true, None));
                return;
            }
            let Some(seg) = self.ident() else { return };
            prefix.push(seg);
            self.ws();
            if self.eat("::") {
                continue;
            }
            let alias = if self.eat("as") && self.c.get(self.i).is_some_and(|c| c.is_whitespace()) {
                self.ws();
                self.ident().map(|(a, _)| a)
            } else {
                None
            };
            if prefix.last().is_some_and(|(s, _)| s == "self") {
                prefix.pop();
            }
            out.push(path_ref(prefix, false, alias));
            return;
        }
    }
}

fn path_ref(prefix: &[(String, usize)], glob: bool, alias: Option<String>) -> PathRef {
    // The line reported is the one of the segment after the anchor.
    let anchors = prefix
        .iter()
        .take_while(|(s, _)| matches!(s.as_str(), "crate" | "$crate" | "super" | "self"))
        .count();
    let pos = prefix.get(anchors).or(prefix.last()).map_or(0, |(_, p)| *p);
    PathRef {
        segs: prefix.iter().map(|(s, _)| s.clone()).collect(),
        glob,
        alias,
        pos,
    }
}

pub fn line_of(code: &[char], pos: usize) -> usize {
    1 + code[..pos.min(code.len())]
        .iter()
        .filter(|&&c| c == '\n')
        .count()
}
