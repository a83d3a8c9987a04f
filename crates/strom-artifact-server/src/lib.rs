//! The artifact server of the strom application master.
//!
//! Mesos agents launch a TaskManager by running the Mesos fetcher over the `CommandInfo.URIs` of
//! its `TaskInfo`: every URI is downloaded into the task sandbox (under its `output_file`) before
//! the command starts. This crate is the HTTP(S) server those URIs point at. It serves the strom
//! binary, the cluster configuration file, user artifacts and files named in the configuration;
//! it is the counterpart of Flink's `MesosArtifactServer` (section 1.13 of
//! `docs/flink-on-mesos.md`).
//!
//! - Every server gets a random UUID URL prefix, `http[s]://<advertised host>:<port>/<uuid>/`: the
//!   fetcher cache keys on the URL, so two clusters (or two runs of one) never share cache
//!   entries, and the unguessable prefix is the only protection of the files, as in Flink.
//! - Requests are matched against the registered map only, never joined onto a filesystem path.
//! - File bodies are streamed from disk; in-memory artifacts ([`ArtifactServer::add_bytes`]) serve
//!   generated files such as a per-cluster configuration or secret.
//! - One-time artifacts ([`ArtifactServer::add_one_time`], [`once`]) hand a secret to exactly one
//!   fetch.
//! - HTTPS with rustls when [`ArtifactServerConfig::tls`] is set; the fetcher must trust the CA.
//!
//! ```no_run
//! # async fn example() -> Result<(), strom_artifact_server::ArtifactError> {
//! use strom_artifact_server::{Artifact, ArtifactServer, ArtifactServerConfig};
//!
//! let server = ArtifactServer::start(ArtifactServerConfig {
//!     bind: "0.0.0.0:0".parse().expect("literal address"),
//!     advertised_host: "am.example.com".to_owned(),
//!     tls: None,
//! })
//! .await?;
//! let binary_url = server.add(Artifact::new("/opt/strom/bin/strom", "bin/strom").executable(true))?;
//! server.add_bytes("conf/strom.yaml", b"parallelism: 4\n".to_vec(), false)?;
//! for uri in server.artifacts() {
//!     // one Mesos `CommandInfo.URI` per artifact
//!     println!("{} -> {}", uri.value, uri.output_file);
//! }
//! # let _ = binary_url;
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

mod error;
mod handler;
pub mod once;
mod registry;
mod remote_path;
mod server;

pub use error::{ArtifactError, RemotePathError};
pub use registry::{Artifact, ArtifactUri};
pub use server::{ArtifactServer, ArtifactServerConfig};
pub use strom_http::TlsFiles;
