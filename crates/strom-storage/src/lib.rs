//! Durable storage: where checkpoints, savepoints and high-availability data live.
//!
//! A [`Storage`] resolves the paths users configure (`state.checkpoints.dir`,
//! `state.savepoints.dir`, `high-availability.storageDir`, ...) into [`Location`]s:
//! - a local folder (`/path`, `relative/path` or `file:///path`), written with `std::fs`: a
//!   file is written beside its final name, synced and renamed, so a crash leaves the old file
//!   or the new one (the `object_store` crate's local store does not sync);
//! - an object in an S3-compatible store (`s3://bucket/prefix`; `s3a://` and `s3p://`, Flink's
//!   other names for it, too), through Apache's `object_store` crate with retries and timeouts
//!   from Flink's `s3.*` keys (see [`S3Settings`]).
//!
//! Objects are written whole (an object store makes a `PUT` visible at once and entirely), read
//! whole or by byte range, and deleted by name or by prefix. Nothing here lists a whole bucket:
//! listing is always under a location's own prefix.
//!
//! Every operation runs on one small Tokio runtime of its own ([`io`]), so sync callers (the
//! JobManager's core, a TaskManager's snapshot thread) and async ones in any runtime share the
//! store's connection pool, and a slow store never blocks a caller's runtime workers.

mod error;
mod io;
mod local;
mod location;
mod s3;
mod staged;
mod uri;

pub use error::StorageError;
pub use io::wait;
pub use location::Location;
pub use s3::S3Settings;
pub use staged::{StagedWriter, Upload};

use s3::Bucket;
pub use uri::StorageUri;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use strom_config::Configuration;

/// Resolves storage paths; cheap to clone (the object stores it opened are shared).
#[derive(Debug, Clone)]
pub struct Storage {
    s3: Arc<S3Settings>,
    /// One client per bucket, opened on first use.
    buckets: Arc<Mutex<HashMap<String, Arc<Bucket>>>>,
}

impl Storage {
    /// Storage with the `s3.*` settings of `config` (and the environment's `AWS_*` variables
    /// for what it leaves unset).
    pub fn new(config: &Configuration) -> Result<Self, StorageError> {
        Ok(Self::with_s3(S3Settings::from_config(config)?))
    }

    /// Storage with the given S3 settings.
    pub fn with_s3(s3: S3Settings) -> Self {
        Self {
            s3: Arc::new(s3),
            buckets: Arc::default(),
        }
    }

    /// Storage for local paths, and `s3://` paths with the environment's settings only.
    pub fn local() -> Self {
        Self::with_s3(S3Settings::default())
    }

    /// The location a configured path names.
    pub fn resolve(&self, path: &str) -> Result<Location, StorageError> {
        match StorageUri::parse(path)? {
            StorageUri::Local(folder) => Ok(Location::local(folder)),
            StorageUri::S3 { bucket, key } => {
                let store = self.bucket(&bucket)?;
                Ok(Location::object(store, &bucket, &key))
            }
        }
    }

    fn bucket(&self, bucket: &str) -> Result<Arc<Bucket>, StorageError> {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(store) = buckets.get(bucket) {
            return Ok(store.clone());
        }
        let store = self.s3.open(bucket)?;
        buckets.insert(bucket.to_owned(), store.clone());
        Ok(store)
    }
}
