//! The subscription loop against misbehaving masters: a tiny HTTP server on 127.0.0.1:0 that
//! answers garbage, redirects to itself forever, goes silent, or sends ERROR; and a watched
//! master source whose leader moves from one such server to another.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{sync::Arc, time::Duration};

use anyhow::{Context, Result, bail};
use reqwest::Url;
use strom_mesos::{
    ConnectionState, Credential, FrameworkId, MasterSource, MesosError, SchedulerClient,
    SchedulerConfig, SchedulerEvent, types::FrameworkInfo,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::{Mutex, mpsc, watch},
    time::timeout,
};

/// What the fake master does with the n-th request (0-based), given the request body.
type Script = Arc<dyn Fn(usize, &str, u16) -> Vec<Vec<u8>> + Send + Sync>;

/// A request as the fake master saw it: lowercased head, and body.
type Requests = Arc<Mutex<Vec<(String, String)>>>;

/// Starts the fake master; returns its base URL and the requests it got.
async fn fake_master(script: Script) -> Result<(Url, Requests)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let (script, seen) = (script.clone(), seen.clone());
            tokio::spawn(async move {
                let _ = serve(socket, script, seen, port).await;
            });
        }
    });
    Ok((Url::parse(&format!("http://127.0.0.1:{port}/"))?, requests))
}

async fn serve(mut socket: TcpStream, script: Script, seen: Requests, port: u16) -> Result<()> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let (head_end, body_len) = loop {
        let n = socket.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        data.extend_from_slice(&buf[..n]);
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_lowercase();
            let length = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse().ok())
                .unwrap_or(0usize);
            break (end + 4, length);
        }
    };
    while data.len() < head_end + body_len {
        let n = socket.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        data.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&data[..head_end]).to_lowercase();
    let body = String::from_utf8_lossy(&data[head_end..]).into_owned();
    let index = {
        let mut seen = seen.lock().await;
        seen.push((head, body.clone()));
        seen.len() - 1
    };
    for part in script(index, &body, port) {
        socket.write_all(&part).await?;
        socket.flush().await?;
    }
    // Keep streaming connections open (silent) until the client goes away.
    let _ = socket.read(&mut buf).await;
    Ok(())
}

const STREAM_HEAD: &str = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
     Mesos-Stream-Id: fake-stream\r\nTransfer-Encoding: chunked\r\n\r\n";

fn chunk(data: &str) -> Vec<u8> {
    format!("{:x}\r\n{data}\r\n", data.len()).into_bytes()
}

fn record(json: &str) -> Vec<u8> {
    chunk(&format!("{}\n{json}", json.len()))
}

fn subscribed(heartbeat: f64) -> Vec<u8> {
    record(&format!(
        r#"{{"type":"SUBSCRIBED","subscribed":{{"framework_id":{{"value":"fw-fake"}},"heartbeat_interval_seconds":{heartbeat}}}}}"#
    ))
}

fn config(master: impl Into<MasterSource>) -> SchedulerConfig {
    let framework = FrameworkInfo {
        user: "nobody".into(),
        name: "fake".into(),
        ..FrameworkInfo::default()
    };
    SchedulerConfig {
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        request_timeout: Duration::from_secs(5),
        ..SchedulerConfig::new(master, framework)
    }
}

async fn next(events: &mut mpsc::Receiver<SchedulerEvent>) -> Result<SchedulerEvent> {
    timeout(Duration::from_secs(10), events.recv())
        .await
        .context("no event within 10 s")?
        .context("event channel closed")
}

async fn next_disconnect(events: &mut mpsc::Receiver<SchedulerEvent>) -> Result<String> {
    match next(events).await? {
        SchedulerEvent::Disconnected { reason } => Ok(reason),
        other => bail!("expected Disconnected, got {other:?}"),
    }
}

