//! TLS from PEM files: a certificate chain and private key loaded into a rustls acceptor.
//!
//! The crypto provider is rustls' `ring` provider, chosen explicitly rather than through the
//! process-wide default: other crates of the process (reqwest) may enable aws-lc-rs as well, and
//! with two providers compiled in rustls refuses to pick a default.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
pub use tokio_rustls::TlsAcceptor;

/// PEM files for HTTPS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain, leaf first.
    pub cert_pem: PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1).
    pub key_pem: PathBuf,
}

/// Why a certificate or key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file cannot be read or parsed.
    #[error("cannot read tls {kind} file `{path}`")]
    Pem {
        /// `certificate` or `private key`.
        kind: &'static str,
        /// The PEM file.
        path: PathBuf,
        /// The underlying read or parse error.
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    /// The certificate file holds no certificate.
    #[error("tls certificate file `{path}` contains no certificate")]
    NoCertificate {
        /// The PEM file.
        path: PathBuf,
    },
    /// rustls rejected the certificate chain or key (e.g. a key of another certificate).
    #[error("invalid tls certificate `{cert}` or key `{key}`")]
    Rejected {
        /// The certificate chain file.
        cert: PathBuf,
        /// The private key file.
        key: PathBuf,
        /// The rustls error.
        #[source]
        source: rustls::Error,
    },
}

/// Builds the acceptor for `files`. Both servers speak HTTP/1.1 only, so that is the only ALPN
/// protocol offered.
pub fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, TlsError> {
    let certs = load_certs(&files.cert_pem)?;
    let key = PrivateKeyDer::from_pem_file(&files.key_pem).map_err(|source| TlsError::Pem {
        kind: "private key",
        path: files.key_pem.clone(),
        source,
    })?;
    let rejected = |source| TlsError::Rejected {
        cert: files.cert_pem.clone(),
        key: files.key_pem.clone(),
        source,
    };
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(rejected)?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(rejected)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem_error = |source| TlsError::Pem {
        kind: "certificate",
        path: path.to_owned(),
        source,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(pem_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_error)?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path, cert: &str, key: &str) -> TlsFiles {
        let cert_pem = dir.join("cert.pem");
        let key_pem = dir.join("key.pem");
        std::fs::write(&cert_pem, cert).unwrap();
        std::fs::write(&key_pem, key).unwrap();
        TlsFiles { cert_pem, key_pem }
    }

    #[test]
    fn loads_a_generated_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let files = files(
            dir.path(),
            &generated.cert.pem(),
            &generated.signing_key.serialize_pem(),
        );
        assert!(acceptor(&files).is_ok());
    }

    #[test]
    fn reports_missing_and_empty_files() {
        let dir = tempfile::tempdir().unwrap();
        let missing = TlsFiles {
            cert_pem: dir.path().join("nope.pem"),
            key_pem: dir.path().join("nope.key"),
        };
        let err = acceptor(&missing).err().unwrap();
        assert!(
            matches!(
                err,
                TlsError::Pem {
                    kind: "certificate",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("nope.pem"), "{err}");

        let empty = files(dir.path(), "", "");
        let err = acceptor(&empty).err().unwrap();
        assert!(matches!(err, TlsError::NoCertificate { .. }), "{err:?}");
    }

    #[test]
    fn reports_a_key_that_does_not_match() {
        let dir = tempfile::tempdir().unwrap();
        let one = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let other = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let files = files(
            dir.path(),
            &one.cert.pem(),
            &other.signing_key.serialize_pem(),
        );
        let err = acceptor(&files).err().unwrap();
        assert!(matches!(err, TlsError::Rejected { .. }), "{err:?}");
    }
}
