//! Imports run one way (STYLE.md, "Layers"). For every crate of the
//! workspace, the `crate::` paths in its non-test sources make a graph
//! between its top-level modules (`src/x.rs` and everything under `src/x/`
//! are module `x`; `lib.rs` and `main.rs` are the root). This test fails,
//! naming the file and line of each import involved, on
//! - a circle in that graph, and
//! - where the crate's `lib.rs` has a `# Layers` table, an import of a module
//!   on the same or a higher layer (a module imports only from the layers
//!   above it in the table, which lists the lowest first).
//!
//! Read: `use crate::…` (grouped trees included), inline `crate::x::…` and
//! `super::…` paths that climb to the root, and names the root re-exports
//! (`crate::QoS` counts as an import of the module that defines `QoS`).
//! Skipped: comments, string literals, `tests.rs`, `*_tests.rs`, files under
//! a `tests/` folder and `#[cfg(test)]` items. Plain string parsing, std only.
//!
//! It lives in kite-convention only because that crate builds fastest; it
//! reads every member of the workspace's `Cargo.toml`.

#[path = "layers/scan.rs"]
mod scan;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use scan::{
    blank_literals_and_comments, cut_test_items, inline_paths, is_ident, line_of,
    take_use_statements, PathRef,
};

/// Crates allowed to keep circles for now. Every other crate, a new one
/// included, fails on its first circle; and an entry whose crate has no circle
/// left fails too, so it is deleted the moment the work is done.
const KNOWN_CIRCLES: &[&str] = &[];

#[test]
fn imports_between_top_level_modules_run_one_way() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut problems = Vec::new();
    let members = workspace_members(&root);
    for name in KNOWN_CIRCLES {
        if !members.iter().any(|m| m == name) {
            problems.push(format!(
                "KNOWN_CIRCLES names `{name}`, which is no workspace member: remove the entry"
            ));
        }
    }
    for member in &members {
        let src = root.join(member).join("src");
        if !src.is_dir() {
            continue;
        }
        let files = read_sources(&src);
        let krate = Crate::analyse(member, &files);
        let circles = krate.circles();
        problems.extend(circle_problems(&krate, &circles, KNOWN_CIRCLES));
        problems.extend(krate.layer_problems());
        println!(
            "{member}: {} top-level modules, {} in circles{}",
            krate.modules.len(),
            circles.iter().map(Vec::len).sum::<usize>(),
            if krate.layers.is_some() {
                ", layer table checked"
            } else {
                ""
            }
        );
    }
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n\n"));
}

/// A circle is a problem unless the crate is in `known`; a crate in `known`
/// without a circle is one too (a stale entry).
fn circle_problems(krate: &Crate, circles: &[Vec<String>], known: &[&str]) -> Vec<String> {
    if !known.contains(&krate.name.as_str()) {
        return circles.iter().map(|c| krate.describe_circle(c)).collect();
    }
    if circles.is_empty() {
        return vec![format!(
            "{} has no circle any more: remove its entry from KNOWN_CIRCLES in \
             convention/tests/layers.rs",
            krate.name
        )];
    }
    Vec::new()
}

/// A crate's top-level modules, the imports between them and its layer table.
struct Crate {
    name: String,
    modules: BTreeSet<String>,
    imports: Vec<Import>,
    /// From `lib.rs`'s `# Layers` section: each layer's modules and the line.
    layers: Option<Vec<(Vec<String>, usize)>>,
}

/// One `crate::` path from a file of module `from` to module `to`.
#[derive(Clone, Debug)]
struct Import {
    from: String,
    to: String,
    /// `<crate>/src/<path>:<line>`.
    at: String,
}

/// One source file, comments and literals blanked and test items cut.
struct Source {
    /// Relative to `src/`, `/`-separated.
    rel: String,
    /// Top-level module, or `None` for `lib.rs` / `main.rs`.
    module: Option<String>,
    /// How deep the file's module sits: 1 for `src/x.rs` and `src/x/mod.rs`.
    depth: usize,
    code: Vec<char>,
    /// `code` as a string, for searching.
    text: String,
    uses: Vec<PathRef>,
    inline: Vec<PathRef>,
}

