//! A loopback TCP forwarder for fault tests: it relays connections to a target, can stay closed
//! until opened (a server that is not reachable yet), and can cut the Mesos scheduler's
//! SUBSCRIBE stream in the middle of a record.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Relays `127.0.0.1:<port>` to a target; stops on drop.
pub struct Forwarder {
    pub port: u16,
    /// Connections whose request was a scheduler SUBSCRIBE call.
    pub subscribes: Arc<AtomicUsize>,
    /// Streams cut so far.
    pub cuts: Arc<AtomicUsize>,
    cut_armed: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl Forwarder {
    /// Listens on `listen` (port 0 picks one) and relays every connection to `target`.
    pub async fn start(listen: &str, target: SocketAddr) -> Self {
        let listener = TcpListener::bind(listen).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let subscribes = Arc::new(AtomicUsize::new(0));
        let cuts = Arc::new(AtomicUsize::new(0));
        let cut_armed = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn({
            let subscribes = Arc::clone(&subscribes);
            let cuts = Arc::clone(&cuts);
            let cut_armed = Arc::clone(&cut_armed);
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    let Ok(server) = TcpStream::connect(target).await else {
                        continue;
                    };
                    tokio::spawn(relay(
                        client,
                        server,
                        Arc::clone(&subscribes),
                        Arc::clone(&cuts),
                        Arc::clone(&cut_armed),
                    ));
                }
            }
        });
        Self {
            port,
            subscribes,
            cuts,
            cut_armed,
            task,
        }
    }

    /// Cuts the next data the master sends on a SUBSCRIBE stream in half, then closes that
    /// connection (both ways), once.
    pub fn cut_next_record(&self) {
        self.cut_armed.store(true, Ordering::SeqCst);
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(
    client: TcpStream,
    server: TcpStream,
    subscribes: Arc<AtomicUsize>,
    cuts: Arc<AtomicUsize>,
    cut_armed: Arc<AtomicBool>,
) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let is_subscribe = Arc::new(AtomicBool::new(false));
    let upstream = tokio::spawn({
        let is_subscribe = Arc::clone(&is_subscribe);
        async move {
            let mut seen = Vec::new();
            let mut buffer = vec![0u8; 16 * 1024];
            loop {
                let n = match client_read.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                if !is_subscribe.load(Ordering::SeqCst) && seen.len() < 64 * 1024 {
                    seen.extend_from_slice(&buffer[..n]);
                    if contains(&seen, b"\"SUBSCRIBE\"") {
                        is_subscribe.store(true, Ordering::SeqCst);
                        subscribes.fetch_add(1, Ordering::SeqCst);
                    }
                }
                if server_write.write_all(&buffer[..n]).await.is_err() {
                    break;
                }
            }
            let _ = server_write.shutdown().await;
        }
    });
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let n = match server_read.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        // Chunked framing and a RecordIO length prefix take 7 bytes of the smallest event (a
        // heartbeat, 29 bytes in all); half of a read of 16 bytes or more lands in a record.
        if n >= 16 && is_subscribe.load(Ordering::SeqCst) && cut_armed.swap(false, Ordering::SeqCst)
        {
            let _ = client_write.write_all(&buffer[..n / 2]).await;
            let _ = client_write.flush().await;
            cuts.fetch_add(1, Ordering::SeqCst);
            upstream.abort();
            return;
        }
        if client_write.write_all(&buffer[..n]).await.is_err() {
            break;
        }
    }
    let _ = client_write.shutdown().await;
    upstream.abort();
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
