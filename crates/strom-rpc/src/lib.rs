//! The control protocol between the JobManager and its TaskManagers.
//!
//! A TaskManager opens one TCP connection to the JobManager (`jobmanager.rpc.address`:
//! `jobmanager.rpc.port`) and keeps it for its life. Each direction carries length-delimited
//! frames (`tokio_util::codec::LengthDelimitedCodec`, 4-byte big-endian length, 16 MiB maximum),
//! each frame one JSON message: [`ToJobManager`] upstream, [`ToTaskManager`] downstream.
//!
//! Why a framed protocol rather than gRPC: the control traffic is a handful of message kinds on one
//! long-lived connection whose loss is itself a signal (the TaskManager is gone); tonic would add
//! protoc to the build and a second HTTP/2 stack for no gain. JSON keeps frames readable in a
//! packet capture and lets newer peers add fields that older ones ignore.
//!
//! With `security.cluster.secret` set, the JobManager opens each connection with a fresh nonce
//! and accepts only registrations that prove the secret for it ([`auth`]), so a stray process
//! cannot register as a TaskManager and a captured registration cannot be replayed.

pub mod auth;
mod messages;
mod transport;

pub use messages::*;
pub use transport::{MAX_FRAME_BYTES, MessageSink, MessageStream, RpcError, split};
