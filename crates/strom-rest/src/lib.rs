//! The JobManager's REST API and web UI.
//!
//! Paths and field names follow Flink's REST API v1 (`/overview`, `/taskmanagers`, `/jobs/...`),
//! served both at the root and under `/v1`, so Flink tooling and habits carry over. Errors are
//! Flink's `{"errors": ["..."]}` with 400 for bad requests, 404 for unknown paths and ids, 405 for
//! wrong methods and 500 for internal failures; request bodies are capped by
//! `rest.server.max-content-length`. `/` serves the web UI, a single embedded page.

mod auth;
pub mod checkpoints;
mod error;
mod gate;
mod handlers;
mod model;
mod ui;

use std::future::Future;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use strom_config::options;
use strom_runtime::JobManagerHandle;
use tokio::net::TcpListener;

pub use error::ApiError;
pub use gate::{RestGate, serve_gate};

/// The REST API's routes over a JobManager.
pub fn router(jobmanager: JobManagerHandle) -> Router {
    let limit = jobmanager
        .config()
        .get(&options::REST_SERVER_MAX_CONTENT_LENGTH);
    let token = jobmanager
        .config()
        .get(&options::REST_AUTH_TOKEN)
        .filter(|t| !t.is_empty());
    let api = Router::new()
        .route("/overview", get(handlers::overview))
        .route("/config", get(handlers::dashboard_config))
        .route("/jobmanager/config", get(handlers::jobmanager_config))
        .route("/taskmanagers", get(handlers::taskmanagers))
        .route("/taskmanagers/{id}", get(handlers::taskmanager))
        .route("/jobs", get(handlers::jobs).post(handlers::submit))
        .route("/jobs/overview", get(handlers::jobs_overview))
        .route("/jobs/{jobid}", get(handlers::job).patch(handlers::cancel))
        .route("/jobs/{jobid}/plan", get(handlers::plan))
        .route("/jobs/{jobid}/exceptions", get(handlers::exceptions))
        .route("/jobs/{jobid}/config", get(handlers::job_config))
        .route("/jobs/{jobid}/checkpoints", get(checkpoints::checkpoints))
        .route(
            "/jobs/{jobid}/checkpoints/config",
            get(checkpoints::checkpoints_config),
        )
        .route(
            "/jobs/{jobid}/savepoints",
            axum::routing::post(checkpoints::trigger_savepoint),
        )
        .route(
            "/jobs/{jobid}/savepoints/{triggerid}",
            get(checkpoints::savepoint_status),
        )
        .route("/resourcemanager", get(handlers::resource_manager))
        .route("/mesos", get(handlers::resource_manager))
        .method_not_allowed_fallback(handlers::method_not_allowed);
    Router::new()
        .route("/", get(ui::index))
        .merge(api.clone())
        .nest("/v1", api)
        .fallback(handlers::not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            token,
            auth::require_token,
        ))
        .with_state(jobmanager)
}

/// Serves the API on `listener` until `shutdown` completes.
pub async fn serve(
    jobmanager: JobManagerHandle,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(jobmanager))
        .with_graceful_shutdown(shutdown)
        .await
}