impl Crate {
    /// `files`: (path relative to `src/`, text) of every `.rs` file.
    fn analyse(name: &str, files: &[(String, String)]) -> Crate {
        let sources: Vec<Source> = files
            .iter()
            .filter(|(rel, _)| !is_test_file(rel))
            .map(|(rel, text)| Source::parse(rel, text))
            .collect();
        let modules: BTreeSet<String> = sources.iter().filter_map(|s| s.module.clone()).collect();
        let lib = files.iter().find(|(rel, _)| rel == "lib.rs");
        let layers = lib.and_then(|(_, text)| layer_table(text));
        let resolver = Resolver {
            modules: &modules,
            sources: &sources,
        };
        let mut imports = Vec::new();
        for s in &sources {
            let Some(from) = &s.module else { continue };
            for p in s.uses.iter().chain(&s.inline) {
                if let Some(to) = resolver.target(s, p) {
                    if &to != from {
                        imports.push(Import {
                            from: from.clone(),
                            to,
                            at: format!("{name}/src/{}:{}", s.rel, line_of(&s.code, p.pos)),
                        });
                    }
                }
            }
        }
        Crate {
            name: name.to_string(),
            modules,
            imports,
            layers,
        }
    }

    /// The first import site of every edge.
    fn edges(&self) -> BTreeMap<(String, String), &Import> {
        let mut edges = BTreeMap::new();
        for i in &self.imports {
            edges.entry((i.from.clone(), i.to.clone())).or_insert(i);
        }
        edges
    }

    /// Strongly connected components of more than one module, sorted.
    fn circles(&self) -> Vec<Vec<String>> {
        let mut graph: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for m in &self.modules {
            graph.entry(m).or_default();
        }
        let edges = self.edges();
        for (from, to) in edges.keys() {
            graph.entry(from).or_default().push(to);
        }
        let mut out: Vec<Vec<String>> = tarjan(&graph)
            .into_iter()
            .filter(|c| c.len() > 1)
            .map(|c| {
                let mut c: Vec<String> = c.into_iter().map(String::from).collect();
                c.sort();
                c
            })
            .collect();
        out.sort();
        out
    }

    fn describe_circle(&self, circle: &[String]) -> String {
        let mut text = format!(
            "{}: {} modules import each other in a circle: {}\n  the imports inside it:",
            self.name,
            circle.len(),
            circle.join(", ")
        );
        for ((from, to), import) in self.edges() {
            if circle.contains(&from) && circle.contains(&to) {
                text.push_str(&format!("\n  {}: {from} imports {to}", import.at));
            }
        }
        text
    }

    /// Imports that do not go down the layer table, and a table that does not
    /// match the modules.
    fn layer_problems(&self) -> Vec<String> {
        let Some(layers) = &self.layers else {
            return Vec::new();
        };
        let table = format!("{}/src/lib.rs", self.name);
        let mut problems = Vec::new();
        let mut layer_of = BTreeMap::new();
        for (n, (mods, line)) in layers.iter().enumerate() {
            for m in mods {
                if !self.modules.contains(m) {
                    problems.push(format!(
                        "{table}:{line}: the layer table names `{m}`, which is no module"
                    ));
                }
                if layer_of.insert(m.clone(), n + 1).is_some() {
                    problems.push(format!("{table}:{line}: `{m}` is in the layer table twice"));
                }
            }
        }
        for m in &self.modules {
            if !layer_of.contains_key(m) {
                problems.push(format!(
                    "{table}: module `{m}` is in no layer of the `# Layers` table: put it on one"
                ));
            }
        }
        for i in &self.imports {
            let (Some(&from), Some(&to)) = (layer_of.get(&i.from), layer_of.get(&i.to)) else {
                continue;
            };
            if to >= from {
                let how = if to == from {
                    "the same layer"
                } else {
                    "a higher layer"
                };
                problems.push(format!(
                    "{}: {} (layer {from}) imports {} on {how} ({to}); a module imports \
                     only from lower layers, on earlier lines of the table in {table}",
                    i.at, i.from, i.to
                ));
            }
        }
        problems
    }
}

