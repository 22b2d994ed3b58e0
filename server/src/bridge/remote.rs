//! The byte pipe to a bridge's remote broker: TCP, or TLS over it (a CA
//! file, a client certificate, and `insecure` to skip the host name check,
//! as Mosquitto's `bridge_insecure`).

use std::{sync::Arc, time::Duration};

use rustls::{
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    client::WebPkiServerVerifier,
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer, ServerName, UnixTime},
    ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpStream,
};
use tokio_rustls::TlsConnector;

use crate::config::bridge::{split_address, BridgeConfig};

/// How long a TCP connection and TLS handshake may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A connected byte stream to the remote.
pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// What a bridge needs to open connections: its TLS settings, read once.
pub(crate) struct Dialer {
    tls: Option<TlsConnector>,
}

impl Dialer {
    /// Read the certificate files; `Err` names the file and the field.
    pub(crate) fn new(config: &BridgeConfig) -> Result<Dialer, (String, String)> {
        if !config.uses_tls() {
            return Ok(Dialer { tls: None });
        }
        let client = tls_config(config)?;
        Ok(Dialer {
            tls: Some(TlsConnector::from(Arc::new(client))),
        })
    }

    /// Open a connection to `address` (`host:port`).
    pub(crate) async fn dial(&self, address: &str) -> Result<Box<dyn Stream>, String> {
        let (host, port) = split_address(address).ok_or("not host:port")?;
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host, port)))
            .await
            .map_err(|_| format!("no TCP connection within {CONNECT_TIMEOUT:?}"))?
            .map_err(|err| err.to_string())?;
        let _ = tcp.set_nodelay(true);
        let Some(tls) = &self.tls else {
            return Ok(Box::new(tcp));
        };
        let name = ServerName::try_from(host.to_string())
            .map_err(|err| format!("{host:?} is no TLS server name: {err}"))?;
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, tls.connect(name, tcp))
            .await
            .map_err(|_| format!("no TLS handshake within {CONNECT_TIMEOUT:?}"))?
            .map_err(|err| format!("TLS: {err}"))?;
        Ok(Box::new(stream))
    }
}

fn tls_config(config: &BridgeConfig) -> Result<ClientConfig, (String, String)> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|err| ("tls".to_string(), format!("TLS: {err}")))?;
    let Some(ca_file) = &config.ca_file else {
        return Err((
            "ca_file".into(),
            "TLS needs the CA certificates the remote's certificate is checked against".into(),
        ));
    };
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca_file)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|err| ("ca_file".to_string(), format!("{ca_file}: {err}")))?;
    if certs.is_empty() {
        return Err(("ca_file".into(), format!("no certificate in {ca_file}")));
    }
    for cert in certs {
        roots
            .add(cert)
            .map_err(|err| ("ca_file".to_string(), format!("{ca_file}: {err}")))?;
    }
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|err| ("ca_file".to_string(), format!("{ca_file}: {err}")))?;
    let builder = if config.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyHostName(verifier)))
    } else {
        builder.with_webpki_verifier(verifier)
    };
    match (&config.cert_file, &config.key_file) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
                .map_err(|err| ("cert_file".to_string(), format!("{cert}: {err}")))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|err| ("key_file".to_string(), format!("{key}: {err}")))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|err| ("cert_file".to_string(), format!("{cert}: {err}")))
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

/// The CA check in full, but any host name (`insecure`).
#[derive(Debug)]
struct AnyHostName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyHostName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
