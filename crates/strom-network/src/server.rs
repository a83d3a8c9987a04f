//! The per-TaskManager data server: accepts producers' connections and routes them to gates.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use futures::{SinkExt, StreamExt};
use parking_lot::Mutex;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc};
use tokio_util::codec::{Framed, LengthDelimitedCodec};
use tracing::{debug, warn};

use crate::frame::{self, Frame, NetworkError, TAG_HANDSHAKE, TAG_REJECT};
use crate::gate::{EventSender, GateKey, InputEvent, InputGate};
use strom_rpc::ExecutionId;

/// Largest data frame accepted (an encoded batch).
pub(crate) const MAX_DATA_FRAME: usize = 256 * 1024 * 1024;

pub(crate) fn codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .max_frame_length(MAX_DATA_FRAME)
        .new_codec()
}

#[derive(Debug)]
struct Registered {
    sender: EventSender,
    channels_per_gate: Vec<u32>,
}

/// Consumers registered on this TaskManager.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    gates: Mutex<HashMap<GateKey, Registered>>,
    changed: Notify,
}

impl Registry {
    pub(crate) fn unregister(&self, key: &GateKey) {
        self.gates.lock().remove(key);
    }

    /// Waits until `consumer` is registered and has `gate`/`channel`, up to `wait`.
    async fn sender_for(
        &self,
        consumer: ExecutionId,
        gate: u32,
        channel: u32,
        wait: Duration,
    ) -> Result<EventSender, String> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.changed.notified();
            if let Some(registered) = self.gates.lock().get(&consumer) {
                return match registered.channels_per_gate.get(gate as usize) {
                    Some(&channels) if channel < channels => Ok(registered.sender.clone()),
                    Some(&channels) => Err(format!(
                        "gate {gate} of {consumer} has {channels} channels, not {}",
                        channel + 1
                    )),
                    None => Err(format!("{consumer} has no input gate {gate}")),
                };
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(format!(
                    "no input gate {gate} of {consumer} registered within {} ms",
                    wait.as_millis()
                ));
            }
        }
    }
}

/// A TaskManager's data server; cheap to clone.
#[derive(Debug, Clone)]
pub struct DataServer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    advertised: String,
    registry: Arc<Registry>,
    gate_wait: Duration,
}

impl DataServer {
    /// Binds `bind` and serves connections in the background; `advertised_host` is the host name
    /// producers elsewhere use to reach it. Producers wait up to `gate_wait` for a consumer to
    /// register (consumers and producers are deployed concurrently).
    pub async fn bind(
        bind: SocketAddr,
        advertised_host: &str,
        gate_wait: Duration,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(bind).await?;
        let port = listener.local_addr()?.port();
        let inner = Arc::new(Inner {
            advertised: format!("{advertised_host}:{port}"),
            registry: Arc::new(Registry::default()),
            gate_wait,
        });
        tokio::spawn(accept_loop(listener, Arc::clone(&inner)));
        Ok(Self { inner })
    }

    /// `host:port` producers connect to.
    pub fn address(&self) -> &str {
        &self.inner.advertised
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.inner
            .advertised
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0)
    }

    /// How long producers wait for consumers to register.
    pub fn gate_wait(&self) -> Duration {
        self.inner.gate_wait
    }

    /// Registers a consumer with `channels_per_gate[g]` channels on gate `g`, buffering up to
    /// `buffers_per_channel` batches per channel.
    pub fn register(
        &self,
        consumer: ExecutionId,
        channels_per_gate: Vec<u32>,
        buffers_per_channel: u32,
    ) -> InputGate {
        let total: u32 = channels_per_gate.iter().sum();
        let capacity = (total.max(1) * buffers_per_channel.max(1)) as usize;
        let (sender, receiver) = mpsc::channel(capacity);
        self.inner.registry.gates.lock().insert(
            consumer,
            Registered {
                sender,
                channels_per_gate,
            },
        );
        self.inner.registry.changed.notify_waiters();
        InputGate::new(consumer, receiver, total, Arc::clone(&self.inner.registry))
    }

    pub(crate) async fn local_sender(
        &self,
        consumer: ExecutionId,
        gate: u32,
        channel: u32,
    ) -> Result<EventSender, NetworkError> {
        self.inner
            .registry
            .sender_for(consumer, gate, channel, self.inner.gate_wait)
            .await
            .map_err(|_| NetworkError::NoSuchGate {
                peer: self.inner.advertised.clone(),
                consumer,
                gate,
                waited_ms: self.inner.gate_wait.as_millis() as u64,
            })
    }
}

async fn accept_loop(listener: TcpListener, inner: Arc<Inner>) {
    loop {
        match listener.accept().await {
            Ok((socket, peer)) => {
                let inner = Arc::clone(&inner);
                tokio::spawn(async move {
                    if let Err(e) = serve_connection(socket, peer, inner).await {
                        debug!(%peer, error = %e, "data connection ended with an error");
                    }
                });
            }
            Err(e) => {
                warn!(error = %e, "data server accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn serve_connection(
    socket: TcpStream,
    peer: SocketAddr,
    inner: Arc<Inner>,
) -> Result<(), NetworkError> {
    let _ = socket.set_nodelay(true);
    let peer = peer.to_string();
    let io = |source| NetworkError::Io {
        peer: peer.clone(),
        source,
    };
    let mut frames = Framed::new(socket, codec());
    let first = match frames.next().await {
        Some(frame) => frame.map_err(io)?,
        None => return Ok(()),
    };
    let handshake = frame::decode_handshake(&first, &peer)?;
    let sender = match inner
        .registry
        .sender_for(
            handshake.consumer,
            handshake.gate,
            handshake.channel,
            inner.gate_wait,
        )
        .await
    {
        Ok(sender) => sender,
        Err(reason) => {
            let mut reject = BytesMut::new();
            reject.put_u8(TAG_REJECT);
            reject.extend_from_slice(reason.as_bytes());
            let _ = frames.send(reject.freeze()).await;
            return Ok(());
        }
    };
    frames
        .send(bytes::Bytes::from_static(&[TAG_HANDSHAKE]))
        .await
        .map_err(io)?;
    let (gate, channel) = (handshake.gate, handshake.channel);
    loop {
        let event = match frames.next().await {
            Some(Ok(bytes)) => frame::decode_frame(&bytes, &peer).map(|frame| InputEvent {
                gate,
                channel,
                frame,
                wire_bytes: bytes.len(),
            }),
            Some(Err(source)) => Err(NetworkError::Io {
                peer: peer.clone(),
                source,
            }),
            None => Err(NetworkError::Io {
                peer: peer.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    match handshake.producer {
                        Some(producer) => format!(
                            "input from {producer} (gate {gate}, channel {channel}) closed before end of stream"
                        ),
                        None => {
                            format!("channel {channel} of gate {gate} closed before end of stream")
                        }
                    },
                ),
            }),
        };
        let last = !matches!(
            event,
            Ok(InputEvent {
                frame: Frame::Batch(_) | Frame::Watermark(_) | Frame::Barrier(_) | Frame::Status(_),
                ..
            })
        );
        if sender.send(event).await.is_err() {
            return Err(NetworkError::ConsumerGone(handshake.consumer));
        }
        if last {
            return Ok(());
        }
    }
}
