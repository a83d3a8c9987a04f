//! Data exchange between subtasks: record batches from producers to consumers.
//!
//! Every TaskManager runs a [`DataServer`]. A consumer subtask registers one [`InputGate`] per input
//! edge before it runs; a producer subtask opens one [`OutputChannel`] per consumer subtask it feeds
//! (push model: the producer connects to the consumer's TaskManager, named in its deployment).
//!
//! Flow control is bounded buffering end to end: each gate is a bounded queue
//! (`taskmanager.network.memory.buffers-per-channel` batches per channel). When a consumer falls
//! behind, its queue fills, the connection's reader stops reading, TCP's window closes and the
//! producer's write waits — so a slow sink slows the source and memory stays flat. One TCP
//! connection per channel keeps a slow consumer from blocking others (no head-of-line blocking).
//! Channels whose consumer lives in the same TaskManager skip the socket and the encoding and hand
//! batches to the gate's queue directly.
//!
//! On the wire, a connection is length-delimited frames: a JSON handshake naming the consumer,
//! then Arrow IPC-encoded batches interleaved with event-time watermarks (8 bytes, little endian),
//! stream statuses (idle or active), checkpoint barriers,
//! then an end-of-stream marker.

mod channel;
mod frame;
mod gate;
mod server;

pub use channel::OutputChannel;
pub use frame::{Barrier, Frame, NetworkError, StreamStatus};
pub use gate::{GateKey, InputEvent, InputGate};
pub use server::DataServer;
