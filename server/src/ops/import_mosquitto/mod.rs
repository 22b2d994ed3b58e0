//! `kite-server import-mosquitto mosquitto.conf`: print the Kite TOML
//! (`--config`) equivalent to a Mosquitto 2.0 configuration file.
//!
//! - [`read`]: the file's option lines, sorted into listeners, bridges and
//!   broker-wide settings as Mosquitto's `conf.c` reads them.
//! - [`listeners`]: `listener`/`port`/`bind_address` and their options →
//!   `tcp`, `tls`, `http`, `cert`, `key`, `client_ca`, ….
//! - [`globals`]: authentication and ACL files, limits, persistence, the rest.
//! - [`bridge`]: `connection` sections → `[[bridge]]` tables.
//! - [`out`]: the output: every key names its lines; a line Kite has no
//!   equivalent for is kept as `# not translated: <line>  (<why>)`, one
//!   whose effect Kite has anyway as `# not needed: <line>  (<why>)`.
//!   Comments and blank lines of the input are left out.
//!
//! [`translate`] is a pure function of the text; [`run`] reads the file and
//! adds what it finds in the password and ACL files it names.

mod bridge;
mod globals;
mod listeners;
mod out;
mod read;

use std::path::Path;

use crate::{
    config::ImportMosquittoArgs,
    security::{acl::Acl, auth::PasswordFile},
};

/// The Kite TOML for the mosquitto.conf `text`; `source` names it in the header.
pub fn translate(source: &str, text: &str) -> String {
    let conf = read::read(text);
    let mut out = out::Out::default();
    out.note(&format!(
        "Kite configuration translated from {source} by `kite-server import-mosquitto`."
    ));
    out.note("Run it with `kite-server --config <this file>`. Lines Kite has no equivalent for");
    out.note("are kept as `# not translated:` comments with the reason; `# not needed:` lines");
    out.note(
        "are Kite's behaviour already. Every key names the mosquitto.conf line it comes from.",
    );
    listeners::write(&conf, &mut out);
    globals::write(&conf, &mut out);
    bridge::write(&conf, &mut out);
    out.text
}

/// Run `kite-server import-mosquitto`: the TOML to print, or why not.
pub fn run(args: &ImportMosquittoArgs) -> Result<String, String> {
    let text = std::fs::read_to_string(&args.file)
        .map_err(|err| format!("cannot read {}: {err}", args.file.display()))?;
    let mut toml = translate(&args.file.display().to_string(), &text);
    let conf = read::read(&text);
    let named = |key: &str| {
        conf.globals
            .iter()
            .rev()
            .find(|line| line.key == key)
            .map(|line| line.value)
    };
    let base = args.file.parent().unwrap_or(Path::new("."));
    let mut checks = Vec::new();
    if let Some(path) = named("password_file") {
        checks.push(check_file(base, path, |path| {
            PasswordFile::load(path).map(|file| {
                format!(
                    "{} users; Kite reads Mosquitto's $7$ and $6$ hashes as they are",
                    file.len()
                )
            })
        }));
    }
    if let Some(path) = named("acl_file") {
        checks.push(check_file(base, path, |path| {
            Acl::load(path).map(|acl| format!("{} rules, all understood by Kite", acl.len()))
        }));
    }
    if !checks.is_empty() {
        toml.push_str("\n# --- The files it names, as Kite reads them ---\n");
        for check in checks {
            toml.push_str(&format!("# {check}\n"));
        }
    }
    Ok(toml)
}

/// Read a file the configuration names (relative paths from the
/// configuration's folder too) with Kite's own reader.
fn check_file(base: &Path, path: &str, load: impl Fn(&Path) -> Result<String, String>) -> String {
    let direct = Path::new(path);
    let beside = base.join(path);
    let found = [direct, beside.as_path()]
        .into_iter()
        .find(|candidate| candidate.is_file());
    match found {
        Some(file) => match load(file) {
            Ok(summary) => format!("{path}: {summary}"),
            Err(why) => format!("{path}: WARNING: {why}").replace('\n', " "),
        },
        None => format!("{path}: not found here, not checked"),
    }
}

#[cfg(test)]
mod tests;
