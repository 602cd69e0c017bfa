//! A host certificate made the way go-plugin's AutoMTLS makes it.

use crate::transport::Identity;

/// A certificate like go-plugin's: self-signed CA, P-521 signed with SHA-512,
/// `O=HashiCorp, CN=localhost`, SAN `localhost`, client and server auth.
pub struct HostCert {
    /// What the host puts in `PLUGIN_CLIENT_CERT`.
    pub pem: String,
    /// The certificate with its key, for the host's side of the connection.
    pub identity: Identity,
}

impl HostCert {
    pub fn go_plugin_like() -> Result<Self, rcgen::Error> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512)?;
        let mut params = rcgen::CertificateParams::new(vec!["localhost".into()])?;
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "HashiCorp");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "localhost");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::DigitalSignature,
            rcgen::KeyUsagePurpose::KeyEncipherment,
            rcgen::KeyUsagePurpose::KeyAgreement,
            rcgen::KeyUsagePurpose::KeyCertSign,
        ];
        params.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        ];
        let cert = params.self_signed(&key)?;
        Ok(Self {
            pem: cert.pem(),
            identity: Identity::from_der(cert.der().to_vec(), key.serialize_der()),
        })
    }
}
