//! amqps: the server's certificate and key, loaded from PEM files into a rustls acceptor.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// RabbitMQ's amqps port.
pub const DEFAULT_TLS_PORT: u16 = 5671;

/// What TLS listeners serve: a certificate chain and its private key.
#[derive(Clone)]
pub struct TlsConfig {
    pub(crate) acceptor: TlsAcceptor,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TlsConfig")
    }
}

/// Why a certificate or key could not be used; the message names the file and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsError(String);

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

impl TlsConfig {
    /// Reads a PEM certificate chain (the server's certificate first, then intermediates) and
    /// a PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem_files(certificate: &Path, key: &Path) -> Result<TlsConfig, TlsError> {
        let cert_pem = read(certificate, "certificate")?;
        let chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                TlsError(format!(
                    "TLS certificate file {}: not valid PEM ({e})",
                    certificate.display()
                ))
            })?;
        if chain.is_empty() {
            return Err(TlsError(format!(
                "TLS certificate file {} holds no certificate: expected a PEM \
                 '-----BEGIN CERTIFICATE-----' block",
                certificate.display()
            )));
        }
        let key_pem = read(key, "private key")?;
        let private_key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
            TlsError(format!(
                "TLS private key file {} holds no usable private key ({e}): expected a PEM \
                 'PRIVATE KEY', 'RSA PRIVATE KEY' or 'EC PRIVATE KEY' block",
                key.display()
            ))
        })?;
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .and_then(|builder| {
            builder
                .with_no_client_auth()
                .with_single_cert(chain, private_key)
        })
        .map_err(|e| {
            TlsError(format!(
                "cannot use TLS certificate {} with key {}: {e}; check that the key is the \
                 certificate's",
                certificate.display(),
                key.display()
            ))
        })?;
        Ok(TlsConfig {
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| {
        TlsError(format!(
            "cannot read the TLS {what} file {}: {e}",
            path.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(name: &str, contents: &str) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("warren-tls-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).expect("write a temporary file");
        path
    }

    #[test]
    fn unusable_files_are_named_in_the_error() {
        let missing = Path::new("/nonexistent/warren.pem");
        let error = TlsConfig::from_pem_files(missing, missing).expect_err("missing");
        assert!(error
            .to_string()
            .contains("cannot read the TLS certificate file /nonexistent/warren.pem"));

        let empty = temp_file("empty.pem", "not a certificate\n");
        let error = TlsConfig::from_pem_files(&empty, &empty).expect_err("no certificate");
        assert!(
            error.to_string().contains("holds no certificate"),
            "{error}"
        );
        std::fs::remove_file(empty).ok();
    }

    #[test]
    fn a_key_that_is_not_the_certificates_is_refused() {
        let make = || {
            rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate")
        };
        let (ours, other) = (make(), make());
        let cert = temp_file("cert.pem", &ours.cert.pem());
        let other_key = temp_file("other-key.pem", &other.key_pair.serialize_pem());
        let error = TlsConfig::from_pem_files(&cert, &other_key).expect_err("mismatched key");
        assert!(
            error
                .to_string()
                .contains("check that the key is the certificate's"),
            "{error}"
        );
        let key = temp_file("key.pem", &ours.key_pair.serialize_pem());
        assert!(TlsConfig::from_pem_files(&cert, &key).is_ok());
        for file in [cert, key, other_key] {
            std::fs::remove_file(file).ok();
        }
    }
}
