//! REST requests against the real router over a JobManager with no TaskManagers: any method,
//! path, query, `Authorization` header and body (savepoint triggers, cancel modes, job
//! submissions, ids). Every answer is a status the API documents, never a panic or a 500.
#![no_main]

use std::sync::OnceLock;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use futures::future::{BoxFuture, FutureExt};
use libfuzzer_sys::fuzz_target;
use strom_runtime::JobManager;
use strom_runtime::driver::{DriverEvents, ResourceManagerDriver, WorkerId};
use tower::ServiceExt;

/// A resource manager that never gets a worker: requests stay on the JobManager.
struct NoWorkers;

impl ResourceManagerDriver for NoWorkers {
    fn name(&self) -> &'static str {
        "fuzz"
    }
    fn start(&mut self, _events: DriverEvents) -> BoxFuture<'_, Result<Vec<WorkerId>, String>> {
        async { Ok(Vec::new()) }.boxed()
    }
    fn request_worker(&mut self) -> Result<WorkerId, String> {
        Err("no workers while fuzzing".into())
    }
    fn release_worker(&mut self, _id: &WorkerId) {}
    fn shutdown(&mut self) -> BoxFuture<'_, ()> {
        async {}.boxed()
    }
}

struct Api {
    runtime: tokio::runtime::Runtime,
    open: Router,
    guarded: Router,
}

fn api() -> &'static Api {
    static API: OnceLock<Api> = OnceLock::new();
    API.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let router = |token: Option<&str>| {
            let mut config = strom_config::Configuration::new();
            config
                .set("jobmanager.bind-host", "127.0.0.1")
                .expect("bind host");
            config.set("jobmanager.rpc.port", "0").expect("any port");
            config
                .set("rest.server.max-content-length", "4096")
                .expect("limit");
            if let Some(token) = token {
                config.set("rest.auth.token", token).expect("token");
            }
            runtime.block_on(async {
                let listener = JobManager::bind(&config).await.expect("an rpc port");
                let jm = JobManager::start(listener, config, Box::new(NoWorkers), 0)
                    .await
                    .expect("a jobmanager");
                strom_rest::router(jm)
            })
        };
        let open = router(None);
        let guarded = router(Some("fuzz-token"));
        Api {
            runtime,
            open,
            guarded,
        }
    })
}

const JOB: &str = "0123456789abcdef0123456789abcdef";

/// Paths with a well-formed job id, so that the fuzzer reaches the body and query parsers.
const ROUTES: [&str; 6] = [
    "/jobs",
    "/jobs/{job}/savepoints",
    "/jobs/{job}?mode=",
    "/jobs/{job}/savepoints/",
    "/v1/jobs/{job}/checkpoints",
    "/taskmanagers/",
];

fuzz_target!(|data: &[u8]| {
    let [selector, route, rest @ ..] = data else {
        return;
    };
    let method = match selector % 6 {
        0 => Method::GET,
        1 => Method::POST,
        2 => Method::PATCH,
        3 => Method::PUT,
        4 => Method::DELETE,
        _ => Method::OPTIONS,
    };
    let guarded = selector & 0x80 != 0;
    // `tail` is appended to a known route (or is the whole path); the body follows a NUL.
    let (tail, body) = match rest.iter().position(|b| *b == 0) {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &[][..]),
    };
    let Ok(tail) = std::str::from_utf8(tail) else {
        return;
    };
    let path = match ROUTES.get(usize::from(*route)) {
        Some(known) => format!("{}{tail}", known.replace("{job}", JOB)),
        None => format!("/{tail}"),
    };
    let mut request = Request::builder().method(method).uri(path.as_str());
    if selector & 0x40 != 0 {
        request = request.header("authorization", "Bearer fuzz-token");
    }
    let Ok(request) = request.body(Body::from(body.to_vec())) else {
        return;
    };
    let api = api();
    let router = if guarded { &api.guarded } else { &api.open };
    let status = api
        .runtime
        .block_on(router.clone().oneshot(request))
        .map(|response| response.status())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{path}");
});
