//! Output channels: the sending end from a producer subtask to one consumer subtask.

use std::time::Duration;

use arrow_array::RecordBatch;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

use crate::frame::{
    self, Barrier, Frame, Handshake, NetworkError, StreamStatus, TAG_END, TAG_HANDSHAKE, TAG_REJECT,
};
use crate::gate::{EventSender, InputEvent};
use crate::server::{DataServer, codec};
use strom_rpc::{ChannelTarget, ExecutionId};

/// A connected channel to one consumer.
#[derive(Debug)]
pub enum OutputChannel {
    /// The consumer runs in this TaskManager: batches go straight into its gate.
    Local {
        /// The consumer's queue.
        sender: EventSender,
        /// The consumer.
        consumer: ExecutionId,
        /// Gate index at the consumer.
        gate: u32,
        /// Channel index at the consumer.
        channel: u32,
    },
    /// The consumer runs elsewhere: framed Arrow IPC over TCP.
    Remote {
        /// The connection.
        frames: Box<Framed<TcpStream, tokio_util::codec::LengthDelimitedCodec>>,
        /// The consumer's data server.
        peer: String,
    },
}

impl OutputChannel {
    /// Connects to `target`, locally when its data server is `local`'s; retries refused
    /// connections until the server's gate wait has passed.
    pub async fn connect(local: &DataServer, target: &ChannelTarget) -> Result<Self, NetworkError> {
        if target.address == local.address() {
            let sender = local
                .local_sender(target.consumer, target.gate, target.channel)
                .await?;
            return Ok(Self::Local {
                sender,
                consumer: target.consumer,
                gate: target.gate,
                channel: target.channel,
            });
        }
        let peer = target.address.clone();
        let socket = connect_with_retry(&peer, local.gate_wait()).await?;
        let _ = socket.set_nodelay(true);
        let mut frames = Framed::new(socket, codec());
        let handshake = Handshake {
            producer: target.producer,
            consumer: target.consumer,
            gate: target.gate,
            channel: target.channel,
        };
        let io = |source| NetworkError::Io {
            peer: peer.clone(),
            source,
        };
        frames
            .send(frame::encode_handshake(&handshake))
            .await
            .map_err(io)?;
        match frames.next().await {
            Some(Ok(answer)) if answer.first() == Some(&TAG_HANDSHAKE) => {}
            Some(Ok(answer)) if answer.first() == Some(&TAG_REJECT) => {
                return Err(NetworkError::Malformed {
                    peer,
                    message: format!("rejected: {}", String::from_utf8_lossy(&answer[1..])),
                });
            }
            Some(Ok(_)) => {
                return Err(NetworkError::Malformed {
                    peer,
                    message: "bad handshake answer".into(),
                });
            }
            Some(Err(source)) => return Err(NetworkError::Io { peer, source }),
            None => {
                return Err(NetworkError::Io {
                    peer,
                    source: std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "closed during handshake",
                    ),
                });
            }
        }
        Ok(Self::Remote {
            frames: Box::new(frames),
            peer,
        })
    }

    /// Puts `frame` into the queue of a consumer in this TaskManager; `bytes` is what it counts
    /// as received (a batch's in-memory size: it crosses no wire, but Flink's byte counters
    /// count local channels too).
    async fn send_local(&mut self, frame: Frame, bytes: usize) -> Result<(), NetworkError> {
        let Self::Local {
            sender,
            consumer,
            gate,
            channel,
        } = self
        else {
            return Ok(());
        };
        let event = InputEvent {
            gate: *gate,
            channel: *channel,
            frame,
            wire_bytes: bytes,
        };
        sender
            .send(Ok(event))
            .await
            .map_err(|_| NetworkError::ConsumerGone(*consumer))
    }

    /// Sends a batch, waiting while the consumer's buffers are full; returns the bytes written.
    pub async fn send(&mut self, batch: RecordBatch) -> Result<usize, NetworkError> {
        match self {
            Self::Local { .. } => {
                let size = batch.get_array_memory_size();
                self.send_local(Frame::Batch(batch), size).await?;
                Ok(size)
            }
            Self::Remote { frames, peer } => {
                let bytes = frame::encode_batch(&batch)?;
                let size = bytes.len();
                frames
                    .send(bytes)
                    .await
                    .map_err(|source| NetworkError::Io {
                        peer: peer.clone(),
                        source,
                    })?;
                Ok(size)
            }
        }
    }

    /// Sends an event-time watermark, after every batch sent before it; waits like [`Self::send`].
    pub async fn send_watermark(&mut self, watermark: i64) -> Result<(), NetworkError> {
        match self {
            Self::Local { .. } => self.send_local(Frame::Watermark(watermark), 0).await,
            Self::Remote { frames, peer } => frames
                .send(frame::encode_watermark(watermark))
                .await
                .map_err(|source| NetworkError::Io {
                    peer: peer.clone(),
                    source,
                }),
        }
    }

    /// Sends a stream status, after every batch sent before it; waits like [`Self::send`].
    pub async fn send_status(&mut self, status: StreamStatus) -> Result<(), NetworkError> {
        match self {
            Self::Local { .. } => self.send_local(Frame::Status(status), 0).await,
            Self::Remote { frames, peer } => frames
                .send(frame::encode_status(status))
                .await
                .map_err(|source| NetworkError::Io {
                    peer: peer.clone(),
                    source,
                }),
        }
    }

    /// Sends a checkpoint barrier, after every batch sent before it; waits like [`Self::send`].
    pub async fn send_barrier(&mut self, barrier: &Barrier) -> Result<(), NetworkError> {
        match self {
            Self::Local { .. } => self.send_local(Frame::Barrier(barrier.clone()), 0).await,
            Self::Remote { frames, peer } => frames
                .send(frame::encode_barrier(barrier))
                .await
                .map_err(|source| NetworkError::Io {
                    peer: peer.clone(),
                    source,
                }),
        }
    }

    /// Ends the channel: the consumer sees end of stream once every batch before it.
    pub async fn finish(&mut self) -> Result<(), NetworkError> {
        match self {
            Self::Local { .. } => self.send_local(Frame::EndOfStream, 0).await,
            Self::Remote { frames, peer } => {
                let io = |source| NetworkError::Io {
                    peer: peer.clone(),
                    source,
                };
                frames
                    .send(Bytes::from_static(&[TAG_END]))
                    .await
                    .map_err(io)?;
                // Wait for the consumer to close, so no frame is lost in a socket buffer if this
                // process exits right after finishing.
                let _ = tokio::time::timeout(Duration::from_secs(30), frames.next()).await;
                Ok(())
            }
        }
    }
}

async fn connect_with_retry(peer: &str, patience: Duration) -> Result<TcpStream, NetworkError> {
    let deadline = tokio::time::Instant::now() + patience;
    let mut delay = Duration::from_millis(10);
    loop {
        match TcpStream::connect(peer).await {
            Ok(socket) => return Ok(socket),
            Err(source) if tokio::time::Instant::now() + delay >= deadline => {
                return Err(NetworkError::Connect {
                    peer: peer.to_owned(),
                    source,
                });
            }
            Err(_) => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_millis(500));
            }
        }
    }
}
