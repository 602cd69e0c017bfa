//! The go-plugin handshake: which launches we accept, and the line we answer with.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;

use super::tls::Identity;

/// go-plugin's core protocol version (`CoreProtocolVersion` in go-plugin's server.go).
const CORE_PROTOCOL_VERSION: u32 = 1;
/// The host's AutoMTLS certificate, PEM.
const CLIENT_CERT_VAR: &str = "PLUGIN_CLIENT_CERT";
/// Comma-separated application protocol versions the host offers.
const PROTOCOL_VERSIONS_VAR: &str = "PLUGIN_PROTOCOL_VERSIONS";

/// What a host must present for us to start (go-plugin's `HandshakeConfig`).
#[derive(Debug, Clone, Copy)]
pub struct HandshakeConfig {
    /// Environment variable holding the magic cookie.
    pub cookie_key: &'static str,
    /// The cookie's exact value.
    pub cookie_value: &'static str,
    /// The application protocol version we speak; the host must offer it.
    pub app_version: u32,
}

/// The environment the host launched us with. Read once at start-up; tests
/// build it from a map instead of mutating the process environment.
#[derive(Debug, Clone, Default)]
pub struct PluginEnv {
    vars: HashMap<String, String>,
}

impl PluginEnv {
    /// This process's environment (variables that are not UTF-8 are skipped).
    pub fn from_process() -> Self {
        Self::from_vars(
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
        )
    }

    /// An environment made of the given variables.
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        Self {
            vars: vars.into_iter().collect(),
        }
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars.get(key).map(String::as_str)
    }
}

/// Checks that a go-plugin host launched us with the right cookie, offering
/// our protocol version and an AutoMTLS certificate. Returns that certificate.
pub(super) fn check(
    config: &HandshakeConfig,
    env: &PluginEnv,
) -> anyhow::Result<CertificateDer<'static>> {
    if env.get(config.cookie_key) != Some(config.cookie_value) {
        bail!(
            "This binary is a plugin. It is not meant to be executed directly: \
             register it with `vault plugin register` and enable it with `vault auth enable`."
        );
    }
    let offered = env.get(PROTOCOL_VERSIONS_VAR).unwrap_or_default();
    let wanted = config.app_version.to_string();
    if !offered.split(',').any(|v| v.trim() == wanted) {
        // Vault and OpenBao offer older versions only as a fallback after a
        // failed launch of the current one, so point at that launch's error.
        bail!(
            "the host offers plugin protocol versions [{offered}], but this plugin speaks only \
             version {wanted} (gRPC with AutoMTLS): Vault 1.15+ and OpenBao offer 3,4 only \
             after a version {wanted} launch failed, whose error the server log shows; older \
             Vault must be upgraded"
        );
    }
    let pem = env
        .get(CLIENT_CERT_VAR)
        .filter(|pem| !pem.trim().is_empty());
    let Some(pem) = pem else {
        bail!("{CLIENT_CERT_VAR} is not set: this plugin requires AutoMTLS");
    };
    CertificateDer::from_pem_slice(pem.as_bytes())
        .with_context(|| format!("{CLIENT_CERT_VAR} does not hold a PEM certificate"))
}

/// Formats go-plugin's handshake line: `CORE|APP|unix|ADDRESS|grpc|CERT`, the
/// certificate as standard base64 without padding (go-plugin decodes it with
/// `RawStdEncoding`; padding fails). No multiplexing field: OpenBao never asks.
pub(super) fn line(app_version: u32, socket: &Path, identity: &Identity) -> String {
    let cert = base64::engine::general_purpose::STANDARD_NO_PAD.encode(identity.cert_der());
    format!(
        "{CORE_PROTOCOL_VERSION}|{app_version}|unix|{}|grpc|{cert}",
        socket.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: HandshakeConfig = HandshakeConfig {
        cookie_key: "COOKIE",
        cookie_value: "abc",
        app_version: 5,
    };

    fn env(pairs: &[(&str, &str)]) -> PluginEnv {
        PluginEnv::from_vars(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    fn host_pem() -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        rcgen::CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap()
            .pem()
    }

    #[test]
    fn accepts_cookie_version_and_certificate() {
        let pem = host_pem();
        for versions in ["5", "5,6", "3,4,5", " 4 , 5 "] {
            let env = env(&[
                ("COOKIE", "abc"),
                (PROTOCOL_VERSIONS_VAR, versions),
                (CLIENT_CERT_VAR, &pem),
            ]);
            assert!(check(&CONFIG, &env).is_ok(), "versions {versions:?}");
        }
    }

    #[test]
    fn refuses_wrong_launches() {
        let pem = host_pem();
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[(PROTOCOL_VERSIONS_VAR, "5"), (CLIENT_CERT_VAR, &pem)],
                "not meant to be executed",
            ),
            (
                &[
                    ("COOKIE", "abd"),
                    (PROTOCOL_VERSIONS_VAR, "5"),
                    (CLIENT_CERT_VAR, &pem),
                ],
                "not meant to be executed",
            ),
            (
                &[
                    ("COOKIE", "abc"),
                    (PROTOCOL_VERSIONS_VAR, "3,4"),
                    (CLIENT_CERT_VAR, &pem),
                ],
                "speaks only version 5",
            ),
            (
                &[
                    ("COOKIE", "abc"),
                    (PROTOCOL_VERSIONS_VAR, "55"),
                    (CLIENT_CERT_VAR, &pem),
                ],
                "speaks only version 5",
            ),
            (
                &[("COOKIE", "abc"), (CLIENT_CERT_VAR, &pem)],
                "speaks only version 5",
            ),
            (
                &[("COOKIE", "abc"), (PROTOCOL_VERSIONS_VAR, "5")],
                "requires AutoMTLS",
            ),
            (
                &[
                    ("COOKIE", "abc"),
                    (PROTOCOL_VERSIONS_VAR, "5"),
                    (CLIENT_CERT_VAR, "junk"),
                ],
                "PEM",
            ),
        ];
        for (vars, expected) in cases {
            let err = check(&CONFIG, &env(vars)).unwrap_err();
            assert!(format!("{err:#}").contains(expected), "{vars:?}: {err:#}");
        }
    }

    #[test]
    fn line_has_six_fields_and_unpadded_certificate() {
        let identity = Identity::generate().unwrap();
        let line = line(5, Path::new("/tmp/x/plugin.sock"), &identity);
        let fields: Vec<&str> = line.split('|').collect();
        assert_eq!(
            fields[..5],
            ["1", "5", "unix", "/tmp/x/plugin.sock", "grpc"]
        );
        assert_eq!(fields.len(), 6);
        assert!(!fields[5].ends_with('='));
        let der = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(fields[5])
            .unwrap();
        assert_eq!(der, identity.cert_der().as_ref());
    }
}
