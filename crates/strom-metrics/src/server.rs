//! The reporter's endpoint: `GET /metrics` on its own port, as Flink's Prometheus reporter.

use std::future::Future;

use axum::Router;
use axum::http::header;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::{CONTENT_TYPE, PortSpec};

/// The Prometheus reporter's port from a configuration lookup: `metrics.reporter.prom.port`, or
/// Flink's default 9249 when only `metrics.reporter.prom.factory.class` enables the reporter;
/// `None` when the reporter is not configured.
pub fn reporter_port(
    port: Option<String>,
    factory_class: Option<String>,
) -> Result<Option<PortSpec>, crate::PortError> {
    match (port, factory_class) {
        (Some(port), _) => port.parse().map(Some),
        (None, Some(_)) => Ok(Some(PortSpec::single(9249))),
        (None, None) => Ok(None),
    }
}

/// Serves `GET /metrics` on `listener`, each scrape answered with `render()`, until `shutdown`.
pub async fn serve<F, Fut>(
    listener: TcpListener,
    render: F,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = String> + Send + 'static,
{
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let render = render.clone();
            async move { ([(header::CONTENT_TYPE, CONTENT_TYPE)], render().await) }
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reporter_is_on_when_configured() {
        assert_eq!(reporter_port(None, None).ok(), Some(None));
        assert_eq!(
            reporter_port(
                None,
                Some("org.apache.flink.metrics.prometheus.PrometheusReporterFactory".into())
            )
            .ok()
            .flatten()
            .map(|p| p.to_string()),
            Some("9249".into())
        );
        assert!(reporter_port(Some("nope".into()), None).is_err());
    }

    #[tokio::test]
    async fn scrapes_get_the_rendered_text() -> Result<(), Box<dyn std::error::Error>> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(
            listener,
            || async { "strom_up 1\n# EOF\n".to_owned() },
            async move {
                let _ = stopped.await;
            },
        ));
        let mut socket = tokio::net::TcpStream::connect(address).await?;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        socket
            .write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await?;
        let mut answer = String::new();
        socket.read_to_string(&mut answer).await?;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.contains(CONTENT_TYPE), "{answer}");
        assert!(answer.ends_with("strom_up 1\n# EOF\n"), "{answer}");
        let _ = stop.send(());
        server.await??;
        Ok(())
    }
}
