//! The configuration file (`--config FILE`, TOML): every flag of
//! [`Config`] is a key of the same name with `_` for `-`
//! (`max_connections = 100` is `--max-connections 100`), and a flag given on
//! the command line wins over the file.
//!
//! The keys are not listed a second time here: they are read from the clap
//! definition of [`Config`], and each value goes through the flag's own
//! parser, so a new flag is a new key with the same checks, and the file and
//! the command line can never disagree on what a value means. An unknown key
//! or a bad value stops the broker with the file, the line and the key.

use std::{
    collections::BTreeMap,
    ffi::OsString,
    path::{Path, PathBuf},
};

use clap::{parser::ValueSource, Arg, ArgAction, CommandFactory, FromArgMatches};

use crate::config::{bridge::BridgeConfig, Config};

/// Why the flags and the file do not make a configuration.
#[derive(Debug)]
pub enum ConfigError {
    /// A command-line error (or `--help` / `--version`): clap prints it.
    Flags(clap::Error),
    /// A configuration file error, with its file and line.
    File(String),
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::Flags(err) => write!(f, "{err}"),
            ConfigError::File(message) => f.write_str(message),
        }
    }
}

/// Arguments that are not settings.
const NOT_KEYS: [&str; 3] = ["config", "help", "version"];

/// The key of the `[[bridge]]` tables: not a flag, read by [`bridges`].
const BRIDGE: &str = "bridge";

/// Parse the command line, then the file it names with `--config`, if any.
pub fn parse<I, T>(args: I) -> Result<Config, ConfigError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let matches = Config::command()
        .try_get_matches_from(&args)
        .map_err(ConfigError::Flags)?;
    let Some(path) = matches.get_one::<PathBuf>("config").cloned() else {
        return Config::from_arg_matches(&matches).map_err(ConfigError::Flags);
    };
    let text = std::fs::read_to_string(&path).map_err(|err| {
        ConfigError::File(format!(
            "cannot read configuration file {}: {err}",
            path.display()
        ))
    })?;
    parse_with_text(args, &text)
}

/// The rest of [`parse`] once the file that `args` names with `--config`
/// is read: `text` is its content (the path is only named in errors).
pub fn parse_with_text(args: Vec<OsString>, text: &str) -> Result<Config, ConfigError> {
    let matches = Config::command()
        .try_get_matches_from(&args)
        .map_err(ConfigError::Flags)?;
    let path = matches
        .get_one::<PathBuf>("config")
        .cloned()
        .unwrap_or_default();
    let given_on_command_line =
        |id: &str| matches.value_source(id) == Some(ValueSource::CommandLine);
    let file_args = file_arguments(&path, text, given_on_command_line)?;
    let mut merged = Vec::with_capacity(args.len() + file_args.len());
    merged.extend(args.first().cloned());
    merged.extend(file_args.into_iter().map(OsString::from));
    merged.extend(args.into_iter().skip(1));
    let matches = Config::command()
        .try_get_matches_from(merged)
        .map_err(ConfigError::Flags)?;
    let mut config = Config::from_arg_matches(&matches).map_err(ConfigError::Flags)?;
    config.bridges = bridges(&path, text)?;
    Ok(config)
}

/// The file's `[[bridge]]` tables, each checked; an error names the line
/// and the field.
pub fn bridges(path: &Path, text: &str) -> Result<Vec<BridgeConfig>, ConfigError> {
    #[derive(serde::Deserialize)]
    struct Bridges {
        #[serde(default)]
        bridge: Vec<toml::Spanned<BridgeConfig>>,
    }
    let at = |offset: usize| {
        let line = text[..offset.min(text.len())].matches('\n').count() + 1;
        format!("{}:{line}", path.display())
    };
    let parsed: Bridges = toml::from_str(text).map_err(|err| {
        let place = err
            .span()
            .map_or_else(|| path.display().to_string(), |s| at(s.start));
        ConfigError::File(format!("{place}: bridge: {}", err.message()))
    })?;
    let mut names = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for spanned in parsed.bridge {
        let place = at(spanned.span().start);
        let bridge = spanned.into_inner();
        bridge.validate().map_err(|err| {
            ConfigError::File(format!("{place}: bridge {:?}: {err}", bridge.name))
        })?;
        if !names.insert(bridge.name.clone()) {
            return Err(ConfigError::File(format!(
                "{place}: a second bridge named {:?}",
                bridge.name
            )));
        }
        out.push(bridge);
    }
    Ok(out)
}

