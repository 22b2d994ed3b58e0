//! Authentication: the password file (`--password-file`), the rule for
//! anonymous clients (`--allow-anonymous`), client certificates as user
//! names (`--use-identity-as-username`), the `kite-server passwd` command,
//! and [`Access`], which holds the password file and the ACL and swaps both
//! on SIGHUP without touching the connections, and the live users and roles
//! of the `$CONTROL` API (swapped whole on every change).
//!
//! Who decides for a user name: the password file first (its users keep
//! the ACL file's rules); a name it does not hold is looked up among the
//! live users (their roles are their ACL); anything else is as before
//! (refused with a password file, anonymous without one).
//!
//! The password file has one `user:hash` line per user, as
//! `mosquitto_passwd` writes them, the hash an argon2id PHC string
//! (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`, what `kite-server passwd`
//! writes) or one of Mosquitto's (`$7$` PBKDF2-SHA512, `$6$` SHA-512:
//! `security::mosquitto_hash`), so a Mosquitto password file works as is.
//! Blank lines and lines starting with `#` are ignored.

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::Path,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, OnceLock,
    },
};

use arc_swap::{ArcSwap, ArcSwapOption};
use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};
use mqtt::{Connect, ReasonCode};

use crate::{
    config::Config,
    metrics::Counters,
    security::{
        acl::{Acl, ClientRules},
        live::{LiveRules, LiveSet},
    },
};

/// Where and when a connection came in: the address its listener is bound
/// to, the common name of the client certificate it presented over TLS, and
/// when it was accepted (the connect timeout runs from then).
#[derive(Debug, Clone)]
pub struct Origin {
    pub listener: SocketAddr,
    pub identity: Option<Arc<str>>,
    pub accepted: tokio::time::Instant,
    /// A client inside the broker (a bridge's local side, `net::local`):
    /// trusted, no password and no ACL; the only one that may take a
    /// client id under `$bridge/`.
    pub internal: bool,
}

impl Origin {
    /// A connection accepted now on a listener bound to `listener`.
    pub fn new(listener: SocketAddr) -> Origin {
        Origin {
            listener,
            identity: None,
            accepted: tokio::time::Instant::now(),
            internal: false,
        }
    }
}

/// A line of the password file that could not be read (the same shape as the ACL file's).
pub use crate::security::acl::ParseError;

/// A parsed password file: user name → argon2id PHC string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PasswordFile {
    users: HashMap<String, String>,
}

impl PasswordFile {
    /// Read and parse a password file; the error names the file and the line.
    pub fn load(path: &Path) -> Result<PasswordFile, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| format!("cannot read password file {}: {err}", path.display()))?;
        PasswordFile::parse(&text).map_err(|err| format!("password file {}: {err}", path.display()))
    }

    /// Parse the text of a password file.
    pub fn parse(text: &str) -> Result<PasswordFile, ParseError> {
        let mut users = HashMap::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let error = |message: String| ParseError { line, message };
            let trimmed = raw.trim_end_matches('\r');
            if trimmed.trim().is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let Some((user, hash)) = trimmed.split_once(':') else {
                return Err(error("expected `user:hash`".into()));
            };
            check_username(user).map_err(&error)?;
            if crate::security::mosquitto_hash::MosquittoHash::is_mosquitto(hash) {
                crate::security::mosquitto_hash::MosquittoHash::parse(hash).map_err(|why| {
                    error(format!(
                        "user `{user}`: no password can match this Mosquitto hash: {why}"
                    ))
                })?;
                if users.insert(user.to_string(), hash.to_string()).is_some() {
                    return Err(error(format!("user `{user}` appears twice")));
                }
                continue;
            }
            let parsed = PasswordHash::new(hash)
                .map_err(|err| error(format!("user `{user}`: not a PHC hash string: {err}")))?;
            if parsed.algorithm != argon2::ARGON2ID_IDENT {
                return Err(error(format!(
                    "user `{user}`: hash is {}, expected argon2id (make it with `kite-server passwd`)",
                    parsed.algorithm
                )));
            }
            check_hash(&parsed).map_err(|why| {
                error(format!(
                    "user `{user}`: no password can match this argon2id hash: {why} \
                     (make it with `kite-server passwd`)"
                ))
            })?;
            if users.insert(user.to_string(), hash.to_string()).is_some() {
                return Err(error(format!("user `{user}` appears twice")));
            }
        }
        Ok(PasswordFile { users })
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// True when the file holds no user.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// True when the file holds `user`.
    pub fn contains(&self, user: &str) -> bool {
        self.users.contains_key(user)
    }

    /// Check a password; slow on purpose (argon2id), so call it off the
    /// async threads. An unknown user costs as much as a wrong password.
    /// Mosquitto's hashes (`$7$`, `$6$`) are checked as Mosquitto does; for
    /// an unknown user in a file of them, against one of them (the same work).
    pub fn verify(&self, user: &str, password: &[u8]) -> bool {
        use crate::security::mosquitto_hash::MosquittoHash;
        let mosquitto =
            |hash: &str| MosquittoHash::parse(hash).is_ok_and(|parsed| parsed.verify(password));
        match self.users.get(user) {
            Some(hash) if MosquittoHash::is_mosquitto(hash) => mosquitto(hash),
            Some(hash) => verify_hash(Some(hash), password),
            None => match self.users.values().next() {
                Some(decoy) if MosquittoHash::is_mosquitto(decoy) => {
                    std::hint::black_box(mosquitto(decoy));
                    false
                }
                _ => verify_hash(None, password),
            },
        }
    }
}

