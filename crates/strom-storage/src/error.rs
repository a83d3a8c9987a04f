//! What can go wrong with storage, named with the path and the setting to check.

/// A storage path or operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A setting is wrong.
    #[error("{key}: {message}")]
    Config {
        /// The configuration key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A path cannot be used.
    #[error("storage path '{uri}': {message}")]
    Uri {
        /// The path as given.
        uri: String,
        /// What is wrong.
        message: String,
    },
    /// The object or file does not exist.
    #[error("{url}: not found")]
    NotFound {
        /// The object's URL or the file's path.
        url: String,
    },
    /// Reading, writing or deleting failed (after the configured retries).
    #[error("{url}: {message}")]
    Io {
        /// The object's URL or the file's path.
        url: String,
        /// What happened, with the settings to check; never a secret.
        message: String,
    },
}

impl StorageError {
    /// Whether the object or file does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }

    pub(crate) fn local(path: &std::path::Path, error: &std::io::Error) -> Self {
        let url = path.display().to_string();
        match error.kind() {
            std::io::ErrorKind::NotFound => Self::NotFound { url },
            _ => Self::Io {
                url,
                message: error.to_string(),
            },
        }
    }

    /// An object store's error, with a hint at the setting that is likely wrong.
    pub(crate) fn object(url: &str, error: object_store::Error) -> Self {
        let url = url.to_owned();
        if matches!(error, object_store::Error::NotFound { .. }) {
            let text = error.to_string();
            // A missing bucket is a 404 too; it is not a missing object.
            if text.contains("NoSuchBucket") {
                return Self::Io {
                    url,
                    message: "the bucket does not exist (create it, or check the path)".into(),
                };
            }
            return Self::NotFound { url };
        }
        // The client's causes say what "builder error" or "error sending request" was.
        let mut text = error.to_string();
        let mut cause = std::error::Error::source(&error);
        while let Some(inner) = cause {
            let inner_text = inner.to_string();
            if !text.contains(&inner_text) {
                text.push_str(": ");
                text.push_str(&inner_text);
            }
            cause = inner.source();
        }
        let hint = if text.contains("NoSuchBucket") {
            "the bucket does not exist (create it, or check the path)"
        } else if [
            "SignatureDoesNotMatch",
            "InvalidAccessKeyId",
            "AccessDenied",
            "403",
        ]
        .iter()
        .any(|t| text.contains(t))
        {
            "access denied: check s3.access-key and s3.secret-key"
        } else if ["error sending request", "connect", "dns error", "timed out"]
            .iter()
            .any(|t| text.contains(t))
        {
            "the store cannot be reached: check s3.endpoint"
        } else {
            ""
        };
        let message = if hint.is_empty() {
            text
        } else {
            format!("{hint} ({text})")
        };
        Self::Io { url, message }
    }
}
