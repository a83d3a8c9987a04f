//! TLS for the artifact server: loads a PEM certificate chain and private key into a rustls
//! acceptor.
//!
//! The crypto provider is rustls' `ring` provider, chosen explicitly rather than through the
//! process-wide default: other crates of the process (reqwest) may enable aws-lc-rs as well, and
//! with two providers compiled in rustls refuses to pick a default.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::error::ArtifactError;
use crate::server::TlsFiles;

/// Builds the acceptor for `files`. The fetcher speaks HTTP/1.1 only, so that is the only ALPN
/// protocol offered.
pub(crate) fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, ArtifactError> {
    let certs = load_certs(&files.cert_pem)?;
    let key =
        PrivateKeyDer::from_pem_file(&files.key_pem).map_err(|source| ArtifactError::TlsPem {
            kind: "private key",
            path: files.key_pem.clone(),
            source,
        })?;
    let tls_error = |source| ArtifactError::Tls {
        cert: files.cert_pem.clone(),
        key: files.key_pem.clone(),
        source,
    };
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(tls_error)?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(tls_error)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, ArtifactError> {
    let pem_error = |source| ArtifactError::TlsPem {
        kind: "certificate",
        path: path.to_owned(),
        source,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(pem_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_error)?;
    if certs.is_empty() {
        return Err(ArtifactError::NoCertificate {
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
                ArtifactError::TlsPem {
                    kind: "certificate",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("nope.pem"), "{err}");

        let empty = files(dir.path(), "", "");
        let err = acceptor(&empty).err().unwrap();
        assert!(
            matches!(err, ArtifactError::NoCertificate { .. }),
            "{err:?}"
        );
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
        assert!(matches!(err, ArtifactError::Tls { .. }), "{err:?}");
    }
}