/// Check `password` against an argon2id PHC string; `None` (no such user,
/// or no password) costs as much as a wrong password, and fails.
pub fn verify_hash(hash: Option<&str>, password: &[u8]) -> bool {
    let (hash, known) = match hash {
        Some(hash) => (hash, true),
        None => (dummy_hash(), false),
    };
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let ok = Argon2::default().verify_password(password, &parsed).is_ok();
    ok && known
}

/// What checking a password against `hash` needs beyond its syntax, which
/// argon2 would otherwise refuse at every login: a salt of at least 8
/// bytes, an output, a known version and parameters argon2 takes.
fn check_hash(hash: &PasswordHash) -> Result<(), String> {
    let Some(salt) = hash.salt else {
        return Err("no salt".into());
    };
    let mut bytes = [0u8; 64];
    let salt = salt
        .decode_b64(&mut bytes)
        .map_err(|err| format!("salt: {err}"))?;
    if salt.len() < argon2::MIN_SALT_LEN {
        return Err(format!(
            "a salt of {} bytes, fewer than {}",
            salt.len(),
            argon2::MIN_SALT_LEN
        ));
    }
    if hash.hash.is_none() {
        return Err("no hash output".into());
    }
    if let Some(version) = hash.version {
        argon2::Version::try_from(version).map_err(|err| format!("version {version}: {err}"))?;
    }
    argon2::Params::try_from(hash).map_err(|err| format!("parameters: {err}"))?;
    Ok(())
}

/// A hash to verify against for unknown users, so timing does not tell
/// which user names exist.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password(b"no such user").unwrap_or_default())
}

/// An argon2id PHC string for `password` with a fresh random salt
/// (argon2's default cost: m=19456 KiB, t=2, p=1).
pub fn hash_password(password: &[u8]) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password, &salt)
        .map(|hash| hash.to_string())
        .map_err(|err| format!("cannot hash the password: {err}"))
}

/// User names: not empty, no `:`, no control characters, no surrounding blanks.
pub fn check_username(user: &str) -> Result<(), String> {
    if user.is_empty() {
        return Err("empty user name".into());
    }
    if user.contains(':') || user.chars().any(char::is_control) {
        return Err(format!(
            "user name `{user}` contains `:` or a control character"
        ));
    }
    if user.trim() != user || user.starts_with('#') {
        return Err(format!(
            "user name `{user}` starts with `#` or blanks, or ends with blanks"
        ));
    }
    Ok(())
}

/// True when `listener` is bound to a loopback address (127.0.0.0/8, ::1).
pub fn is_loopback(listener: SocketAddr) -> bool {
    listener.ip().is_loopback()
}

/// Are anonymous clients allowed on a listener bound to `listener`?
/// `--allow-anonymous` decides; by default only on loopback listeners.
pub fn anonymous_allowed(config: &Config, listener: SocketAddr) -> bool {
    config
        .allow_anonymous
        .unwrap_or_else(|| is_loopback(listener))
}

