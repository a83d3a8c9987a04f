//! Length-delimited JSON frames over a TCP stream, split into a typed reader and writer.

use std::marker::PhantomData;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec};

/// Largest control frame accepted; larger ones end the connection with an error.
pub const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// A control connection failed.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// Socket error, or a frame over [`MAX_FRAME_BYTES`].
    #[error("control connection i/o: {0}")]
    Io(#[from] std::io::Error),
    /// A frame that is not a message of the expected type.
    #[error("malformed control message: {0}")]
    Decode(serde_json::Error),
    /// A message that could not be encoded.
    #[error("cannot encode control message: {0}")]
    Encode(serde_json::Error),
}

/// The receiving half of a control connection.
#[derive(Debug)]
pub struct MessageStream<T> {
    frames: FramedRead<OwnedReadHalf, LengthDelimitedCodec>,
    _message: PhantomData<fn() -> T>,
}

/// The sending half of a control connection.
#[derive(Debug)]
pub struct MessageSink<T> {
    frames: FramedWrite<OwnedWriteHalf, LengthDelimitedCodec>,
    _message: PhantomData<fn(T)>,
}

fn codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .max_frame_length(MAX_FRAME_BYTES)
        .new_codec()
}

/// Splits a connected stream into a reader of `In` and a writer of `Out` messages.
pub fn split<In, Out>(stream: TcpStream) -> (MessageStream<In>, MessageSink<Out>) {
    let _ = stream.set_nodelay(true);
    let (read, write) = stream.into_split();
    (
        MessageStream {
            frames: FramedRead::new(read, codec()),
            _message: PhantomData,
        },
        MessageSink {
            frames: FramedWrite::new(write, codec()),
            _message: PhantomData,
        },
    )
}

impl<T: DeserializeOwned> MessageStream<T> {
    /// The next message; `None` when the peer closed the connection cleanly.
    pub async fn next(&mut self) -> Option<Result<T, RpcError>> {
        let frame = match self.frames.next().await? {
            Ok(frame) => frame,
            Err(e) => return Some(Err(RpcError::Io(e))),
        };
        Some(serde_json::from_slice(&frame).map_err(RpcError::Decode))
    }
}

impl<T: Serialize> MessageSink<T> {
    /// Sends one message.
    pub async fn send(&mut self, message: &T) -> Result<(), RpcError> {
        let bytes = serde_json::to_vec(message).map_err(RpcError::Encode)?;
        self.frames.send(Bytes::from(bytes)).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ToTaskManager;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    #[tokio::test]
    async fn messages_cross_a_socket_and_garbage_is_an_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let (_, mut sink) =
                split::<ToTaskManager, ToTaskManager>(TcpStream::connect(address).await.unwrap());
            sink.send(&ToTaskManager::Heartbeat { seq: 9 })
                .await
                .unwrap();
            // A well-framed frame whose payload is not JSON.
            sink.frames
                .get_mut()
                .write_all(&[0, 0, 0, 3, b'x', b'y', b'z'])
                .await
                .unwrap();
        });
        let (socket, _) = listener.accept().await.unwrap();
        let (mut stream, _) = split::<ToTaskManager, ToTaskManager>(socket);
        assert_eq!(
            stream.next().await.unwrap().unwrap(),
            ToTaskManager::Heartbeat { seq: 9 }
        );
        assert!(matches!(
            stream.next().await,
            Some(Err(RpcError::Decode(_)))
        ));
        client.await.unwrap();
        assert!(stream.next().await.is_none());
    }
}
