//! S3 settings from Flink's `s3.*` keys (the environment's `AWS_*` variables fill the gaps),
//! and the `object_store` client for a bucket.

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::{BackoffConfig, ClientOptions, RetryConfig};
use strom_config::{Configuration, options};

use crate::StorageError;

/// How `s3://` paths are reached.
#[derive(Clone, Default)]
pub struct S3Settings {
    /// `s3.endpoint`: `http(s)://host:port` of an S3-compatible server; AWS when unset.
    pub endpoint: Option<String>,
    /// `s3.endpoint.region`.
    pub region: Option<String>,
    /// `s3.access-key`.
    pub access_key: Option<String>,
    /// `s3.secret-key`.
    pub secret_key: Option<String>,
    /// `s3.path.style.access`: `endpoint/bucket` instead of `bucket.endpoint`.
    pub path_style: bool,
    /// `s3.connection.establish.timeout` (`None`: the option's default).
    pub connect_timeout: Option<Duration>,
    /// `s3.connection.timeout` (`None`: the option's default).
    pub request_timeout: Option<Duration>,
    /// `s3.retry.limit` (`None`: the option's default).
    pub retries: Option<u32>,
    /// `s3.upload.min.part.size` (`None`: the option's default).
    pub part_size: Option<u64>,
    /// `s3.upload.max.concurrent.uploads` (`None`: the option's default).
    pub max_uploads: Option<u32>,
}

/// S3's smallest part of a multipart upload (but the last).
const MIN_PART_SIZE: u64 = 5 << 20;

/// An open bucket: its client, and how files are uploaded in parts there.
#[derive(Debug)]
pub(crate) struct Bucket {
    pub(crate) client: AmazonS3,
    pub(crate) part_size: usize,
    pub(crate) max_uploads: usize,
}

impl std::ops::Deref for Bucket {
    type Target = AmazonS3;

    fn deref(&self) -> &AmazonS3 {
        &self.client
    }
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key", &self.access_key.as_ref().map(|_| "******"))
            .field("secret_key", &self.secret_key.as_ref().map(|_| "******"))
            .field("path_style", &self.path_style)
            .finish_non_exhaustive()
    }
}

impl S3Settings {
    /// The settings `config` holds.
    pub fn from_config(config: &Configuration) -> Result<Self, StorageError> {
        let wrong = |key: &str, e: strom_config::ConfigError| StorageError::Config {
            key: key.to_owned(),
            message: e.to_string(),
        };
        let endpoint = config
            .try_get(&options::S3_ENDPOINT)
            .map_err(|e| wrong("s3.endpoint", e))?;
        if let Some(endpoint) = &endpoint {
            let parsed = url::Url::parse(endpoint).map_err(|e| StorageError::Config {
                key: "s3.endpoint".into(),
                message: format!("'{endpoint}' is not a URL: {e}"),
            })?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
                return Err(StorageError::Config {
                    key: "s3.endpoint".into(),
                    message: format!("'{endpoint}' is not an http:// or https:// address"),
                });
            }
        }
        let part_size = config
            .try_get(&options::S3_UPLOAD_MIN_PART_SIZE)
            .map_err(|e| wrong("s3.upload.min.part.size", e))?
            .bytes();
        if part_size < MIN_PART_SIZE {
            return Err(StorageError::Config {
                key: "s3.upload.min.part.size".into(),
                message: format!("{part_size} bytes is below S3's smallest part, 5 MB"),
            });
        }
        let max_uploads = config
            .try_get(&options::S3_UPLOAD_MAX_CONCURRENT_UPLOADS)
            .map_err(|e| wrong("s3.upload.max.concurrent.uploads", e))?;
        if max_uploads == 0 {
            return Err(StorageError::Config {
                key: "s3.upload.max.concurrent.uploads".into(),
                message: "expected at least 1".into(),
            });
        }
        Ok(Self {
            endpoint,
            region: config
                .try_get(&options::S3_ENDPOINT_REGION)
                .map_err(|e| wrong("s3.endpoint.region", e))?,
            access_key: config
                .try_get(&options::S3_ACCESS_KEY)
                .map_err(|e| wrong("s3.access-key", e))?,
            secret_key: config
                .try_get(&options::S3_SECRET_KEY)
                .map_err(|e| wrong("s3.secret-key", e))?,
            path_style: config
                .try_get(&options::S3_PATH_STYLE_ACCESS)
                .map_err(|e| wrong("s3.path.style.access", e))?,
            connect_timeout: Some(
                config
                    .try_get(&options::S3_CONNECTION_ESTABLISH_TIMEOUT)
                    .map_err(|e| wrong("s3.connection.establish.timeout", e))?,
            ),
            request_timeout: Some(
                config
                    .try_get(&options::S3_CONNECTION_TIMEOUT)
                    .map_err(|e| wrong("s3.connection.timeout", e))?,
            ),
            retries: Some(
                config
                    .try_get(&options::S3_RETRY_LIMIT)
                    .map_err(|e| wrong("s3.retry.limit", e))?,
            ),
            part_size: Some(part_size),
            max_uploads: Some(max_uploads),
        })
    }

    /// The client of `bucket`.
    pub(crate) fn open(&self, bucket: &str) -> Result<Arc<Bucket>, StorageError> {
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Some(endpoint) = &self.endpoint {
            let endpoint = endpoint.trim_end_matches('/');
            builder = if self.path_style {
                builder.with_endpoint(endpoint)
            } else {
                // object_store expects the bucket in a virtual-hosted endpoint already.
                builder
                    .with_endpoint(virtual_hosted(endpoint, bucket)?)
                    .with_virtual_hosted_style_request(true)
            };
        } else if !self.path_style {
            builder = builder.with_virtual_hosted_style_request(true);
        }
        let region = self
            .region
            .clone()
            .or_else(|| std::env::var("AWS_REGION").ok())
            .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
            .unwrap_or_else(|| "us-east-1".to_owned());
        builder = builder.with_region(region);
        if let Some(key) = &self.access_key {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = &self.secret_key {
            builder = builder.with_secret_access_key(secret);
        }
        let connect = self.connect_timeout.unwrap_or(Duration::from_secs(5));
        let request = self.request_timeout.unwrap_or(Duration::from_secs(60));
        let retries = self.retries.unwrap_or(7) as usize;
        builder = builder
            // The client options carry `allow_http` too: set with them, not before them.
            .with_client_options(
                ClientOptions::new()
                    .with_allow_http(
                        self.endpoint
                            .as_deref()
                            .is_some_and(|e| e.starts_with("http://")),
                    )
                    .with_connect_timeout(connect)
                    .with_timeout(request),
            )
            .with_retry(RetryConfig {
                backoff: BackoffConfig {
                    init_backoff: Duration::from_millis(100),
                    max_backoff: Duration::from_secs(10),
                    base: 2.0,
                },
                max_retries: retries,
                // Bounded by the attempts and their timeouts, not by a second clock.
                retry_timeout: (request + Duration::from_secs(10)) * (retries as u32 + 1),
            });
        let store = builder.build().map_err(|e| StorageError::Config {
            key: "s3.*".into(),
            message: format!("cannot open bucket '{bucket}': {e}"),
        })?;
        Ok(Arc::new(Bucket {
            client: store,
            part_size: self.part_size.unwrap_or(MIN_PART_SIZE) as usize,
            max_uploads: self.max_uploads.unwrap_or(4).max(1) as usize,
        }))
    }
}