/// The password file and the ACL in force, both swapped whole on reload,
/// and the live users and roles, swapped whole on every change.
pub struct Access {
    passwords: ArcSwapOption<PasswordFile>,
    acl: ArcSwapOption<Acl>,
    live: ArcSwap<LiveSet>,
    /// Bumped after every swap: a connection's cached rules are rebuilt
    /// when it moved (one atomic load per check).
    generation: AtomicU64,
    /// argon2id verifications running at once (each takes ~19 MiB and a core).
    verifying: tokio::sync::Semaphore,
}

impl Access {
    /// Load the files named in `config` (none named: no password file, no ACL).
    pub fn load(config: &Config) -> Result<Access, String> {
        let (passwords, acl) = load_files(config)?;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Access {
            passwords: ArcSwapOption::new(passwords.map(Arc::new)),
            acl: ArcSwapOption::new(acl.map(Arc::new)),
            live: ArcSwap::from_pointee(LiveSet::default()),
            generation: AtomicU64::new(1),
            verifying: tokio::sync::Semaphore::new(cores),
        })
    }

    /// Read both files again; on any error keep the old ones. Connections
    /// stay; new CONNECTs and every later ACL check see the new files.
    pub fn reload(&self, config: &Config) -> Result<String, String> {
        let (passwords, acl) = load_files(config)?;
        let summary = format!(
            "password file: {}, ACL: {}",
            passwords
                .as_ref()
                .map_or("none".to_string(), |p| format!("{} users", p.len())),
            acl.as_ref()
                .map_or("none".to_string(), |a| format!("{} rules", a.len())),
        );
        self.passwords.store(passwords.map(Arc::new));
        self.acl.store(acl.map(Arc::new));
        self.generation.fetch_add(1, Ordering::Release);
        Ok(summary)
    }

    /// Put a new set of live users and roles in force, at once for every
    /// new CONNECT and every later check of the connections.
    pub fn set_live(&self, live: Arc<LiveSet>) {
        self.live.store(live);
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// The live users and roles in force.
    pub fn live(&self) -> Arc<LiveSet> {
        self.live.load_full()
    }

    /// Moves on every swap of the files or the live set.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Is `user` a live user (one the password file does not hold)?
    pub fn is_live_user(&self, user: &str) -> bool {
        self.passwords().is_none_or(|p| !p.contains(user))
            && self.live.load().users.contains_key(user)
    }

    /// argon2id verification, off the async threads, a few at a time.
    async fn verify(&self, check: impl FnOnce() -> bool + Send + 'static) -> bool {
        let _permit = self.verifying.acquire().await;
        tokio::task::spawn_blocking(check).await.unwrap_or(false)
    }

    /// The ACL in force, if there is an ACL file.
    pub fn acl(&self) -> Option<Arc<Acl>> {
        self.acl.load_full()
    }

    /// The password file in force, if any.
    pub fn passwords(&self) -> Option<Arc<PasswordFile>> {
        self.passwords.load_full()
    }
}

fn load_files(config: &Config) -> Result<(Option<PasswordFile>, Option<Acl>), String> {
    let passwords = config
        .password_file
        .as_deref()
        .map(PasswordFile::load)
        .transpose()?;
    let acl = config.acl_file.as_deref().map(Acl::load).transpose()?;
    Ok((passwords, acl))
}

/// Who a connection is once CONNECT is accepted: the user name the ACL
/// knows it by (`None`: anonymous).
pub type Username = Option<Arc<str>>;

/// Decide a CONNECT. `Err` is the CONNACK refusal: 0x86 (3.1.1: 4) for a
/// bad user name or password, 0x87 (3.1.1: 5) for an anonymous client
/// where anonymous clients are not allowed.
///
/// - A client certificate's common name is the user name when
///   `--use-identity-as-username` is on; the CONNECT's credentials are ignored.
/// - With a password file, a CONNECT with a user name must carry its password.
/// - Without one, a user name cannot be checked, so the client counts as
///   anonymous (and the ACL's anonymous rules apply to it).
pub async fn authenticate(
    access: &Access,
    config: &Config,
    counters: &Counters,
    connect: &Connect,
    origin: &Origin,
) -> Result<Username, ReasonCode> {
    if origin.internal {
        return Ok(None);
    }
    if connect.properties.authentication_method.is_some() {
        // Enhanced authentication (AUTH exchanges) is not supported: refuse
        // and close (MQTT-4.12.0-1).
        Counters::add(&counters.auth_failures);
        return Err(ReasonCode::BadAuthenticationMethod);
    }
    if config.use_identity_as_username {
        if let Some(identity) = &origin.identity {
            return Ok(Some(identity.clone()));
        }
    }
    let passwords = access.passwords();
    if let Some(user) = &connect.username {
        if access.is_live_user(user) {
            return live_user(access, counters, connect, user).await;
        }
    }
    if let (Some(user), Some(passwords)) = (&connect.username, passwords) {
        let Some(password) = connect.password.clone() else {
            Counters::add(&counters.auth_failures);
            return Err(ReasonCode::BadUserNameOrPassword);
        };
        let user = user.to_string();
        let ok = {
            let user = user.clone();
            access
                .verify(move || passwords.verify(&user, &password))
                .await
        };
        if !ok {
            Counters::add(&counters.auth_failures);
            return Err(ReasonCode::BadUserNameOrPassword);
        }
        return Ok(Some(Arc::from(user)));
    }
    if anonymous_allowed(config, origin.listener) {
        return Ok(None);
    }
    Counters::add(&counters.anonymous_refused);
    Err(if connect.username.is_some() {
        ReasonCode::BadUserNameOrPassword
    } else {
        ReasonCode::NotAuthorized
    })
}