#[tokio::test]
async fn garbage_body_is_a_disconnect_and_a_retry() -> Result<()> {
    let script: Script = Arc::new(|_, _, _| {
        vec![
            STREAM_HEAD.into(),
            chunk("<html>this is not recordio</html>"),
        ]
    });
    let (url, requests) = fake_master(script).await?;
    let (client, mut events) = SchedulerClient::start(config(url))?;
    let reason = next_disconnect(&mut events).await?;
    assert!(
        reason.contains("invalid recordio length header"),
        "{reason}"
    );
    // It retries (with backoff) rather than giving up or spinning.
    next_disconnect(&mut events).await?;
    assert!(requests.lock().await.len() >= 2);
    assert!(matches!(
        client.revive(vec![]).await,
        Err(MesosError::NotSubscribed)
    ));
    client.shutdown().await;
    assert_eq!(client.state(), ConnectionState::Disconnected);
    Ok(())
}

#[tokio::test]
async fn redirect_loop_and_503_are_reported() -> Result<()> {
    let script: Script = Arc::new(|index, _, port| {
        let answer = if index < 6 {
            // Scheme-less, as Mesos writes it, pointing back at itself.
            format!(
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: //127.0.0.1:{port}/master/api/v1/scheduler\r\n\
                 Content-Length: 0\r\nConnection: close\r\n\r\n"
            )
        } else {
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 18\r\nConnection: close\r\n\r\n\
             No leader elected\n"
                .to_owned()
        };
        vec![answer.into_bytes()]
    });
    let (url, _) = fake_master(script).await?;
    let (client, mut events) = SchedulerClient::start(config(url))?;
    let reason = next_disconnect(&mut events).await?;
    assert!(reason.contains("more than 5 redirects"), "{reason}");
    let reason = next_disconnect(&mut events).await?;
    assert!(
        reason.contains("503") && reason.contains("No leader elected"),
        "{reason}"
    );
    client.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn missed_heartbeats_resubscribe_as_the_same_framework() -> Result<()> {
    let script: Script = Arc::new(|index, _, _| match index {
        // A record that is not JSON is skipped; then SUBSCRIBED, then silence.
        0 => vec![STREAM_HEAD.into(), record("hello"), subscribed(0.05)],
        1 => vec![STREAM_HEAD.into(), subscribed(30.0)],
        _ => vec![
            b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
        ],
    });
    let (url, requests) = fake_master(script).await?;
    let config = SchedulerConfig {
        credential: Some(Credential {
            principal: "strom".into(),
            secret: "hunter2".into(),
        }),
        ..config(url)
    };
    let (client, mut events) = SchedulerClient::start(config)?;
    let SchedulerEvent::Subscribed {
        framework_id,
        heartbeat_interval,
        ..
    } = next(&mut events).await?
    else {
        bail!("expected Subscribed");
    };
    assert_eq!(framework_id, FrameworkId::new("fw-fake"));
    assert_eq!(heartbeat_interval, Duration::from_millis(50));
    let reason = next_disconnect(&mut events).await?;
    assert!(reason.contains("no data from the mesos master"), "{reason}");
    assert!(matches!(
        next(&mut events).await?,
        SchedulerEvent::Subscribed { .. }
    ));
    assert!(matches!(client.state(), ConnectionState::Subscribed { .. }));
    client.revive(vec![]).await?;
    let requests = requests.lock().await;
    let (head, body) = &requests[0];
    assert!(!body.contains("framework_id"), "{body}");
    assert!(!head.contains("mesos-stream-id"), "{head}");
    // base64("strom:hunter2"), lowercased with the rest of the head
    assert!(
        head.contains("authorization: basic c3ryb206ahvudgvymg=="),
        "{head}"
    );
    let (_, body) = &requests[1];
    assert!(
        body.starts_with(r#"{"framework_id":{"value":"fw-fake"},"type":"SUBSCRIBE""#),
        "{body}"
    );
    let (head, body) = &requests[2];
    assert!(head.contains("mesos-stream-id: fake-stream"), "{head}");
    assert_eq!(
        body,
        r#"{"framework_id":{"value":"fw-fake"},"type":"REVIVE","revive":{}}"#
    );
    drop(requests);
    client.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn error_event_is_forwarded_and_the_loop_does_not_spin() -> Result<()> {
    let script: Script = Arc::new(|_, _, _| {
        vec![
            STREAM_HEAD.into(),
            record(r#"{"type":"ERROR","error":{"message":"Framework has been removed"}}"#),
        ]
    });
    let (url, requests) = fake_master(script).await?;
    let (client, mut events) = SchedulerClient::start(config(url))?;
    let started = tokio::time::Instant::now();
    for _ in 0..2 {
        match next(&mut events).await? {
            SchedulerEvent::Error { message } => assert_eq!(message, "Framework has been removed"),
            other => bail!("expected Error, got {other:?}"),
        }
        let reason = next_disconnect(&mut events).await?;
        assert!(reason.contains("Framework has been removed"), "{reason}");
    }
    // After an ERROR the loop waits max_backoff (200 ms) before the next attempt.
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert!(requests.lock().await.len() <= 3);
    client.shutdown().await;
    Ok(())
}

/// A master that accepts the subscription and then only keeps the stream open.
fn quiet_leader() -> Script {
    Arc::new(|index, _, _| match index {
        0 => vec![STREAM_HEAD.into(), subscribed(30.0)],
        _ => vec![
            b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
        ],
    })
}

async fn next_subscribed(events: &mut mpsc::Receiver<SchedulerEvent>) -> Result<Url> {
    match next(events).await? {
        SchedulerEvent::Subscribed { master_url, .. } => Ok(master_url),
        other => bail!("expected Subscribed, got {other:?}"),
    }
}

#[tokio::test]
async fn a_leader_change_moves_the_subscription_at_once() -> Result<()> {
    let (first, first_requests) = fake_master(quiet_leader()).await?;
    let (second, second_requests) = fake_master(quiet_leader()).await?;
    let (publish, leader) = watch::channel(Some(first.clone()));
    // A backoff longer than `next` waits: the move must not back off.
    let config = SchedulerConfig {
        initial_backoff: Duration::from_secs(60),
        max_backoff: Duration::from_secs(60),
        ..config(MasterSource::Watched(leader))
    };
    let (client, mut events) = SchedulerClient::start(config)?;
    let master_url = next_subscribed(&mut events).await?;
    assert_eq!(master_url.port(), first.port());

    publish.send_replace(Some(second.clone()));
    let reason = next_disconnect(&mut events).await?;
    assert_eq!(reason, format!("leading master changed to {second}"));
    let master_url = next_subscribed(&mut events).await?;
    assert_eq!(master_url.port(), second.port());
    client.revive(vec![]).await?;

    assert_eq!(first_requests.lock().await.len(), 1);
    let requests = second_requests.lock().await;
    let (_, body) = &requests[0];
    // A failover of the framework the first leader registered.
    assert!(
        body.starts_with(r#"{"framework_id":{"value":"fw-fake"},"type":"SUBSCRIBE""#),
        "{body}"
    );
    let (head, body) = &requests[1];
    assert!(head.contains("mesos-stream-id: fake-stream"), "{head}");
    assert!(body.contains(r#""type":"REVIVE""#), "{body}");
    drop(requests);
    client.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_new_leader_ends_the_wait_for_one_and_the_backoff() -> Result<()> {
    // A port nobody listens on: the master that just died.
    let dead = {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        Url::parse(&format!(
            "http://127.0.0.1:{}/",
            listener.local_addr()?.port()
        ))?
    };
    let (alive, _) = fake_master(quiet_leader()).await?;
    let (publish, leader) = watch::channel(None);
    let config = SchedulerConfig {
        initial_backoff: Duration::from_secs(60),
        max_backoff: Duration::from_secs(60),
        request_timeout: Duration::from_secs(60),
        ..config(MasterSource::Watched(leader))
    };
    let (client, mut events) = SchedulerClient::start(config)?;
    // No leader known: the attempt waits for one rather than failing at once.
    publish.send_replace(Some(dead));
    let reason = next_disconnect(&mut events).await?;
    assert!(reason.contains("failed"), "{reason}");
    publish.send_replace(Some(alive.clone()));
    let master_url = next_subscribed(&mut events).await?;
    assert_eq!(master_url.port(), alive.port());
    client.shutdown().await;
    Ok(())
}