/// The file's settings as `--flag=value` arguments, skipping those for
/// which `skip(id)` is true (given on the command line). Each value is
/// checked by its flag's parser, so errors can name the line.
pub fn file_arguments(
    path: &Path,
    text: &str,
    skip: impl Fn(&str) -> bool,
) -> Result<Vec<String>, ConfigError> {
    let at = |offset: usize| {
        let line = text[..offset.min(text.len())].matches('\n').count() + 1;
        format!("{}:{line}", path.display())
    };
    let table: BTreeMap<toml::Spanned<String>, toml::Spanned<toml::Value>> = toml::from_str(text)
        .map_err(|err| {
        let place = err
            .span()
            .map_or_else(|| path.display().to_string(), |s| at(s.start));
        ConfigError::File(format!("{place}: {}", err.message()))
    })?;
    let command = Config::command();
    let mut out = Vec::new();
    // In file order, so the first error is the first in the file.
    let mut entries: Vec<_> = table.iter().collect();
    entries.sort_by_key(|(key, _)| key.span().start);
    for (key, value) in entries {
        let name = key.get_ref().as_str();
        if name == BRIDGE {
            continue;
        }
        let place = at(key.span().start);
        let arg = command
            .get_arguments()
            .find(|arg| arg.get_id() == name && !NOT_KEYS.contains(&name));
        let Some(arg) = arg else {
            let hint = if name.contains('-') {
                format!(" (keys use `_`: `{}`)", name.replace('-', "_"))
            } else {
                String::new()
            };
            return Err(ConfigError::File(format!(
                "{place}: unknown key `{name}`{hint}; see docs/configuration.md"
            )));
        };
        let value_place = at(value.span().start);
        let text = match value.get_ref() {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            // A list (`cluster = ["nats://a:4222", "nats://b:4222"]`) for a
            // flag that takes comma-separated values.
            toml::Value::Array(items) if items.iter().all(toml::Value::is_str) => items
                .iter()
                .filter_map(toml::Value::as_str)
                .collect::<Vec<_>>()
                .join(","),
            other => {
                return Err(ConfigError::File(format!(
                    "{value_place}: `{name}` must be a string, a number or a boolean, not {}",
                    other.type_str()
                )))
            }
        };
        let flag = flag_argument(arg, &text);
        check(&flag).map_err(|message| {
            ConfigError::File(format!("{value_place}: bad value for `{name}`: {message}"))
        })?;
        if !skip(name) {
            out.extend(flag);
        }
    }
    Ok(out)
}

/// The command-line form of one setting: `--flag=value`, or for a switch
/// without a value, `--flag` when true and nothing when false.
fn flag_argument(arg: &Arg, value: &str) -> Vec<String> {
    let long = arg.get_long().unwrap_or(arg.get_id().as_str());
    if matches!(arg.get_action(), ArgAction::SetTrue) {
        return match value {
            "true" => vec![format!("--{long}")],
            "false" => vec![],
            other => vec![format!("--{long}={other}")],
        };
    }
    vec![format!("--{long}={value}")]
}

/// Run one setting through the flag parser alone; `Err` is clap's reason.
fn check(flag: &[String]) -> Result<(), String> {
    let args = std::iter::once("kite-server".to_string()).chain(flag.iter().cloned());
    match Config::command().try_get_matches_from(args) {
        Ok(_) => Ok(()),
        Err(err) => {
            let rendered = err.to_string();
            let first = rendered.lines().next().unwrap_or_default();
            Err(first.trim_start_matches("error: ").to_string())
        }
    }
}

