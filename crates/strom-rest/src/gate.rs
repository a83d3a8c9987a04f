//! The REST endpoint before and around leadership: one listener that answers for the
//! JobManager once it leads, redirects to the leader while this process is a standby, and says
//! so while it is starting.
//!
//! The listener is bound when the process starts (so its port is known and health checks get an
//! answer), long before a standby application master may become the leader.

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use parking_lot::RwLock;
use strom_http::{ServeOptions, TlsAcceptor};
use strom_runtime::JobManagerHandle;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::error::ApiError;

/// Switches the REST endpoint from standby to active.
#[derive(Clone, Default)]
pub struct RestGate {
    active: Arc<OnceLock<Router>>,
    leader: Arc<RwLock<Option<String>>>,
    options: crate::RestOptions,
}

impl std::fmt::Debug for RestGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestGate")
            .field("active", &self.active.get().is_some())
            .finish()
    }
}

impl RestGate {
    /// A gate whose API, once active, has `options`.
    pub fn new(options: crate::RestOptions) -> Self {
        Self {
            options,
            ..Self::default()
        }
    }

    /// Serves the JobManager's API from now on.
    pub fn activate(&self, jobmanager: JobManagerHandle) {
        let _ = self
            .active
            .set(crate::router_with(jobmanager, self.options.clone()));
    }

    /// The leader's REST URL while this process is a standby (`None`: unknown).
    pub fn set_leader(&self, rest_url: Option<String>) {
        *self.leader.write() = rest_url;
    }

    async fn answer(self, request: Request<Body>) -> Response {
        if let Some(router) = self.active.get() {
            return match router.clone().oneshot(request).await {
                Ok(response) => response,
                Err(infallible) => match infallible {},
            };
        }
        let leader = self.leader.read().clone();
        match leader {
            Some(url) => {
                let path = request
                    .uri()
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/");
                let location = format!("{}{path}", url.trim_end_matches('/'));
                let body = serde_json::json!({
                    "errors": [format!("this JobManager is a standby; the leader is at {url}")],
                    "leader": url,
                });
                (
                    StatusCode::TEMPORARY_REDIRECT,
                    [(header::LOCATION, location)],
                    axum::Json(body),
                )
                    .into_response()
            }
            None => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the JobManager is starting, or is a standby and no leader is known yet",
            )
            .into_response(),
        }
    }
}

/// Serves `gate` on `listener`, over HTTPS when `tls` is set (`security.ssl.rest.enabled`),
/// until `stop` fires.
pub async fn serve_gate(
    listener: TcpListener,
    gate: RestGate,
    tls: Option<TlsAcceptor>,
    stop: CancellationToken,
) {
    let app = Router::new().fallback(move |request: Request<Body>| gate.clone().answer(request));
    strom_http::serve(listener, tls, app, stop, ServeOptions::new("rest")).await;
}
