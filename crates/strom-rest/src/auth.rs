//! The optional REST auth token (`rest.auth.token`): requests that change the cluster (job
//! submission, cancellation) must carry `Authorization: Bearer <token>`; reads stay open, as
//! Flink's dashboard is.

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// Compares without an early exit, so the time taken does not reveal how much matched.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Rejects mutating requests without the right bearer token.
pub(crate) async fn require_token(
    State(token): State<Option<String>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = token else {
        return next.run(request).await;
    };
    // Flink's dashboard cancels with a GET (`/jobs/:id/yarn-cancel`): that one changes the
    // cluster too.
    let reads = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) && !request.uri().path().ends_with("/yarn-cancel");
    if reads {
        return next.run(request).await;
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(presented) if same(presented.as_bytes(), token.as_bytes()) => next.run(request).await,
        Some(_) => ApiError::new(StatusCode::UNAUTHORIZED, "wrong REST auth token").into_response(),
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "this cluster requires a REST auth token: send `Authorization: Bearer <token>` (rest.auth.token)",
        )
        .into_response(),
    }
}

/// Adds `Access-Control-Allow-Origin` (`web.access-control-allow-origin`, Flink's `*` by
/// default) to every answer, as Flink's REST endpoint does.
pub(crate) async fn allow_origin(
    State(origin): State<Option<axum::http::HeaderValue>>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    if let Some(origin) = origin {
        response
            .headers_mut()
            .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::same;

    #[test]
    fn compares_whole_tokens() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
        assert!(!same(b"", b"a"));
    }
}
