//! REST errors in Flink's `{"errors": [...]}` form.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use strom_runtime::RuntimeError;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    /// An error with a status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.message)
    }
}

impl From<RuntimeError> for ApiError {
    fn from(error: RuntimeError) -> Self {
        let status = match &error {
            RuntimeError::InvalidJob(_)
            | RuntimeError::InvalidJobConfig(_)
            | RuntimeError::Results { .. } => StatusCode::BAD_REQUEST,
            RuntimeError::JobNotFound(_) => StatusCode::NOT_FOUND,
            RuntimeError::JobEnded { .. } | RuntimeError::Savepoint(_) => StatusCode::CONFLICT,
            RuntimeError::Disabled(_) => StatusCode::FORBIDDEN,
            RuntimeError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            RuntimeError::TaskManagerUnavailable(_) => StatusCode::GATEWAY_TIMEOUT,
            RuntimeError::Bind { .. }
            | RuntimeError::Config { .. }
            | RuntimeError::Driver(_)
            | RuntimeError::JobStore(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, error.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({ "errors": [self.message] })),
        )
            .into_response()
    }
}
