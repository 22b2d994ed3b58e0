//! Mosquitto's password hashes, so a `mosquitto_passwd` file works as is
//! (`kite-server import-mosquitto` keeps `password_file`):
//!
//! - `$7$<iterations>$<salt>$<hash>`: PBKDF2-HMAC-SHA512, what
//!   `mosquitto_passwd` writes since Mosquitto 2.0 (`-H sha512-pbkdf2`).
//! - `$6$<salt>$<hash>`: one SHA-512 of the password then the salt, what
//!   Mosquitto 1.6 and earlier wrote (`-H sha512`).
//!
//! Salt and hash are standard base64 with padding; the hash is 64 bytes.
//! New users get argon2id (`kite-server passwd`); these are only read.

use base64::{engine::general_purpose::STANDARD, Engine};
use sha2::{Digest, Sha512};

/// PBKDF2 rounds accepted: Mosquitto writes 101 (2.0) or 1,000 (2.1); far
/// more would let one line of the file make every login cost seconds.
const MAX_ITERATIONS: u32 = 10_000_000;

/// A parsed Mosquitto hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MosquittoHash {
    /// `$6$`: SHA-512(password ‖ salt).
    Sha512 { salt: Vec<u8>, hash: Vec<u8> },
    /// `$7$`: PBKDF2-HMAC-SHA512(password, salt, iterations), 64 bytes.
    Pbkdf2Sha512 {
        iterations: u32,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
}

impl MosquittoHash {
    /// True when `hash` claims to be one of Mosquitto's (`$6$` or `$7$`).
    pub(crate) fn is_mosquitto(hash: &str) -> bool {
        hash.starts_with("$6$") || hash.starts_with("$7$")
    }

