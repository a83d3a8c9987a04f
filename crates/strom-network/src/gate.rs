//! Input gates: the receiving end of a consumer subtask's channels.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::frame::{Frame, NetworkError};
use crate::server::Registry;
use strom_rpc::ExecutionId;

/// Identifies a registered consumer.
pub type GateKey = ExecutionId;

/// One frame from one channel of one gate.
#[derive(Debug)]
pub struct InputEvent {
    /// The gate (input edge) index.
    pub gate: u32,
    /// The channel (producer subtask) index.
    pub channel: u32,
    /// What arrived.
    pub frame: Frame,
    /// Bytes it took on the wire (0 for local channels).
    pub wire_bytes: usize,
}

pub(crate) type EventSender = mpsc::Sender<Result<InputEvent, NetworkError>>;

/// All input gates of one consumer subtask, merged into one bounded queue.
///
/// Dropping it unregisters the consumer; producers still sending then fail with
/// [`NetworkError::ConsumerGone`].
#[derive(Debug)]
pub struct InputGate {
    key: GateKey,
    receiver: mpsc::Receiver<Result<InputEvent, NetworkError>>,
    open_channels: u32,
    registry: Arc<Registry>,
}

impl InputGate {
    pub(crate) fn new(
        key: GateKey,
        receiver: mpsc::Receiver<Result<InputEvent, NetworkError>>,
        total_channels: u32,
        registry: Arc<Registry>,
    ) -> Self {
        Self {
            key,
            receiver,
            open_channels: total_channels,
            registry,
        }
    }

    /// The next frame from any channel; `None` once every channel has ended.
    pub async fn recv(&mut self) -> Option<Result<InputEvent, NetworkError>> {
        if self.open_channels == 0 {
            return None;
        }
        let event = self.receiver.recv().await?;
        if let Ok(InputEvent {
            frame: Frame::EndOfStream,
            ..
        }) = &event
        {
            self.open_channels -= 1;
        }
        Some(event)
    }

    /// Channels that have not ended yet.
    pub fn open_channels(&self) -> u32 {
        self.open_channels
    }
}

impl Drop for InputGate {
    fn drop(&mut self) {
        self.registry.unregister(&self.key);
    }
}
