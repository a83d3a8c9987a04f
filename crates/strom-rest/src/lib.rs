//! The JobManager's REST API and web UI.
//!
//! Paths and field names follow Flink's REST API v1 (`/overview`, `/taskmanagers`, `/jobs/...`),
//! served both at the root and under `/v1`, so Flink tooling and habits carry over. Errors are
//! Flink's `{"errors": ["..."]}` with 400 for bad requests, 404 for unknown paths and ids, 405 for
//! wrong methods and 500 for internal failures; request bodies are capped by
//! `rest.server.max-content-length`. `/` serves the web UI (embedded assets, see [`ui`]);
//! `/metrics` the JobManager's metrics in Prometheus text.

mod applications;
mod auth;
pub mod checkpoints;
mod error;
mod gate;
mod handlers;
mod managers;
pub mod metrics;
mod model;
mod savepoints;
mod sql;
mod texts;
mod ui;
mod vertices;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::{Extension, Router};
use strom_config::options;
use strom_jobgraph::JobGraph;
use strom_runtime::JobManagerHandle;

pub use error::ApiError;
pub use gate::{RestGate, serve_gate};

/// Compiles a SQL script into a job graph, for `POST /jobs/sql`. The binary provides it: the
/// SQL front end (DataFusion) is heavy, and the REST API should not depend on it.
pub type SqlCompiler = Arc<
    dyn Fn(String) -> Pin<Box<dyn Future<Output = Result<JobGraph, String>> + Send>> + Send + Sync,
>;

/// What the REST API can do beyond the JobManager's own operations.
#[derive(Clone, Default)]
pub struct RestOptions {
    /// The SQL front end; without it `POST /jobs/sql` answers 501.
    pub sql: Option<SqlCompiler>,
    /// The JobManager process's newest log lines (`/jobmanager/log`); without it the log pages
    /// say that the log is not kept.
    pub log: Option<LogLines>,
}

/// Gives a process's newest log lines, oldest first.
pub type LogLines = Arc<dyn Fn() -> Vec<String> + Send + Sync>;

impl std::fmt::Debug for RestOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestOptions")
            .field("sql", &self.sql.is_some())
            .field("log", &self.log.is_some())
            .finish()
    }
}

/// The REST API's routes over a JobManager.
pub fn router(jobmanager: JobManagerHandle) -> Router {
    router_with(jobmanager, RestOptions::default())
}