    /// Parse a `$6$` or `$7$` hash; `Err` says why no password can match it.
    pub(crate) fn parse(text: &str) -> Result<MosquittoHash, String> {
        let decode = |what: &str, field: &str| {
            STANDARD
                .decode(field)
                .map_err(|err| format!("{what} is not base64: {err}"))
                .and_then(|bytes| match bytes.is_empty() {
                    true => Err(format!("empty {what}")),
                    false => Ok(bytes),
                })
        };
        let check_len = |hash: Vec<u8>| match hash.len() {
            64 => Ok(hash),
            n => Err(format!("a SHA-512 hash has 64 bytes, not {n}")),
        };
        if let Some(rest) = text.strip_prefix("$6$") {
            let Some((salt, hash)) = rest.split_once('$') else {
                return Err("expected `$6$<salt>$<hash>`".into());
            };
            return Ok(MosquittoHash::Sha512 {
                salt: decode("salt", salt)?,
                hash: check_len(decode("hash", hash)?)?,
            });
        }
        if let Some(rest) = text.strip_prefix("$7$") {
            let fields: Vec<&str> = rest.split('$').collect();
            let [iterations, salt, hash] = fields[..] else {
                return Err("expected `$7$<iterations>$<salt>$<hash>`".into());
            };
            let iterations = iterations
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_ITERATIONS).contains(n))
                .ok_or_else(|| {
                    format!("iterations `{iterations}`: expected 1 to {MAX_ITERATIONS}")
                })?;
            return Ok(MosquittoHash::Pbkdf2Sha512 {
                iterations,
                salt: decode("salt", salt)?,
                hash: check_len(decode("hash", hash)?)?,
            });
        }
        Err("not a Mosquitto hash ($6$ or $7$)".into())
    }

    /// Does `password` match? The comparison takes the same time wherever
    /// the bytes differ.
    pub(crate) fn verify(&self, password: &[u8]) -> bool {
        let mut derived = [0u8; 64];
        let expected = match self {
            MosquittoHash::Sha512 { salt, hash } => {
                let mut digest = Sha512::new();
                digest.update(password);
                digest.update(salt);
                derived.copy_from_slice(&digest.finalize());
                hash
            }
            MosquittoHash::Pbkdf2Sha512 {
                iterations,
                salt,
                hash,
            } => {
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, *iterations, &mut derived);
                hash
            }
        };
        expected.len() == derived.len()
            && expected
                .iter()
                .zip(derived.iter())
                .fold(0u8, |diff, (a, b)| diff | (a ^ b))
                == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Made by Debian 12's `mosquitto_passwd` (Mosquitto 2.0.11):
    /// `mosquitto_passwd -c -b pw alice s3cret`.
    const ALICE_PBKDF2: &str = "$7$101$FDE+h/0wdutZc483$bN/hlsCGO54kMobs9lsoNJEDOUbCiDyEc41F/\
                                RGCowdJiqxdJHqNSSou2dHT3EE30evv/WL3a0VY/o3sbPIJkQ==";
    /// `mosquitto_passwd -H sha512 -b pw bob hunter2` (Mosquitto 1.6's hash).
    const BOB_SHA512: &str = "$6$14p5rxD6dD3nuHR+$M4dyfIY4gyrgQ9afTBYGHqgws5NenyVABENMVHOKW8\
                              Czp4OzwJ4HY9jzaAYTJMdNS4x7Z2HcfU23WxuTM7NxWQ==";

    #[test]
    fn mosquitto_passwd_hashes_verify() {
        let alice = MosquittoHash::parse(ALICE_PBKDF2).unwrap();
        assert!(matches!(
            alice,
            MosquittoHash::Pbkdf2Sha512 {
                iterations: 101,
                ..
            }
        ));
        assert!(alice.verify(b"s3cret"));
        assert!(!alice.verify(b"s3cret "));
        assert!(!alice.verify(b""));
        let bob = MosquittoHash::parse(BOB_SHA512).unwrap();
        assert!(matches!(bob, MosquittoHash::Sha512 { .. }));
        assert!(bob.verify(b"hunter2"));
        assert!(!bob.verify(b"hunter3"));
    }

    /// The password file Kite loads (`--password-file`) takes a
    /// `mosquitto_passwd` file as it is, argon2id lines beside.
    #[test]
    fn password_file_of_mosquitto_passwd_works_as_is() {
        use crate::security::auth::{hash_password, PasswordFile};
        let argon = hash_password(b"new").unwrap();
        let text = format!("alice:{ALICE_PBKDF2}\nbob:{BOB_SHA512}\ncarol:{argon}\n");
        let file = PasswordFile::parse(&text).unwrap();
        assert_eq!(file.len(), 3);
        assert!(file.verify("alice", b"s3cret"));
        assert!(!file.verify("alice", b"hunter2"));
        assert!(file.verify("bob", b"hunter2"));
        assert!(file.verify("carol", b"new"));
        assert!(!file.verify("dave", b"s3cret"));
        let only_mosquitto = PasswordFile::parse(&format!("alice:{ALICE_PBKDF2}\n")).unwrap();
        assert!(!only_mosquitto.verify("nobody", b"s3cret"));
        let err = PasswordFile::parse("x:$7$0$c2FsdA==$aGFzaA==\n").unwrap_err();
        assert!(
            err.message
                .contains("no password can match this Mosquitto hash"),
            "{err}"
        );
    }

    #[test]
    fn hashes_no_password_can_match_are_refused() {
        let hash = BOB_SHA512.rsplit_once('$').unwrap().1;
        let cases = [
            ("$6$c2FsdA==".to_string(), "expected `$6$"),
            (format!("$6$${hash}"), "empty salt"),
            (format!("$6$!!$${hash}"), "base64"),
            ("$6$c2FsdA==$aGFzaA==".to_string(), "64 bytes, not 4"),
            (format!("$7$c2FsdA==${hash}"), "expected `$7$"),
            (format!("$7$0$c2FsdA==${hash}"), "iterations `0`"),
            (format!("$7$-1$c2FsdA==${hash}"), "iterations"),
            (format!("$7$99999999$c2FsdA==${hash}"), "iterations"),
            ("$5$abc$def".to_string(), "not a Mosquitto hash"),
        ];
        for (text, why) in cases {
            let err = MosquittoHash::parse(&text).unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
        }
        assert!(MosquittoHash::is_mosquitto(ALICE_PBKDF2));
        assert!(MosquittoHash::is_mosquitto(BOB_SHA512));
        assert!(!MosquittoHash::is_mosquitto("$argon2id$v=19$m=8"));
    }
}
