//! Errors of the artifact server: registration, binding and TLS setup.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Why a registered remote path (or a requested one) is not acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RemotePathError {
    /// The path is empty.
    #[error("path is empty")]
    Empty,
    /// The path starts with `/`.
    #[error("path is absolute")]
    Absolute,
    /// The path contains a `.` or `..` segment.
    #[error("path contains a `.` or `..` segment")]
    DotSegment,
    /// The path contains an empty segment (`a//b`, or a trailing `/`).
    #[error("path contains an empty segment")]
    EmptySegment,
    /// The path contains a backslash.
    #[error("path contains a backslash")]
    Backslash,
    /// The path contains a control character (including NUL).
    #[error("path contains a control character")]
    ControlCharacter,
    /// A requested path contains a percent-encoded `/` or `\` (`%2F`, `%5C`).
    #[error("path contains a percent-encoded separator")]
    EncodedSeparator,
    /// A requested path does not decode to UTF-8.
    #[error("path is not valid utf-8 after percent-decoding")]
    InvalidUtf8,
    /// The path's first segment is `once`, which serves one-time artifacts.
    #[error("paths under `once/` are reserved for one-time artifacts")]
    Reserved,
}

/// Errors returned by [`ArtifactServer`](crate::ArtifactServer).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArtifactError {
    /// The remote (sandbox-relative) path of an artifact is not acceptable.
    #[error("invalid artifact path `{remote}`: {reason}")]
    InvalidRemotePath {
        /// The rejected remote path.
        remote: String,
        /// What is wrong with it.
        reason: RemotePathError,
    },
    /// An artifact with the same remote path is already registered.
    #[error("artifact `{remote}` is already registered")]
    Duplicate {
        /// The remote path registered twice.
        remote: String,
    },
    /// The source of an artifact cannot be inspected.
    #[error("cannot access source `{source_path}` of artifact `{remote}`")]
    SourceUnavailable {
        /// The remote path of the artifact.
        remote: String,
        /// The local source file.
        source_path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },
    /// The source of an artifact exists but is not a regular file.
    #[error("source `{source_path}` of artifact `{remote}` is not a regular file")]
    NotARegularFile {
        /// The remote path of the artifact.
        remote: String,
        /// The local source path.
        source_path: PathBuf,
    },
    /// The advertised host cannot be put into a URL.
    #[error("invalid advertised host `{host}`")]
    InvalidAdvertisedHost {
        /// The rejected host.
        host: String,
    },
    /// The listening socket cannot be bound.
    #[error("cannot bind artifact server to {addr}")]
    Bind {
        /// The requested bind address.
        addr: SocketAddr,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },
    /// The TLS certificate or key cannot be used.
    #[error(transparent)]
    Tls(#[from] strom_http::TlsError),
}