/// The settings keys: every flag but `--config`, `--help` and `--version`,
/// with `_` for `-` (for docs and tests).
pub fn keys() -> Vec<String> {
    Config::command()
        .get_arguments()
        .map(|arg| arg.get_id().to_string())
        .filter(|id| !NOT_KEYS.contains(&id.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kite-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn parse_with(path: &Path, extra: &[&str]) -> Result<Config, ConfigError> {
        let mut args = vec![
            "kite-server".to_string(),
            "--config".into(),
            path.display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        parse(args)
    }

    fn file_error(result: Result<Config, ConfigError>) -> String {
        match result {
            Err(ConfigError::File(message)) => message,
            Err(ConfigError::Flags(err)) => panic!("flag error instead of file error: {err}"),
            Ok(_) => panic!("accepted"),
        }
    }

    #[test]
    fn file_values_apply_and_flags_win() {
        let path = write(
            "ok.toml",
            "# limits\nmax_connections = 100\nmax_packet_size = 2048\ntcp = \"127.0.0.1:1999\"\n\
             allow_anonymous = false\nmax_publish_rate = 2.5\nrequire_certificate = false\n",
        );
        let config = parse_with(&path, &["--max-packet-size", "4096"]).unwrap();
        assert_eq!(config.max_connections, 100);
        assert_eq!(config.max_packet_size, 4096, "the flag wins");
        assert_eq!(config.tcp, "127.0.0.1:1999".parse().unwrap());
        assert_eq!(config.allow_anonymous, Some(false));
        assert_eq!(config.max_publish_rate, 2.5);
        assert_eq!(config.config.as_deref(), Some(path.as_path()));
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let path = write(
            "unknown.toml",
            "max_connections = 1\n\nmax_conections = 5\n",
        );
        let message = file_error(parse_with(&path, &[]));
        assert!(message.contains("unknown.toml:3"), "{message}");
        assert!(message.contains("`max_conections`"), "{message}");
        let path = write("dash.toml", "max-connections = 5\n");
        let message = file_error(parse_with(&path, &[]));
        assert!(
            message.contains(":1:") && message.contains("max_connections"),
            "{message}"
        );
    }

    #[test]
    fn bad_value_names_key_and_line() {
        let path = write("bad.toml", "\n\nmax_connections = \"many\"\n");
        let message = file_error(parse_with(&path, &[]));
        assert!(message.contains("bad.toml:3"), "{message}");
        assert!(message.contains("`max_connections`"), "{message}");
        let path = write("neg.toml", "connect_timeout = -1\n");
        let message = file_error(parse_with(&path, &[]));
        assert!(
            message.contains("neg.toml:1") && message.contains("connect_timeout"),
            "{message}"
        );
        let path = write(
            "enum.toml",
            "sys_interval = 1\ndurability = \"sometimes\"\n",
        );
        let message = file_error(parse_with(&path, &[]));
        assert!(
            message.contains("enum.toml:2") && message.contains("durability"),
            "{message}"
        );
        let path = write("table.toml", "[limits]\nmax_connections = 1\n");
        let message = file_error(parse_with(&path, &[]));
        assert!(
            message.contains("table.toml:1") && message.contains("limits"),
            "{message}"
        );
        let path = write("syntax.toml", "a = 1\nb = = 2\n");
        let message = file_error(parse_with(&path, &[]));
        assert!(message.contains("syntax.toml:2"), "{message}");
    }

    #[test]
    fn bridge_tables_are_read_and_checked() {
        let path = write(
            "bridge.toml",
            "max_connections = 10\n\n[[bridge]]\nname = \"cloud\"\naddresses = [\"h:1883\"]\n\
             [[bridge.topic]]\npattern = \"a/#\"\ndirection = \"both\"\nqos = 1\n\
             [[bridge]]\nname = \"two\"\naddresses = [\"h:1\"]\n[[bridge.topic]]\npattern = \"b\"\n",
        );
        let config = parse_with(&path, &[]).unwrap();
        assert_eq!(config.max_connections, 10);
        assert_eq!(config.bridges.len(), 2);
        assert_eq!(config.bridges[0].topic[0].qos, 1);
        let path = write(
            "bad-bridge.toml",
            "\n[[bridge]]\nname = \"cloud\"\naddresses = [\"h:1883\"]\n[[bridge.topic]]\npattern = \"a/#/b\"\n",
        );
        let message = file_error(parse_with(&path, &[]));
        assert!(
            message.contains("bad-bridge.toml:2") && message.contains("topic[0].pattern"),
            "{message}"
        );
        let path = write(
            "twice.toml",
            "[[bridge]]\nname = \"b\"\naddresses = [\"h:1\"]\n[[bridge.topic]]\npattern = \"x\"\n\
             [[bridge]]\nname = \"b\"\naddresses = [\"h:1\"]\n[[bridge.topic]]\npattern = \"y\"\n",
        );
        assert!(file_error(parse_with(&path, &[])).contains("second bridge"));
        let path = write(
            "typo.toml",
            "[[bridge]]\nname = \"b\"\naddresses = [\"h:1\"]\nkeep_alive = 5\n",
        );
        let message = file_error(parse_with(&path, &[]));
        assert!(
            message.contains("keep_alive") && message.contains("typo.toml:"),
            "{message}"
        );
    }

    #[test]
    fn config_cannot_name_another_config() {
        let path = write("nested.toml", "config = \"other.toml\"\n");
        assert!(file_error(parse_with(&path, &[])).contains("unknown key `config`"));
    }

    #[test]
    fn every_flag_is_a_key() {
        let keys = keys();
        for key in [
            "tcp",
            "http",
            "max_connections",
            "password_file",
            "acl_file",
            "max_publish_rate",
            "durability",
        ] {
            assert!(keys.iter().any(|k| k == key), "{key} missing from {keys:?}");
        }
        assert!(!keys.iter().any(|k| k == "config"));
    }
}