/// The REST API's routes over a JobManager, with `options`.
pub fn router_with(jobmanager: JobManagerHandle, options: RestOptions) -> Router {
    let limit = jobmanager
        .config()
        .get(&options::REST_SERVER_MAX_CONTENT_LENGTH);
    let token = jobmanager
        .config()
        .get(&options::REST_AUTH_TOKEN)
        .filter(|t| !t.is_empty());
    let origin = jobmanager
        .config()
        .get(&options::WEB_ACCESS_CONTROL_ALLOW_ORIGIN)
        .filter(|o| !o.is_empty())
        .and_then(|o| match axum::http::HeaderValue::from_str(&o) {
            Ok(value) => Some(value),
            Err(_) => {
                tracing::warn!(value = %o, "web.access-control-allow-origin is not a valid header value; no Access-Control-Allow-Origin is sent");
                None
            }
        });
    let api = Router::new()
        .route("/overview", get(handlers::overview))
        .route(
            "/cluster",
            axum::routing::delete(handlers::shutdown_cluster),
        )
        .route("/config", get(handlers::dashboard_config))
        .route("/jobmanager/config", get(handlers::jobmanager_config))
        .route("/taskmanagers", get(handlers::taskmanagers))
        .route("/taskmanagers/{id}", get(managers::taskmanager))
        .route(
            "/taskmanagers/{id}/metrics",
            get(managers::taskmanager_metrics),
        )
        .route("/jobmanager/metrics", get(managers::jobmanager_metrics))
        .route(
            "/jobmanager/environment",
            get(managers::jobmanager_environment),
        )
        .route("/jobmanager/logs", get(texts::jobmanager_logs))
        .route("/jobmanager/logs/{name}", get(texts::jobmanager_log_file))
        .route("/jobmanager/log", get(texts::jobmanager_log))
        .route("/jobmanager/stdout", get(texts::jobmanager_stdout))
        .route(
            "/jobmanager/thread-dump",
            get(texts::jobmanager_thread_dump),
        )
        .route("/taskmanagers/{id}/logs", get(texts::taskmanager_logs))
        .route(
            "/taskmanagers/{id}/logs/{name}",
            get(texts::taskmanager_log_file),
        )
        .route("/taskmanagers/{id}/stdout", get(texts::taskmanager_stdout))
        .route(
            "/taskmanagers/{id}/thread-dump",
            get(texts::taskmanager_thread_dump),
        )
        .route(
            "/jobs/{jobid}/checkpoints/details/{checkpointid}",
            get(checkpoints::checkpoint_details),
        )
        .route("/taskmanagers/{id}/log", get(texts::taskmanager_log))
        .route("/jobs", get(handlers::jobs).post(handlers::submit))
        .route("/jobs/sql", post(sql::submit))
        .route("/jobs/{jobid}/results", get(sql::results))
        .route("/jobs/overview", get(handlers::jobs_overview))
        .route("/jobs/{jobid}", get(handlers::job).patch(handlers::cancel))
        .route("/jobs/{jobid}/plan", get(handlers::plan))
        .route("/jobs/{jobid}/status", get(applications::status))
        .route(
            "/jobs/{jobid}/execution-result",
            get(applications::execution_result),
        )
        .route("/jobs/{jobid}/yarn-cancel", get(applications::yarn_cancel))
        .route("/jobs/{jobid}/stop", post(savepoints::stop))
        .route("/jobs/{jobid}/vertices/{vertexid}", get(vertices::vertex))
        .route(
            "/jobs/{jobid}/vertices/{vertexid}/subtasks/metrics",
            get(vertices::subtasks_metrics),
        )
        .route(
            "/jobs/{jobid}/vertices/{vertexid}/metrics",
            get(vertices::metrics),
        )
        .route(
            "/jobs/{jobid}/vertices/{vertexid}/watermarks",
            get(vertices::watermarks),
        )
        .route(
            "/jobs/{jobid}/vertices/{vertexid}/backpressure",
            get(vertices::backpressure),
        )
        .route(
            "/jobs/{jobid}/vertices/{vertexid}/subtasktimes",
            get(vertices::subtask_times),
        )
        .route(
            "/jobs/{jobid}/vertices/{vertexid}/taskmanagers",
            get(vertices::taskmanagers),
        )
        .route(
            "/jobs/{jobid}/vertices/{vertexid}/accumulators",
            get(vertices::accumulators),
        )
        .route(
            "/jobs/{jobid}/vertices/{vertexid}/subtasks/accumulators",
            get(vertices::subtask_accumulators),
        )
        .route(
            "/jobs/{jobid}/accumulators",
            get(applications::accumulators),
        )
        .route("/jars", get(applications::jars))
        .route("/jars/upload", post(applications::jar_operation))
        .route("/jars/{jarid}/run", post(applications::jar_operation))
        .route(
            "/jars/{jarid}/plan",
            get(applications::jar_operation).post(applications::jar_operation),
        )
        .route(
            "/jars/{jarid}",
            axum::routing::delete(applications::jar_operation),
        )
        .route("/applications/overview", get(applications::overview))
        .route("/applications/{id}", get(applications::application))
        .route(
            "/applications/{id}/cancel",
            post(applications::cancel_application),
        )
        .route("/savepoint-disposal", post(savepoints::dispose))
        .route(
            "/savepoint-disposal/{triggerid}",
            get(savepoints::disposal_status),
        )
        .route("/jobs/{jobid}/exceptions", get(handlers::exceptions))
        .route("/jobs/{jobid}/config", get(handlers::job_config))
        .route("/jobs/{jobid}/checkpoints", get(checkpoints::checkpoints))
        .route(
            "/jobs/{jobid}/checkpoints/config",
            get(checkpoints::checkpoints_config),
        )
        .route(
            "/jobs/{jobid}/savepoints",
            axum::routing::post(savepoints::trigger_savepoint),
        )
        .route(
            "/jobs/{jobid}/savepoints/{triggerid}",
            get(savepoints::savepoint_status),
        )
        .route("/resourcemanager", get(handlers::resource_manager))
        .route("/mesos", get(handlers::resource_manager))
        .route("/metrics", get(handlers::metrics))
        .method_not_allowed_fallback(handlers::method_not_allowed);
    let mut routes = Router::new()
        .route("/", get(ui::index))
        .route("/ui/{asset}", get(ui::asset));
    // Flink's own dashboard, from a Flink distribution's files: its API calls are relative to
    // its page, so the API is served under its folder too.
    if let Some(folder) = jobmanager
        .config()
        .get(&options::WEB_FLINK_DASHBOARD_PATH)
        .filter(|f| !f.is_empty())
    {
        let index = std::path::Path::new(&folder).join("index.html");
        if !index.is_file() {
            tracing::warn!(
                folder = %folder,
                "web.flink-dashboard.path has no index.html: /flink/ will answer 404 (extract the \
                 web/ folder of a Flink 2.x flink-dist jar there; scripts/flink-tools.sh dashboard does)"
            );
        }
        routes = routes
            .route(
                "/flink",
                get(|| async { axum::response::Redirect::permanent("/flink/") }),
            )
            // The nested router below does not see its own root.
            .route_service("/flink/", tower_http::services::ServeFile::new(index))
            .nest(
                "/flink",
                api.clone()
                    .fallback_service(tower_http::services::ServeDir::new(folder)),
            );
    }
    routes
        .merge(api.clone())
        .nest("/v1", api)
        .fallback(handlers::not_found)
        .layer(Extension(options))
        .layer(Extension(savepoints::Disposals::default()))
        .layer(Extension(strom_metrics::Meters::default()))
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            token,
            auth::require_token,
        ))
        .layer(axum::middleware::from_fn_with_state(
            origin,
            auth::allow_origin,
        ))
        .with_state(jobmanager)
}
