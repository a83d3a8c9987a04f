//! Data exchange across real sockets: delivery, watermarks, end of stream, local shortcut,
//! backpressure.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arrow_array::{Int64Array, RecordBatch};
use strom_jobgraph::JobId;
use strom_network::{DataServer, Frame, OutputChannel};
use strom_rpc::{ChannelTarget, ExecutionId};

fn batch(values: Vec<i64>) -> RecordBatch {
    RecordBatch::try_from_iter([("v", Arc::new(Int64Array::from(values)) as _)]).unwrap()
}

fn execution(subtask: u32) -> ExecutionId {
    ExecutionId {
        job: JobId::from_u128(1),
        vertex: 1,
        subtask,
        attempt: 0,
    }
}

async fn server() -> DataServer {
    DataServer::bind(
        "127.0.0.1:0".parse().unwrap(),
        "127.0.0.1",
        Duration::from_secs(5),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn remote_and_local_channels_deliver_everything_in_order_then_end() {
    let consumer_side = server().await;
    let producer_side = server().await;
    let consumer = execution(0);
    // Two producers: one remote, one local to the consumer's TaskManager.
    let target = |channel| ChannelTarget {
        address: consumer_side.address().to_owned(),
        consumer,
        gate: 0,
        channel,
        producer: None,
    };
    let mut gate = consumer_side.register(consumer, vec![2], 2);
    let remote = {
        let producer_side = producer_side.clone();
        let target = target(0);
        tokio::spawn(async move {
            let mut out = OutputChannel::connect(&producer_side, &target)
                .await
                .unwrap();
            assert!(matches!(out, OutputChannel::Remote { .. }));
            for i in 0..50 {
                out.send(batch(vec![i; 10])).await.unwrap();
                out.send_watermark(i * 1000).await.unwrap();
            }
            out.finish().await.unwrap();
        })
    };
    let local = {
        let consumer_side = consumer_side.clone();
        let target = target(1);
        tokio::spawn(async move {
            let mut out = OutputChannel::connect(&consumer_side, &target)
                .await
                .unwrap();
            assert!(matches!(out, OutputChannel::Local { .. }));
            for i in 0..50 {
                out.send(batch(vec![i; 10])).await.unwrap();
                out.send_watermark(i * 1000).await.unwrap();
            }
            out.finish().await.unwrap();
        })
    };
    let mut rows = [0usize; 2];
    let mut watermarks = [0i64; 2];
    let mut ends = 0;
    while let Some(event) = tokio::time::timeout(Duration::from_secs(10), gate.recv())
        .await
        .unwrap()
    {
        let event = event.unwrap();
        match event.frame {
            Frame::Batch(b) => rows[event.channel as usize] += b.num_rows(),
            Frame::Watermark(w) => {
                // In order, and after the batch sent before it.
                let channel = event.channel as usize;
                assert_eq!(w, watermarks[channel] * 1000, "channel {channel}");
                assert_eq!(rows[channel], (watermarks[channel] as usize + 1) * 10);
                watermarks[channel] += 1;
            }
            Frame::EndOfStream => ends += 1,
            Frame::Barrier(b) => panic!("no barrier was sent, got {b:?}"),
            Frame::Status(s) => panic!("no status was sent, got {s:?}"),
        }
    }
    assert_eq!(rows, [500, 500]);
    assert_eq!(watermarks, [50, 50]);
    assert_eq!(ends, 2);
    remote.await.unwrap();
    local.await.unwrap();
}

#[tokio::test]
async fn a_stalled_consumer_stops_the_producer() {
    let consumer_side = server().await;
    let producer_side = server().await;
    let consumer = execution(3);
    let mut gate = consumer_side.register(consumer, vec![1], 2);
    let sent = Arc::new(AtomicU64::new(0));
    let target = ChannelTarget {
        address: consumer_side.address().to_owned(),
        consumer,
        gate: 0,
        channel: 0,
        producer: None,
    };
    let producer = {
        let sent = Arc::clone(&sent);
        tokio::spawn(async move {
            let mut out = OutputChannel::connect(&producer_side, &target)
                .await
                .unwrap();
            // 1 MiB batches: socket buffers hold only a few of them.
            for _ in 0..1000 {
                out.send(batch(vec![7; 128 * 1024])).await.unwrap();
                sent.fetch_add(1, Ordering::SeqCst);
            }
            out.finish().await.unwrap();
        })
    };
    // Wait until the producer stops making progress while nothing is consumed.
    let mut last = u64::MAX;
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = sent.load(Ordering::SeqCst);
        if now == last {
            break;
        }
        last = now;
    }
    assert!(
        last < 100,
        "producer ran ahead of a stalled consumer: {last} batches sent"
    );
    // Draining the gate lets it finish.
    let mut batches = 0;
    while let Some(event) = gate.recv().await {
        if let Frame::Batch(_) = event.unwrap().frame {
            batches += 1;
        }
    }
    assert_eq!(batches, 1000);
    producer.await.unwrap();
}

#[tokio::test]
async fn a_producer_that_dies_mid_stream_is_an_error_not_an_end() {
    let consumer_side = server().await;
    let producer_side = server().await;
    let consumer = execution(4);
    let mut gate = consumer_side.register(consumer, vec![1], 2);
    let target = ChannelTarget {
        address: consumer_side.address().to_owned(),
        consumer,
        gate: 0,
        channel: 0,
        producer: None,
    };
    let mut out = OutputChannel::connect(&producer_side, &target)
        .await
        .unwrap();
    out.send(batch(vec![1])).await.unwrap();
    drop(out);
    assert!(matches!(
        gate.recv().await.unwrap().unwrap().frame,
        Frame::Batch(_)
    ));
    let err = gate.recv().await.unwrap().unwrap_err();
    assert!(
        err.to_string().contains("closed before end of stream"),
        "{err}"
    );
}

#[tokio::test]
async fn unknown_consumers_are_rejected_after_the_wait() {
    let consumer_side = DataServer::bind(
        "127.0.0.1:0".parse().unwrap(),
        "127.0.0.1",
        Duration::from_millis(200),
    )
    .await
    .unwrap();
    let producer_side = server().await;
    let target = ChannelTarget {
        address: consumer_side.address().to_owned(),
        consumer: execution(9),
        gate: 0,
        channel: 0,
        producer: None,
    };
    let err = OutputChannel::connect(&producer_side, &target)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("rejected: no input gate 0"),
        "{err}"
    );
}
