//! AutoMTLS: this launch's own certificate, and verifiers that trust exactly
//! one peer certificate (the host's, from `PLUGIN_CLIENT_CERT`).
//!
//! Stock webpki verifiers cannot be used: go-plugin's certificate is a
//! self-signed CA certificate, which webpki refuses as an end entity. We pin
//! the DER instead and still check every handshake signature. The aws-lc-rs
//! provider is required because go-plugin signs with P-521/SHA-512, which
//! ring does not support.

use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms, aws_lc_rs};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, DistinguishedName, ServerConfig,
    SignatureScheme,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};

/// gRPC runs over HTTP/2, and go-plugin's host insists that ALPN selected it.
const ALPN_H2: &[u8] = b"h2";
/// The name go-plugin uses for both ends of the connection.
pub const SERVER_NAME: &str = "localhost";
/// go-plugin backdates its certificates by 30 s to tolerate clock skew.
const BACKDATE: Duration = Duration::from_secs(30);
/// go-plugin's certificates last about 30 years; the plugin's life is shorter.
const VALIDITY: Duration = Duration::from_secs(30 * 365 * 24 * 3600);

/// This process's TLS certificate and key, made fresh for every launch and
/// announced in the handshake line. Used both as the server identity and as
/// the client identity when dialling the host's broker.
pub struct Identity {
    cert: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity").finish_non_exhaustive()
    }
}

impl Identity {
    /// A self-signed P-256 certificate for `localhost`.
    pub fn generate() -> Result<Self, rcgen::Error> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = rcgen::CertificateParams::new(vec![SERVER_NAME.to_owned()])?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, SERVER_NAME);
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - BACKDATE;
        params.not_after = now + VALIDITY;
        let cert = params.self_signed(&key)?;
        Ok(Self {
            cert: cert.der().clone(),
            key: PrivatePkcs8KeyDer::from(key.serialize_der()),
        })
    }

    /// An identity made elsewhere (a test host's, say): a DER certificate and
    /// its PKCS#8 DER key.
    pub fn from_der(cert: Vec<u8>, pkcs8_key: Vec<u8>) -> Self {
        Self {
            cert: CertificateDer::from(cert),
            key: PrivatePkcs8KeyDer::from(pkcs8_key),
        }
    }

    /// The certificate, DER encoded.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert
    }

    /// The private key, PKCS#8 DER encoded.
    pub fn key_der(&self) -> &PrivatePkcs8KeyDer<'static> {
        &self.key
    }

    fn chain_and_key(&self) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        (
            vec![self.cert.clone()],
            PrivateKeyDer::Pkcs8(self.key.clone_key()),
        )
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(aws_lc_rs::default_provider())
}

/// Server side: present `identity`, require a client certificate, accept only `peer`.
pub fn server_config(
    identity: &Identity,
    peer: &CertificateDer<'static>,
) -> Result<Arc<ServerConfig>, rustls::Error> {
    let provider = provider();
    let verifier = Arc::new(PinnedPeer::new(peer, &provider));
    let (chain, key) = identity.chain_and_key();
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![ALPN_H2.to_vec()];
    Ok(Arc::new(config))
}

/// Client side: present `identity`, accept only `peer` as the server.
pub fn client_config(
    identity: &Identity,
    peer: &CertificateDer<'static>,
) -> Result<Arc<ClientConfig>, rustls::Error> {
    let provider = provider();
    let verifier = Arc::new(PinnedPeer::new(peer, &provider));
    let (chain, key) = identity.chain_and_key();
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(chain, key)?;
    config.alpn_protocols = vec![ALPN_H2.to_vec()];
    Ok(Arc::new(config))
}

/// Trusts exactly one certificate, byte for byte, and checks that the peer
/// holds its private key by verifying the handshake signature.
#[derive(Debug)]
struct PinnedPeer {
    der: CertificateDer<'static>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinnedPeer {
    fn new(der: &CertificateDer<'static>, provider: &CryptoProvider) -> Self {
        Self {
            der: der.clone(),
            algorithms: provider.signature_verification_algorithms,
        }
    }

    fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> Result<(), rustls::Error> {
        // go-plugin sends its single certificate, never a chain.
        if end_entity.as_ref() == self.der.as_ref() && intermediates.is_empty() {
            Ok(())
        } else {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }
}

impl ClientCertVerifier for PinnedPeer {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.check(end_entity, intermediates)
            .map(|()| ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

impl ServerCertVerifier for PinnedPeer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.check(end_entity, intermediates)
            .map(|()| ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offers_p521_sha512_for_go_plugin_hosts() {
        let identity = Identity::generate().unwrap();
        let verifier = PinnedPeer::new(identity.cert_der(), &provider());
        let schemes = ClientCertVerifier::supported_verify_schemes(&verifier);
        assert!(schemes.contains(&SignatureScheme::ECDSA_NISTP521_SHA512));
    }

    #[test]
    fn pins_exactly_one_certificate() {
        let host = Identity::generate().unwrap();
        let other = Identity::generate().unwrap();
        let verifier = PinnedPeer::new(host.cert_der(), &provider());
        assert!(verifier.check(host.cert_der(), &[]).is_ok());
        assert!(verifier.check(other.cert_der(), &[]).is_err());
        assert!(
            verifier
                .check(host.cert_der(), &[other.cert_der().clone()])
                .is_err()
        );
    }
}
