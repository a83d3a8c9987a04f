//! HTTP semantics of the artifact server: one axum fallback handler that maps a request to a
//! registry entry and streams it.
//!
//! Only `GET` and `HEAD` are allowed (405 with `Allow: GET, HEAD` otherwise, checked first, as in
//! Flink). The path must start with the server's UUID prefix; the rest is percent-decoded and
//! validated by [`remote_path::decode_request`] and then looked up in the registry. A file whose
//! source has disappeared (or is no longer a regular file) answers 410 Gone. Error bodies are short
//! plain text that never mention local paths.

use std::io;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use tokio::io::AsyncReadExt;
use tokio_util::io::ReaderStream;
use tracing::{info, warn};

use crate::once::{self, OneTime};
use crate::registry::{Content, Registry};
use crate::remote_path;

/// Read size of streamed file bodies.
const CHUNK_SIZE: usize = 64 * 1024;

/// What every request handler needs.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    /// `/<uuid>/`.
    pub(crate) prefix: Arc<str>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) once: Arc<OneTime>,
}

/// The router serving `state`: everything goes to one fallback handler because artifact paths are
/// data, not routes.
pub(crate) fn router(state: AppState) -> Router {
    Router::new().fallback(serve).with_state(state)
}

async fn serve(State(state): State<AppState>, method: Method, uri: Uri) -> Response {
    let path = uri.path();
    let response = respond(&state, &method, path).await;
    let status = response.status();
    if status.is_server_error() || status == StatusCode::GONE {
        warn!(%method, path, status = status.as_u16(), "artifact request failed");
    } else {
        info!(%method, path, status = status.as_u16(), "artifact request");
    }
    response
}

async fn respond(state: &AppState, method: &Method, path: &str) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, HEAD")],
            "method not allowed\n",
        )
            .into_response();
    }
    let Some(raw_remote) = path.strip_prefix(&*state.prefix) else {
        return plain(StatusCode::NOT_FOUND, "not found\n");
    };
    if let Some(token) = raw_remote
        .strip_prefix(once::SEGMENT)
        .and_then(|rest| rest.strip_prefix('/'))
    {
        // Only a GET consumes a one-time artifact; a HEAD must not burn it.
        if method != Method::GET {
            return plain(
                StatusCode::METHOD_NOT_ALLOWED,
                "one-time artifacts are only fetched with GET\n",
            );
        }
        return match state.once.take(token, std::time::Instant::now()) {
            Some(bytes) => ok(bytes.len() as u64, Body::from(bytes)),
            None => plain(StatusCode::NOT_FOUND, "not found\n"),
        };
    }
    let remote = match remote_path::decode_request(raw_remote) {
        Ok(remote) => remote,
        Err(reason) => {
            return plain(
                StatusCode::BAD_REQUEST,
                format!("bad request path: {reason}\n"),
            );
        }
    };
    let Some(entry) = state.registry.get(&remote) else {
        return plain(StatusCode::NOT_FOUND, "not found\n");
    };
    let with_body = method == Method::GET;
    match entry.content {
        Content::Bytes(bytes) => {
            let length = bytes.len() as u64;
            let body = if with_body {
                Body::from(bytes)
            } else {
                Body::empty()
            };
            ok(length, body)
        }
        Content::File(source) => match open(&source).await {
            Ok((file, length)) => {
                let body = if with_body {
                    // `take` keeps the body consistent with Content-Length if the file grows.
                    Body::from_stream(ReaderStream::with_capacity(file.take(length), CHUNK_SIZE))
                } else {
                    Body::empty()
                };
                ok(length, body)
            }
            Err(OpenError::Gone(err)) => {
                warn!(remote, source = %source.display(), error = %err, "artifact source is gone");
                plain(
                    StatusCode::GONE,
                    format!("artifact `{remote}` is gone: its source file no longer exists\n"),
                )
            }
            Err(OpenError::Io(err)) => {
                warn!(remote, source = %source.display(), error = %err, "cannot open artifact source");
                plain(StatusCode::INTERNAL_SERVER_ERROR, "cannot read artifact\n")
            }
        },
    }
}

enum OpenError {
    /// The source no longer exists or is no longer a regular file.
    Gone(io::Error),
    Io(io::Error),
}

/// Opens the source and takes its length from the opened handle, so the length and the streamed
/// bytes belong to the same file even if the path is replaced meanwhile.
async fn open(source: &std::path::Path) -> Result<(tokio::fs::File, u64), OpenError> {
    let file = tokio::fs::File::open(source)
        .await
        .map_err(|err| match err.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => OpenError::Gone(err),
            _ => OpenError::Io(err),
        })?;
    let metadata = file.metadata().await.map_err(OpenError::Io)?;
    if !metadata.is_file() {
        return Err(OpenError::Gone(io::Error::other(
            "source is not a regular file",
        )));
    }
    Ok((file, metadata.len()))
}

fn ok(length: u64, body: Body) -> Response {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private"));
    response
}

fn plain(status: StatusCode, body: impl Into<String>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body.into(),
    )
        .into_response()
}