/// Which top-level module a path reaches, following the root's re-exports.
struct Resolver<'a> {
    modules: &'a BTreeSet<String>,
    sources: &'a [Source],
}

impl Resolver<'_> {
    fn target(&self, file: &Source, p: &PathRef) -> Option<String> {
        let first = p.segs.first()?;
        let rest = match first.as_str() {
            "crate" | "$crate" => &p.segs[1..],
            "super" => {
                let ups = p.segs.iter().take_while(|s| *s == "super").count();
                if ups < file.depth {
                    return None; // still inside the file's own top-level module
                }
                &p.segs[ups..]
            }
            _ => return None, // `self::`, another crate, or a local name
        };
        let head = rest.first()?;
        if self.modules.contains(head) {
            Some(head.clone())
        } else {
            self.owner_at_root(head, 0)
        }
    }

    /// The module that defines `name`, which the crate root re-exports.
    fn owner_at_root(&self, name: &str, depth: usize) -> Option<String> {
        let root = self.sources.iter().filter(|s| s.module.is_none());
        for s in root {
            for u in &s.uses {
                let segs: Vec<&str> = u
                    .segs
                    .iter()
                    .map(String::as_str)
                    .skip_while(|s| *s == "crate" || *s == "self")
                    .collect();
                let Some(&module) = segs.first() else {
                    continue;
                };
                if !self.modules.contains(module) {
                    continue;
                }
                if u.glob {
                    if let Some(owner) = self.owner_in(module, name, depth) {
                        return Some(owner);
                    }
                } else if leaf_name(u) == Some(name) {
                    return self
                        .owner_in(module, segs.last()?, depth)
                        .or(Some(module.to_string()));
                }
            }
        }
        None
    }

    /// `module` if it defines `name`, or the module it re-exports it from.
    fn owner_in(&self, module: &str, name: &str, depth: usize) -> Option<String> {
        if depth > 8 {
            return None;
        }
        let files = || {
            self.sources
                .iter()
                .filter(|s| s.module.as_deref() == Some(module))
        };
        if files().any(|s| defines(&s.text, name)) {
            return Some(module.to_string());
        }
        for s in files() {
            for u in s
                .uses
                .iter()
                .filter(|u| !u.glob && leaf_name(u) == Some(name))
            {
                if let Some(owner) = self.target(s, u) {
                    return if owner == module {
                        Some(owner)
                    } else {
                        self.owner_in(&owner, u.segs.last()?, depth + 1)
                            .or(Some(owner))
                    };
                }
            }
        }
        None
    }
}

fn leaf_name(u: &PathRef) -> Option<&str> {
    u.alias.as_deref().or(u.segs.last().map(String::as_str))
}

/// True when `code` declares an item called `name`.
fn defines(text: &str, name: &str) -> bool {
    const KINDS: &[&str] = &[
        "struct", "enum", "union", "type", "trait", "fn", "const", "static", "mod",
    ];
    KINDS.iter().any(|kind| {
        let needle = format!("{kind} {name}");
        text.match_indices(&needle).any(|(at, _)| {
            let before = text[..at].chars().next_back();
            let after = text[at + needle.len()..].chars().next();
            !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
        })
    })
}

impl Source {
    fn parse(rel: &str, text: &str) -> Source {
        let parts: Vec<&str> = rel.split('/').collect();
        let module = match parts.as_slice() {
            [file] => {
                let stem = file.trim_end_matches(".rs");
                (stem != "lib" && stem != "main").then(|| stem.to_string())
            }
            [dir, ..] => Some(dir.to_string()),
            [] => None,
        };
        let depth = if rel.ends_with("/mod.rs") {
            parts.len() - 1
        } else {
            parts.len()
        };
        let mut code = blank_literals_and_comments(text);
        cut_test_items(&mut code);
        let uses = take_use_statements(&mut code);
        let inline = inline_paths(&code);
        let text = code.iter().collect();
        Source {
            rel: rel.to_string(),
            module,
            depth,
            code,
            text,
            uses,
            inline,
        }
    }
}