/// A live user's CONNECT: its password, then whether it is disabled
/// (0x87, 3.1.1: 5) or bound to another client id (0x87).
async fn live_user(
    access: &Access,
    counters: &Counters,
    connect: &Connect,
    user: &str,
) -> Result<Username, ReasonCode> {
    let live = access.live();
    let found = live.users.get(user).cloned();
    let hash = found.as_ref().and_then(|u| u.password_hash.clone());
    let password = connect.password.clone().unwrap_or_default();
    let ok = access
        .verify(move || verify_hash(hash.as_deref(), &password))
        .await;
    let Some(found) = found.filter(|_| ok && connect.password.is_some()) else {
        Counters::add(&counters.auth_failures);
        return Err(ReasonCode::BadUserNameOrPassword);
    };
    let bound = found.clientid.as_deref();
    if found.disabled || bound.is_some_and(|id| id != &*connect.client_id) {
        Counters::add(&counters.auth_failures);
        return Err(ReasonCode::NotAuthorized);
    }
    Ok(Some(Arc::from(user)))
}

/// The rules one connection is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rules {
    /// The ACL file's rules (a user of the password file, anonymous, or a
    /// certificate's identity).
    File(ClientRules),
    /// A live user's roles.
    Live(LiveRules),
}

impl Rules {
    pub fn can_write(&self, topic: &str) -> bool {
        match self {
            Rules::File(rules) => rules.can_write(topic),
            Rules::Live(rules) => rules.can_write(topic),
        }
    }

    pub fn can_read(&self, topic: &str) -> bool {
        match self {
            Rules::File(rules) => rules.can_read(topic),
            Rules::Live(rules) => rules.can_read(topic),
        }
    }

    pub fn can_subscribe(&self, filter: &str) -> bool {
        match self {
            Rules::File(rules) => rules.can_subscribe(filter),
            Rules::Live(rules) => rules.can_subscribe(filter),
        }
    }

    /// Does a rule say the client may publish to `topic`? For a live user
    /// an entry must say so: the default access is no grant.
    pub fn grants_write(&self, topic: &str) -> bool {
        match self {
            Rules::File(rules) => rules.can_write(topic),
            Rules::Live(rules) => rules.grants_write(topic) == Some(true),
        }
    }
}

/// A connection's view of the ACL: its rules, rebuilt when the ACL is
/// reloaded or the live users and roles change. Everything is allowed
/// without an ACL file (unless the user is a live one).
pub struct ClientAcl {
    /// Not the client id: every check is given it ([`Checks`](crate::security::policy::Checks)),
    /// as the session keeps it, and 16 bytes here were 16 more in every
    /// idle connection's 288-byte state.
    username: Username,
    /// The [`Access::generation`] `current` was built at, its low 32 bits:
    /// a connection would have to see 2^32 reloads for two to look alike,
    /// and 32 bits make every connection's policy 8 bytes smaller.
    generation: u32,
    /// Once a live user, always judged as one: deleted, it may do nothing.
    live: bool,
    /// Boxed: without an ACL file (the usual case) it is empty, and every
    /// connection carries it.
    current: Option<Box<Rules>>,
    /// A client inside the broker (see [`Origin::internal`]): no rules.
    trusted: bool,
}