/// `scheme://bucket.host:port` of `scheme://host:port`.
fn virtual_hosted(endpoint: &str, bucket: &str) -> Result<String, StorageError> {
    let mut url = url::Url::parse(endpoint).map_err(|e| StorageError::Config {
        key: "s3.endpoint".into(),
        message: format!("'{endpoint}' is not a URL: {e}"),
    })?;
    let host = url.host_str().unwrap_or_default().to_owned();
    url.set_host(Some(&format!("{bucket}.{host}")))
        .map_err(|e| StorageError::Config {
            key: "s3.endpoint".into(),
            message: format!("'{endpoint}': {e} (set s3.path.style.access: true for an address without a host name)"),
        })?;
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_come_from_flinks_keys_and_secrets_stay_out_of_debug_output() {
        let mut config = Configuration::new();
        for (key, value) in [
            ("s3.endpoint", "http://127.0.0.1:9000"),
            ("s3.access-key", "strom"),
            ("s3.secret-key", "hunter22"),
            ("s3.path.style.access", "true"),
            ("s3.retry.limit", "2"),
        ] {
            config.set(key, value).unwrap();
        }
        let settings = S3Settings::from_config(&config).unwrap();
        assert_eq!(settings.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert!(settings.path_style);
        assert_eq!(settings.retries, Some(2));
        let shown = format!("{settings:?}");
        assert!(
            !shown.contains("hunter22") && !shown.contains("\"strom\""),
            "{shown}"
        );
        settings.open("bucket").unwrap();
    }

    #[test]
    fn a_bad_endpoint_names_the_key() {
        for endpoint in ["127.0.0.1:9000", "ftp://host", "not a url"] {
            let mut config = Configuration::new();
            config.set("s3.endpoint", endpoint).unwrap();
            let err = S3Settings::from_config(&config).unwrap_err().to_string();
            assert!(err.starts_with("s3.endpoint:"), "{endpoint}: {err}");
        }
        let mut config = Configuration::new();
        config.set("s3.retry.limit", "many").unwrap_or_default();
        if let Err(err) = S3Settings::from_config(&config) {
            assert!(err.to_string().starts_with("s3.retry.limit"), "{err}");
        }
    }

    #[test]
    fn virtual_hosted_endpoints_carry_the_bucket() {
        assert_eq!(
            virtual_hosted("http://store.local:9000", "data").unwrap(),
            "http://data.store.local:9000"
        );
    }
}