/// `tests.rs`, `*_tests.rs`, or anything under a `tests/` folder.
fn is_test_file(rel: &str) -> bool {
    let parts: Vec<&str> = rel.split('/').collect();
    let file = parts.last().copied().unwrap_or("");
    file == "tests.rs" || file.ends_with("_tests.rs") || parts[..parts.len() - 1].contains(&"tests")
}

/// The `# Layers` section of a `lib.rs`: one numbered doc line per layer,
/// lowest first, naming its modules in backticks, e.g.
/// ``//! 2. `reason`, `topic`: …``.
fn layer_table(lib: &str) -> Option<Vec<(Vec<String>, usize)>> {
    let lines: Vec<&str> = lib.lines().collect();
    let start = lines.iter().position(|l| l.trim() == "//! # Layers")?;
    let mut layers = Vec::new();
    for (n, line) in lines.iter().enumerate().skip(start + 1) {
        let Some(doc) = line.trim().strip_prefix("//!") else {
            break;
        };
        let doc = doc.trim();
        if doc.starts_with('#') {
            break;
        }
        let Some((number, rest)) = doc.split_once(". ") else {
            continue;
        };
        if number.is_empty() || !number.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        // Module names are the backticked words before the first colon.
        let names = rest.split(": ").next().unwrap_or(rest);
        let mods: Vec<String> = names
            .split('`')
            .skip(1)
            .step_by(2)
            .map(String::from)
            .collect();
        layers.push((mods, n + 1));
    }
    Some(layers)
}

/// Tarjan's strongly connected components.
fn tarjan<'a>(graph: &BTreeMap<&'a str, Vec<&'a str>>) -> Vec<Vec<&'a str>> {
    struct State<'a> {
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        out: Vec<Vec<&'a str>>,
    }
    fn visit<'a>(v: &'a str, graph: &BTreeMap<&'a str, Vec<&'a str>>, s: &mut State<'a>) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        for &w in graph.get(v).into_iter().flatten() {
            if !s.index.contains_key(w) {
                visit(w, graph, s);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w);
                if w == v {
                    break;
                }
            }
            s.out.push(component);
        }
    }
    let mut s = State {
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for &v in graph.keys() {
        if !s.index.contains_key(v) {
            visit(v, graph, &mut s);
        }
    }
    s.out
}

/// The `members = [...]` of the workspace's `Cargo.toml`.
fn workspace_members(root: &Path) -> Vec<String> {
    let manifest =
        std::fs::read_to_string(root.join("Cargo.toml")).expect("the workspace Cargo.toml");
    let start = manifest.find("members").expect("a members list");
    let list = &manifest[start..];
    let list = &list[list.find('[').expect("[")..list.find(']').expect("]")];
    list.split('"')
        .skip(1)
        .step_by(2)
        .map(String::from)
        .collect()
}

/// (path relative to `src`, text) of every `.rs` file under `src`.
fn read_sources(src: &Path) -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("a readable directory")
            .map(|e| e.expect("a directory entry").path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut paths = Vec::new();
    walk(src, &mut paths);
    paths
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(src).expect("under src");
            let rel: Vec<String> = rel
                .iter()
                .map(|c| c.to_string_lossy().into_owned())
                .collect();
            let text = std::fs::read_to_string(&p).expect("a UTF-8 source file");
            (rel.join("/"), text)
        })
        .collect()
}

// The checker checked: small crates held in strings.

fn tiny(files: &[(&str, &str)]) -> Crate {
    let files: Vec<(String, String)> = files
        .iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect();
    Crate::analyse("tiny", &files)
}