impl ClientAcl {
    pub fn new(username: Username) -> ClientAcl {
        ClientAcl {
            username,
            generation: 0,
            live: false,
            current: None,
            trusted: false,
        }
    }

    /// Judge nothing: a client inside the broker (a bridge's local side).
    pub fn trust(&mut self) {
        self.trusted = true;
        self.current = None;
    }

    /// The client's rules under the ACL and live set in force; `None`: no
    /// ACL file and not a live user.
    pub fn rules(&mut self, access: &Access, client_id: &str) -> Option<&Rules> {
        let generation = access.generation() as u32;
        if generation != self.generation {
            self.generation = generation;
            self.current = self.build(access, client_id).map(Box::new);
        }
        self.current.as_deref()
    }

    fn build(&mut self, access: &Access, client_id: &str) -> Option<Rules> {
        if self.trusted {
            return None;
        }
        if let Some(user) = self.username.as_deref() {
            if access.is_live_user(user) {
                self.live = true;
                let live = access.live();
                return Some(Rules::Live(live.rules_for(client_id, user)));
            }
            if self.live {
                return Some(Rules::Live(LiveRules::none()));
            }
        }
        let acl = access.acl()?;
        Some(Rules::File(
            acl.rules_for(client_id, self.username.as_deref()),
        ))
    }

    pub fn username(&self) -> Option<&Arc<str>> {
        self.username.as_ref()
    }

    pub fn can_write(&mut self, access: &Access, client_id: &str, topic: &str) -> bool {
        self.rules(access, client_id)
            .is_none_or(|r| r.can_write(topic))
    }

    pub fn can_read(&mut self, access: &Access, client_id: &str, topic: &str) -> bool {
        self.rules(access, client_id)
            .is_none_or(|r| r.can_read(topic))
    }

    pub fn can_subscribe(&mut self, access: &Access, client_id: &str, filter: &str) -> bool {
        self.rules(access, client_id)
            .is_none_or(|r| r.can_subscribe(filter))
    }
}

/// What the broker says about access control at start-up, one line each.
pub fn startup_notes(config: &Config, listeners: &[(&str, SocketAddr)]) -> Vec<String> {
    let mut notes = Vec::new();
    for (what, addr) in listeners {
        let allowed = anonymous_allowed(config, *addr);
        match (config.allow_anonymous, allowed) {
            (None, false) => notes.push(format!(
                "anonymous clients are refused on {what} {addr}: it is not a loopback address \
                 (set allow_anonymous = true or --allow-anonymous true to allow them)"
            )),
            (Some(true), true) if !is_loopback(*addr) => notes.push(format!(
                "anonymous clients are allowed on {what} {addr} (--allow-anonymous true)"
            )),
            _ => {}
        }
        if !allowed && config.password_file.is_none() && !config.use_identity_as_username {
            notes.push(format!(
                "no client can connect on {what} {addr}: anonymous clients are refused and there \
                 is no --password-file"
            ));
        }
    }
    notes
}

