//! TLS settings of the REST endpoint (`security.ssl.rest.*`), shared by the server side (REST
//! and the Mesos artifact server) and the job clients (`strom run`, `list`, `info`, `cancel`).
//!
//! Certificates are PEM files (`cert-file`, `key-file`, `trust-cert-file`) rather than Flink's
//! Java keystores, which only the JVM reads; a Flink keystore key is refused with a message
//! saying which keys to use instead.

use std::path::Path;

use anyhow::{Context, bail};
use strom_artifact_server::TlsFiles;
use strom_config::{Configuration, options};

/// Flink's keystore keys, which strom cannot read.
const KEYSTORE_KEYS: [&str; 4] = [
    "security.ssl.rest.keystore",
    "security.ssl.rest.truststore",
    "security.ssl.keystore",
    "security.ssl.truststore",
];

/// The REST endpoint's certificate and key when `security.ssl.rest.enabled` is set.
pub(crate) fn rest_tls_files(config: &Configuration) -> anyhow::Result<Option<TlsFiles>> {
    if !config.get(&options::SECURITY_SSL_REST_ENABLED) {
        return Ok(None);
    }
    match (
        config.get(&options::SECURITY_SSL_REST_CERT_FILE),
        config.get(&options::SECURITY_SSL_REST_KEY_FILE),
    ) {
        (Some(cert), Some(key)) => Ok(Some(TlsFiles {
            cert_pem: cert.into(),
            key_pem: key.into(),
        })),
        _ => bail!(
            "`security.ssl.rest.enabled` needs `security.ssl.rest.cert-file` and `security.ssl.rest.key-file` (PEM files){}",
            keystore_hint(config)
        ),
    }
}

/// `https` when the REST endpoint serves TLS, else `http`.
pub(crate) fn rest_scheme(config: &Configuration) -> &'static str {
    if config.get(&options::SECURITY_SSL_REST_ENABLED) {
        "https"
    } else {
        "http"
    }
}

/// An HTTP client for the REST endpoint: it trusts only the certificates of
/// `security.ssl.rest.trust-cert-file` when that is set, else the system's roots.
pub(crate) fn rest_client(config: &Configuration) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30));
    if let Some(file) = config.get(&options::SECURITY_SSL_REST_TRUST_CERT_FILE) {
        builder = builder.tls_certs_only(trusted_certs(Path::new(&file))?);
    }
    builder.build().context("cannot build the HTTP client")
}

fn trusted_certs(file: &Path) -> anyhow::Result<Vec<reqwest::Certificate>> {
    let pem = std::fs::read(file).with_context(|| {
        format!(
            "cannot read `security.ssl.rest.trust-cert-file` {}",
            file.display()
        )
    })?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).with_context(|| {
        format!(
            "`security.ssl.rest.trust-cert-file` {} is not a PEM certificate bundle",
            file.display()
        )
    })?;
    if certs.is_empty() {
        bail!(
            "`security.ssl.rest.trust-cert-file` {} contains no certificate",
            file.display()
        );
    }
    Ok(certs)
}

fn keystore_hint(config: &Configuration) -> String {
    KEYSTORE_KEYS
        .iter()
        .find(|key| config.get_raw(key).is_some())
        .map(|key| format!("; `{key}` is a Java keystore, which strom cannot read: export its certificate chain and key as PEM"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Configuration {
        let mut config = Configuration::new();
        for (key, value) in pairs {
            config.set(key, value).unwrap();
        }
        config
    }

    #[test]
    fn off_by_default() {
        let config = config(&[("security.ssl.rest.cert-file", "/c.pem")]);
        assert!(rest_tls_files(&config).unwrap().is_none());
        assert_eq!(rest_scheme(&config), "http");
    }

    #[test]
    fn enabled_needs_both_files_and_names_a_keystore() {
        let on = config(&[
            ("security.ssl.rest.enabled", "true"),
            ("security.ssl.rest.cert-file", "/c.pem"),
            ("security.ssl.rest.key-file", "/k.pem"),
        ]);
        let files = rest_tls_files(&on).unwrap().unwrap();
        assert_eq!(files.cert_pem, Path::new("/c.pem"));
        assert_eq!(rest_scheme(&on), "https");

        let keystore = config(&[
            ("security.ssl.enabled", "true"),
            ("security.ssl.rest.keystore", "/ks.jks"),
        ]);
        let err = rest_tls_files(&keystore).unwrap_err().to_string();
        assert!(err.contains("security.ssl.rest.cert-file"), "{err}");
        assert!(
            err.contains("`security.ssl.rest.keystore` is a Java keystore"),
            "{err}"
        );
    }

    #[test]
    fn trust_file_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let err = trusted_certs(&missing).unwrap_err().to_string();
        assert!(err.contains("missing.pem"), "{err}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let err = format!("{:#}", trusted_certs(&empty).unwrap_err());
        assert!(err.contains("empty.pem"), "{err}");
    }
}
