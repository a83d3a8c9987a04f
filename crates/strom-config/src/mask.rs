//! Secret masking: which keys hold sensitive values (Flink's `GlobalConfiguration.isSensitive`
//! plus key-like components) and the mask that replaces their values in logs and the REST API.

/// What sensitive values are replaced with (Flink's `HIDDEN_CONTENT`).
pub const HIDDEN_CONTENT: &str = "******";

/// Substrings that mark a key as sensitive in Flink.
const SENSITIVE_SUBSTRINGS: &[&str] = &[
    "password",
    "secret",
    "fs.azure.account.key",
    "apikey",
    "api-key",
    "auth-params",
    "service-key",
    "token",
    "basic-auth",
    "jaas.config",
    "http-headers",
];

/// Whether values of `key` must be masked: the key (case-insensitively) contains one of Flink's
/// sensitive words, or one of its dot-separated components is `key` or ends in `-key`/`_key`
/// (`security.ssl.key`, `api-key`), but not `keystore`, `key-file` or `key-group`.
pub fn is_sensitive(key: &str) -> bool {
    let key = key.to_lowercase();
    SENSITIVE_SUBSTRINGS.iter().any(|word| key.contains(word))
        || key.split('.').any(|component| {
            component == "key" || component.ends_with("-key") || component.ends_with("_key")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_keys() {
        let sensitive = [
            "security.ssl.keystore-password",
            "mesos.resourcemanager.framework.secret",
            "security.cluster.secret",
            "rest.auth.token",
            "fs.azure.account.key.myaccount.blob.core.windows.net",
            "metrics.reporter.dghttp.apikey",
            "metrics.reporter.x.api-key",
            "Metrics.Reporter.X.API-KEY",
            "security.ssl.key",
            "s3.secret-key",
            "s3.access_key",
            "security.kerberos.login.jaas.config",
            "metrics.reporter.otel.http-headers",
            "pulsar.client.auth-params",
            "gcp.service-key",
            "elastic.basic-auth",
        ];
        for key in sensitive {
            assert!(is_sensitive(key), "{key} should be sensitive");
        }
        let public = [
            "pipeline.max-parallelism",
            "state.backend.type",
            "security.ssl.rest.keystore",
            "security.ssl.rest.key-file",
            "state.key-group.count",
            "rest.port",
            "mesos.resourcemanager.framework.principal",
            "taskmanager.memory.process.size",
            "monkey.business",
        ];
        for key in public {
            assert!(!is_sensitive(key), "{key} should not be sensitive");
        }
    }
}