#[test]
fn a_circle_is_reported_with_the_file_and_line_of_each_import() {
    let krate = tiny(&[
        (
            "lib.rs",
            "pub mod a;\npub mod b;\npub mod c;\npub use c::Thing;\n",
        ),
        ("a.rs", "use crate::b::B;\n"),
        // A grouped import, split over lines: the line is the one naming `c`.
        ("b/mod.rs", "use crate::{\n    x,\n    c::{self, C},\n};\n"),
        // An inline path to a name the root re-exports.
        (
            "c.rs",
            "pub struct Thing;\nfn f() {\n    crate::a::g();\n}\n",
        ),
        ("d.rs", "fn g() -> crate::Thing { crate::Thing }\n"),
    ]);
    let circles = krate.circles();
    assert_eq!(circles, [["a", "b", "c"]]);
    let text = krate.describe_circle(&circles[0]);
    assert!(text.contains("tiny/src/a.rs:1: a imports b"), "{text}");
    assert!(text.contains("tiny/src/b/mod.rs:3: b imports c"), "{text}");
    assert!(text.contains("tiny/src/c.rs:3: c imports a"), "{text}");
    let d = krate
        .imports
        .iter()
        .find(|i| i.from == "d")
        .expect("d's import");
    assert_eq!((d.to.as_str(), d.at.as_str()), ("c", "tiny/src/d.rs:1"));
}

#[test]
fn tests_comments_and_strings_are_not_imports() {
    let krate = tiny(&[
        ("lib.rs", "pub mod a;\npub mod b;\n"),
        (
            "a.rs",
            concat!(
                "// use crate::b;\n",
                "/* crate::b::X */\n",
                "const S: &str = \"crate::b::Y\";\n",
                "const R: &str = r#\"use crate::b;\"#;\n",
                "fn lifetime<'a>(x: &'a str) -> char { let _ = x; '{' }\n",
                "#[cfg(test)]\n",
                "mod tests {\n    use crate::b::Z;\n    fn f() { crate::b::g() }\n}\n",
                "#[cfg(test)]\nuse crate::b::W;\n",
            ),
        ),
        ("b.rs", "use crate::a::A;\n"),
        ("a/tests.rs", "use crate::b::B;\n"),
        ("b_tests.rs", "use crate::a::A;\n"),
    ]);
    let found: Vec<_> = krate.imports.iter().map(|i| (&i.from, &i.to)).collect();
    assert_eq!(found, [(&"b".to_string(), &"a".to_string())]);
    assert!(krate.circles().is_empty());
}

#[test]
fn an_import_up_the_layer_table_is_reported() {
    let krate = tiny(&[
        (
            "lib.rs",
            "//! # Layers\n//! 1. `low`: bottom\n//! 2. `mid`, `side`\n//! 3. `top`\n//!\n//! # More\n",
        ),
        ("low.rs", "pub fn f() {}\n\nfn g() { super::mid::h() }\n"),
        ("mid.rs", "use crate::low::f;\nuse crate::side::s;\n"),
        ("side.rs", "pub fn s() {}\n"),
        ("top/mod.rs", "use crate::{low, mid};\n"),
        ("top/inner.rs", "use super::super::low::f;\nuse super::x;\n"),
    ]);
    let problems = krate.layer_problems();
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(
        problems[0].starts_with("tiny/src/low.rs:3: low (layer 1) imports mid on a higher layer")
    );
    assert!(
        problems[1].starts_with("tiny/src/mid.rs:2: mid (layer 2) imports side on the same layer")
    );

    let missing = tiny(&[
        ("lib.rs", "//! # Layers\n//! 1. `a`\n//! 2. `gone`\n"),
        ("a.rs", ""),
        ("b.rs", ""),
    ]);
    let problems = missing.layer_problems().join("\n");
    assert!(
        problems.contains("names `gone`, which is no module"),
        "{problems}"
    );
    assert!(problems.contains("module `b` is in no layer"), "{problems}");
}

#[test]
fn a_known_circle_is_tolerated_only_while_it_exists() {
    let circular = tiny(&[
        ("a.rs", "use crate::b::B;\n"),
        ("b.rs", "use crate::a::A;\n"),
    ]);
    let circles = circular.circles();
    assert_eq!(
        circle_problems(&circular, &circles, &["tiny"]),
        Vec::<String>::new()
    );
    assert_eq!(circle_problems(&circular, &circles, &["other"]).len(), 1);
    let clean = tiny(&[("a.rs", "use crate::b::B;\n"), ("b.rs", "")]);
    let stale = circle_problems(&clean, &clean.circles(), &["tiny"]);
    assert_eq!(stale.len(), 1);
    assert!(
        stale[0].starts_with("tiny has no circle any more"),
        "{stale:?}"
    );
}
