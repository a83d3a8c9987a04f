//! The paths users write: local folders and `s3://bucket/key` URIs.

use std::path::{Path, PathBuf};

use crate::StorageError;

/// A parsed storage path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageUri {
    /// A local path, made absolute.
    Local(PathBuf),
    /// An object (or prefix) in an S3 bucket.
    S3 {
        /// The bucket.
        bucket: String,
        /// The key (or prefix) in it, without leading or trailing slashes.
        key: String,
    },
}

impl StorageUri {
    /// Parses `/path`, `relative/path`, `file:///path` (or `file:/path`), or `s3://bucket[/key]` (also `s3a://`
    /// and `s3p://`, which Flink users write for the same store).
    pub fn parse(text: &str) -> Result<Self, StorageError> {
        let bad = |message: &str| StorageError::Uri {
            uri: text.to_owned(),
            message: message.to_owned(),
        };
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(bad("an empty path"));
        }
        let Some((scheme, rest)) = trimmed.split_once("://") else {
            // `file:/path`: Java's spelling of a file URI, which Flink prints.
            if let Some(path) = trimmed.strip_prefix("file:").filter(|p| p.starts_with('/')) {
                return local(Path::new(path)).map_err(|e| bad(&e));
            }
            return local(Path::new(trimmed)).map_err(|e| bad(&e));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "file" => {
                if !rest.starts_with('/') {
                    return Err(bad("a file:// URI needs an absolute path (file:///path)"));
                }
                local(Path::new(rest)).map_err(|e| bad(&e))
            }
            "s3" | "s3a" | "s3p" => {
                let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    return Err(bad("no bucket (s3://bucket/path)"));
                }
                let valid = bucket.len() >= 3
                    && bucket.len() <= 63
                    && bucket.chars().all(|c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'
                    });
                if !valid {
                    return Err(bad(&format!(
                        "'{bucket}' is not a bucket name (3 to 63 lower-case letters, digits, '-' and '.')"
                    )));
                }
                let key: Vec<&str> = key.split('/').filter(|p| !p.is_empty()).collect();
                if key.iter().any(|p| *p == "." || *p == "..") {
                    return Err(bad("'.' and '..' are not allowed in an object key"));
                }
                Ok(Self::S3 {
                    bucket: bucket.to_owned(),
                    key: key.join("/"),
                })
            }
            other => Err(bad(&format!(
                "the scheme '{other}://' is not supported (local paths, file:// and s3://)"
            ))),
        }
    }
}

impl std::fmt::Display for StorageUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Local(path) => write!(f, "{}", path.display()),
            Self::S3 { bucket, key } if key.is_empty() => write!(f, "s3://{bucket}"),
            Self::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
        }
    }
}

fn local(path: &Path) -> Result<StorageUri, String> {
    std::path::absolute(path)
        .map(StorageUri::Local)
        .map_err(|e| format!("cannot make the path absolute: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_file_uris_and_buckets_parse() {
        assert_eq!(
            StorageUri::parse("/var/chk").unwrap(),
            StorageUri::Local("/var/chk".into())
        );
        assert_eq!(
            StorageUri::parse("file:///var/chk").unwrap(),
            StorageUri::Local("/var/chk".into())
        );
        assert_eq!(
            StorageUri::parse("file:/var/chk").unwrap(),
            StorageUri::Local("/var/chk".into())
        );
        let relative = StorageUri::parse("chk/x").unwrap();
        assert!(
            matches!(relative, StorageUri::Local(p) if p.is_absolute() && p.ends_with("chk/x"))
        );
        for text in [
            "s3://strom-data/jobs//chk/",
            "s3a://strom-data/jobs/chk",
            "S3P://strom-data/jobs/chk",
        ] {
            assert_eq!(
                StorageUri::parse(text).unwrap(),
                StorageUri::S3 {
                    bucket: "strom-data".into(),
                    key: "jobs/chk".into()
                },
                "{text}"
            );
        }
        assert_eq!(
            StorageUri::parse("s3a://strom-data/jobs/")
                .unwrap()
                .to_string(),
            "s3://strom-data/jobs"
        );
        assert_eq!(
            StorageUri::parse("file:///var/chk").unwrap().to_string(),
            "/var/chk"
        );
        assert_eq!(
            StorageUri::parse("s3://bucket").unwrap(),
            StorageUri::S3 {
                bucket: "bucket".into(),
                key: String::new()
            }
        );
    }

    #[test]
    fn bad_paths_are_refused_with_the_reason() {
        for (text, reason) in [
            ("", "empty"),
            ("hdfs://namenode/chk", "'hdfs://' is not supported"),
            ("s3:///chk", "no bucket"),
            ("s3://Upper/chk", "not a bucket name"),
            ("s3://b/chk", "not a bucket name"),
            ("s3://bucket/a/../b", "'..'"),
            ("file://relative", "absolute path"),
        ] {
            let err = StorageUri::parse(text).unwrap_err().to_string();
            assert!(err.contains(reason), "{text}: {err}");
        }
    }
}