/// The file's text with `user`'s line replaced by `line` (appended when
/// absent; removed when `line` is `None`), and whether the user was there.
pub fn update_lines(existing: &str, user: &str, line: Option<&str>) -> (String, bool) {
    let mut out = String::new();
    let mut found = false;
    for old in existing.lines() {
        if old.split_once(':').is_some_and(|(u, _)| u == user) {
            if !found {
                if let Some(line) = line {
                    out.push_str(line);
                    out.push('\n');
                }
            }
            found = true;
            continue;
        }
        out.push_str(old);
        out.push('\n');
    }
    if !found {
        if let Some(line) = line {
            out.push_str(line);
            out.push('\n');
        }
    }
    (out, found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_file_round_trip() {
        let hash = hash_password(b"s3cret").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
        let text = format!("# users\n\nalice:{hash}\r\n");
        let file = PasswordFile::parse(&text).unwrap();
        assert_eq!(file.len(), 1);
        assert!(file.verify("alice", b"s3cret"));
        assert!(!file.verify("alice", b"wrong"));
        assert!(!file.verify("bob", b"s3cret"));
    }

    #[test]
    fn password_file_errors_name_the_line() {
        let hash = hash_password(b"x").unwrap();
        let cases = [
            (format!("a:{hash}\nno colon here\n"), 2, "user:hash"),
            (format!("\n\na:{hash}\na:{hash}\n"), 4, "twice"),
            ("a:plaintext\n".to_string(), 1, "PHC"),
            (
                "a:$argon2i$v=19$m=16,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo\n".to_string(),
                1,
                "argon2id",
            ),
            (format!(":{hash}\n"), 1, "empty user"),
        ];
        for (text, line, words) in cases {
            let err = PasswordFile::parse(&text).unwrap_err();
            assert_eq!(err.line, line, "{text:?}: {err}");
            assert!(err.message.contains(words), "{text:?}: {err}");
        }
    }

    /// Found by the `password_file` fuzz target: a hash without its salt and
    /// output (`$argon2id$v=198,t=1,p=1Rno`) was accepted, and its user
    /// refused at every login; the same for parameters or a salt argon2
    /// refuses. The file now says so at start-up (and on SIGHUP).
    #[test]
    fn password_file_refuses_hashes_no_password_can_match() {
        const SALT_AND_OUTPUT: &str =
            "a2l0ZS1mdXp6LXNhbHQhIQ$YzHYT1ac+Yi6rPUb8VdjTkhZdCQjfKXi2i1/bLfZJYc";
        let cheap = format!("$argon2id$v=19$m=8,t=1,p=1${SALT_AND_OUTPUT}");
        let file = PasswordFile::parse(&format!("alice:{cheap}\n")).unwrap();
        assert!(file.verify("alice", b"fuzz"));
        let output = SALT_AND_OUTPUT.split_once('$').unwrap().1;
        let cases = [
            ("$argon2id$v=198,t=1,p=1Rno".to_string(), "no salt"),
            ("$argon2id$v=19$m=19456,t=2,p=1".to_string(), "no salt"),
            (
                "$argon2id$v=19$m=8,t=1,p=1$a2l0ZS1mdXp6LXNhbHQhIQ".to_string(),
                "no hash output",
            ),
            (
                format!("$argon2id$v=19$m=8,t=1,p=1$c2FsdA${output}"),
                "salt of 4 bytes",
            ),
            (
                format!("$argon2id$v=18$m=8,t=1,p=1${SALT_AND_OUTPUT}"),
                "version 18",
            ),
            (
                format!("$argon2id$v=19$m=1,t=1,p=1${SALT_AND_OUTPUT}"),
                "parameters",
            ),
            (
                format!("$argon2id$v=19$m=8,t=0,p=1${SALT_AND_OUTPUT}"),
                "parameters",
            ),
            (
                format!("$argon2id$v=19$m=8,t=1,p=1,x=2${SALT_AND_OUTPUT}"),
                "parameters",
            ),
        ];
        for (hash, why) in cases {
            let err = PasswordFile::parse(&format!("# c\nbob:{hash}\n")).unwrap_err();
            assert_eq!(err.line, 2, "{hash}: {err}");
            assert!(
                err.message.contains("no password can match"),
                "{hash}: {err}"
            );
            assert!(err.message.contains(why), "{hash}: {err}");
        }
    }

    #[test]
    fn passwd_updates_in_place_and_deletes() {
        let (text, found) = update_lines("# c\na:1\nb:2\n", "a", Some("a:9"));
        assert_eq!((text.as_str(), found), ("# c\na:9\nb:2\n", true));
        let (text, found) = update_lines("a:1\n", "c", Some("c:3"));
        assert_eq!((text.as_str(), found), ("a:1\nc:3\n", false));
        let (text, found) = update_lines("a:1\nb:2\n", "a", None);
        assert_eq!((text.as_str(), found), ("b:2\n", true));
    }

    #[test]
    fn usernames() {
        assert!(check_username("alice").is_ok());
        assert!(check_username("a b").is_ok());
        assert!(check_username("a:b").is_err());
        assert!(check_username(" a").is_err());
        assert!(check_username("a\n").is_err());
        assert!(check_username("#a").is_err());
    }

    #[test]
    fn anonymous_default_is_loopback_only() {
        let mut config = Config::default();
        let lo: SocketAddr = "127.0.0.1:1883".parse().unwrap();
        let lo6: SocketAddr = "[::1]:1883".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:1883".parse().unwrap();
        assert!(anonymous_allowed(&config, lo));
        assert!(anonymous_allowed(&config, lo6));
        assert!(!anonymous_allowed(&config, any));
        config.allow_anonymous = Some(true);
        assert!(anonymous_allowed(&config, any));
        config.allow_anonymous = Some(false);
        assert!(!anonymous_allowed(&config, lo));
    }
}
