//! TLS with rustls (ring provider): MQTT over TLS on `--tls ADDR`, and
//! HTTPS/WSS on the HTTP listener when `--cert` is given. Client
//! certificates are verified against `--client-ca`; the common name of a
//! verified certificate can stand for the user name
//! (`--use-identity-as-username`).
//!
//! Every handshake runs in the connection's own task under
//! `--connect-timeout`, so a client that stalls mid-handshake holds only
//! its own socket.

use std::{path::Path, sync::Arc, time::Duration};

use rustls::{
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer},
    server::WebPkiClientVerifier,
    RootCertStore, ServerConfig,
};
use tokio::net::TcpStream;
use tokio_rustls::{server::TlsStream, TlsAcceptor};

use crate::metrics::Counters;

/// The TLS server configuration from `--cert`, `--key`, `--client-ca` and
/// `--require-certificate`; `None` without `--cert`.
pub(crate) fn acceptor(config: &crate::config::Config) -> Result<Option<TlsAcceptor>, String> {
    let (cert, key) = match (&config.cert, &config.key) {
        (None, None) => {
            if config.tls.is_some() {
                return Err("--tls needs --cert and --key".into());
            }
            if config.client_ca.is_some() {
                return Err("--client-ca needs --cert and --key".into());
            }
            return Ok(None);
        }
        (Some(cert), Some(key)) => (cert, key),
        (Some(_), None) => return Err("--cert needs --key".into()),
        (None, Some(_)) => return Err("--key needs --cert".into()),
    };
    let certs = load_certs(cert)?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|err| format!("cannot read a private key from {}: {err}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|err| format!("TLS: {err}"))?;
    let builder = match &config.client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in load_certs(ca)? {
                roots
                    .add(cert)
                    .map_err(|err| format!("bad CA certificate in {}: {err}", ca.display()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if config.require_certificate {
                verifier
            } else {
                verifier.allow_unauthenticated()
            };
            let verifier = verifier
                .build()
                .map_err(|err| format!("client CA {}: {err}", ca.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => {
            if config.require_certificate {
                return Err("--require-certificate needs --client-ca".into());
            }
            builder.with_no_client_auth()
        }
    };
    let server = builder.with_single_cert(certs, key).map_err(|err| {
        format!(
            "certificate {} and key do not go together: {err}",
            cert.display()
        )
    })?;
    Ok(Some(TlsAcceptor::from(Arc::new(server))))
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|err| format!("cannot read certificates from {}: {err}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("no certificate in {}", path.display()));
    }
    Ok(certs)
}

/// Do the TLS handshake within `limit`; counts failures.
pub(crate) async fn handshake(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    limit: Duration,
    counters: &Counters,
) -> Result<TlsStream<TcpStream>, String> {
    let result = match tokio::time::timeout(limit, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => return Ok(stream),
        Ok(Err(err)) => format!("TLS handshake failed: {err}"),
        Err(_) => {
            Counters::add(&counters.connect_timeouts);
            format!("no TLS handshake within {limit:?}")
        }
    };
    Counters::add(&counters.tls_failures);
    Err(result)
}

/// The common name of the client's verified certificate, if it sent one.
pub(crate) fn peer_identity(stream: &TlsStream<TcpStream>) -> Option<Arc<str>> {
    let certs = stream.get_ref().1.peer_certificates()?;
    common_name(certs.first()?).map(Arc::from)
}

/// The common name of a client certificate, put into each request on an
/// HTTPS connection so `/mqtt` can pass it on.
#[derive(Debug, Clone)]
pub(crate) struct PeerIdentity(pub Option<Arc<str>>);

/// The subject common name (2.5.4.3) of a DER certificate: a small DER
/// walk over `Certificate → tbsCertificate → subject`.
pub(crate) fn common_name(cert: &[u8]) -> Option<String> {
    let (tag, certificate, _) = der(cert)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, mut tbs, _) = der(certificate)?;
    if tag != 0x30 {
        return None;
    }
    // [0] version (optional), serial, signature, issuer, validity, subject.
    let mut fields = Vec::new();
    while !tbs.is_empty() && fields.len() < 7 {
        let (tag, content, rest) = der(tbs)?;
        fields.push((tag, content));
        tbs = rest;
    }
    let skip = usize::from(fields.first()?.0 == 0xA0);
    let (tag, mut subject) = *fields.get(skip + 4)?;
    if tag != 0x30 {
        return None;
    }
    const CN: &[u8] = &[0x55, 0x04, 0x03];
    while !subject.is_empty() {
        let (set_tag, mut set, rest) = der(subject)?;
        subject = rest;
        if set_tag != 0x31 {
            return None;
        }
        while !set.is_empty() {
            let (seq_tag, attribute, rest) = der(set)?;
            set = rest;
            if seq_tag != 0x30 {
                return None;
            }
            let (oid_tag, oid, value) = der(attribute)?;
            if oid_tag != 0x06 || oid != CN {
                continue;
            }
            let (value_tag, value, _) = der(value)?;
            return match value_tag {
                // UTF8String, PrintableString, IA5String, TeletexString (as Latin-1).
                0x0C | 0x13 | 0x16 => std::str::from_utf8(value).ok().map(str::to_string),
                0x14 => Some(value.iter().map(|&b| char::from(b)).collect()),
                // BMPString: UTF-16BE.
                0x1E if value.len() % 2 == 0 => {
                    let units: Vec<u16> = value
                        .chunks_exact(2)
                        .map(|c| u16::from_be_bytes([c[0], c[1]]))
                        .collect();
                    String::from_utf16(&units).ok()
                }
                _ => None,
            };
        }
    }
    None
}

/// One DER element: its tag, its content, and what follows it.
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7F);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A DER TLV with a short or long length.
    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        if content.len() < 0x80 {
            out.push(content.len() as u8);
        } else {
            out.push(0x82);
            out.extend_from_slice(&(content.len() as u16).to_be_bytes());
        }
        out.extend_from_slice(content);
        out
    }

    fn name(attributes: &[(&[u8], u8, &[u8])]) -> Vec<u8> {
        let mut sets = Vec::new();
        for (oid, tag, value) in attributes {
            let attribute = [tlv(0x06, oid), tlv(*tag, value)].concat();
            sets.extend(tlv(0x31, &tlv(0x30, &attribute)));
        }
        tlv(0x30, &sets)
    }

    fn certificate(subject: Vec<u8>, with_version: bool) -> Vec<u8> {
        let mut tbs = Vec::new();
        if with_version {
            tbs.extend(tlv(0xA0, &tlv(0x02, &[2])));
        }
        tbs.extend(tlv(0x02, &[1, 2, 3]));
        tbs.extend(tlv(0x30, &tlv(0x06, &[0x2A, 0x86, 0x48])));
        tbs.extend(name(&[(&[0x55, 0x04, 0x03], 0x0C, b"Issuer CA")]));
        tbs.extend(tlv(0x30, &[0x17, 0x01, b'0', 0x17, 0x01, b'1']));
        tbs.extend(subject);
        tbs.extend(tlv(0x30, &[0u8; 200]));
        let body = [tlv(0x30, &tbs), tlv(0x30, &[]), tlv(0x03, &[0])].concat();
        tlv(0x30, &body)
    }

    #[test]
    fn finds_the_subject_common_name() {
        let subject = name(&[
            (&[0x55, 0x04, 0x06], 0x13, b"DE"),
            (&[0x55, 0x04, 0x03], 0x0C, b"device-7"),
        ]);
        assert_eq!(
            common_name(&certificate(subject.clone(), true)).as_deref(),
            Some("device-7")
        );
        assert_eq!(
            common_name(&certificate(subject, false)).as_deref(),
            Some("device-7")
        );
        let bmp = name(&[(&[0x55, 0x04, 0x03], 0x1E, &[0, b'h', 0, b'i'])]);
        assert_eq!(common_name(&certificate(bmp, true)).as_deref(), Some("hi"));
        let none = name(&[(&[0x55, 0x04, 0x0A], 0x0C, b"Org")]);
        assert_eq!(common_name(&certificate(none, true)), None);
    }

    #[test]
    fn survives_garbage() {
        assert_eq!(common_name(&[]), None);
        assert_eq!(common_name(&[0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF]), None);
        let cert = certificate(name(&[(&[0x55, 0x04, 0x03], 0x0C, b"x")]), true);
        for cut in 0..cert.len() {
            let _ = common_name(&cert[..cut]);
        }
    }
}
