//! The subscription loop: SUBSCRIBE, read RecordIO events, watch heartbeats, resubscribe.
//!
//! Failure handling, by case:
//! - connection refused, timeout, non-2xx answer (503 = no leader), redirect loop, missing
//!   `Mesos-Stream-Id`: the attempt fails, `Disconnected` is emitted, retry after backoff;
//! - stream EOF, transport error, corrupt RecordIO framing, no byte for
//!   `missed_heartbeats_before_reconnect` heartbeat intervals: the stream is dropped,
//!   `Disconnected` is emitted, resubscribe after backoff (framing cannot be resynchronized);
//! - a record that is not a valid JSON `Event`, or lacks its sub-message: logged and skipped
//!   (framing is intact, so the next record is fine);
//! - ERROR event: forwarded, the stream is dropped, and the next attempt waits `max_backoff`;
//! - a watched [`MasterSource`](crate::MasterSource) without a leader: the attempt waits for one
//!   up to the request timeout, then fails as above;
//! - a watched source naming another leader while connecting or subscribed: the attempt or
//!   stream is dropped, `Disconnected` ("leading master changed to ...") is emitted, and the loop
//!   resubscribes to the new leader at once; while backing off, the rest of the wait is skipped.
//!   A leader already reached through a redirect is not a change.
//!
//! Every attempt goes to the source's current master. Backoff doubles from `initial_backoff` to
//! `max_backoff` and is reset by SUBSCRIBED. Every resubscription after a SUBSCRIBED carries the
//! framework ID, so the master treats it as a failover of the same framework (to a new leader,
//! too: the framework survives a leader change for its `failover_timeout`).

use std::{sync::Arc, time::Duration};

use bytes::BytesMut;
use futures::StreamExt;
use reqwest::Url;
use tokio::sync::mpsc;
use tokio_util::codec::Decoder;
use tracing::{debug, info, trace, warn};

use crate::{
    backoff::Backoff,
    client::{
        ConnectionState, STREAM_ID_HEADER, SchedulerEvent, Shared, scheduler_endpoint, status_error,
    },
    recordio::RecordIoDecoder,
    source::{Tracker, same_master},
    types::{Call, Event, EventType},
};

/// Heartbeat interval assumed when SUBSCRIBED does not announce a usable one (Mesos' default).
const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(15);
/// Upper bound on an announced heartbeat interval.
const MAX_HEARTBEAT: Duration = Duration::from_secs(24 * 3600);

/// How one subscription (attempt) ended.
enum End {
    /// Shut down, or the event receiver is gone: stop the loop.
    Stop,
    /// Lost or failed: resubscribe after backoff.
    Lost(String),
    /// A watched source names this other leader: resubscribe to it at once.
    LeaderChanged(Url),
}

/// What to do after one record.
enum Flow {
    Continue,
    /// SUBSCRIBED: the stream is now watched with this idle limit.
    Watch(Duration),
    End(End),
}

pub(crate) async fn run(shared: Arc<Shared>, events: mpsc::Sender<SchedulerEvent>) {
    let config = &shared.config;
    let mut backoff = Backoff::new(config.initial_backoff, config.max_backoff);
    let mut leader = Tracker::new(&config.master);
    loop {
        shared.session.lock().connection = ConnectionState::Connecting;
        // The master the attempt went to, once known.
        let mut master = None;
        let end = tokio::select! {
            () = shared.cancel.cancelled() => End::Stop,
            end = attempt(&shared, &events, &mut backoff, &mut leader, &mut master) => end,
        };
        disconnect(&shared);
        let (reason, delay) = match end {
            End::Stop => break,
            End::Lost(reason) => {
                let delay = backoff.next_delay();
                warn!(%reason, retry_in = ?delay, "mesos subscription lost");
                (reason, Some(delay))
            }
            End::LeaderChanged(url) => {
                info!(master = %url, "leading mesos master changed; resubscribing");
                (format!("leading master changed to {url}"), None)
            }
        };
        let event = SchedulerEvent::Disconnected { reason };
        let keep_going = tokio::select! {
            () = shared.cancel.cancelled() => false,
            sent = events.send(event) => sent.is_ok(),
        };
        if !keep_going {
            break;
        }
        let Some(delay) = delay else { continue };
        // A newly published leader is worth trying at once: the failure was likely its
        // predecessor's.
        let is_current = |url: &Url| master.as_ref().is_some_and(|old| same_master(url, old));
        tokio::select! {
            () = shared.cancel.cancelled() => break,
            () = tokio::time::sleep(delay) => {}
            url = leader.changed(is_current) => {
                info!(master = %url, "leading mesos master changed; not waiting out the backoff");
            }
        }
    }
    disconnect(&shared);
    debug!("mesos subscription loop stopped");
}

fn disconnect(shared: &Shared) {
    let mut session = shared.session.lock();
    session.connection = ConnectionState::Disconnected;
    session.stream_id = None;
    session.leader = None;
}

/// One subscription attempt to the source's current master, and the stream it yields; ends
/// early when a watched source names another leader. Sets `master` to the master it went to.
async fn attempt(
    shared: &Shared,
    events: &mpsc::Sender<SchedulerEvent>,
    backoff: &mut Backoff,
    leader: &mut Tracker,
    master: &mut Option<Url>,
) -> End {
    let base = match leader.resolve(shared.config.request_timeout).await {
        Ok(base) => base,
        Err(reason) => return End::Lost(reason),
    };
    *master = Some(base.clone());
    // The master reached through redirects leads too, whatever the detector lagged behind with.
    let is_current = |url: &Url| {
        same_master(url, &base)
            || (shared.session.lock().leader.as_ref()).is_some_and(|held| same_master(url, held))
    };
    tokio::select! {
        end = subscribe_once(shared, events, backoff, scheduler_endpoint(&base)) => end,
        url = leader.changed(is_current) => End::LeaderChanged(url),
    }
}

async fn subscribe_once(
    shared: &Shared,
    events: &mpsc::Sender<SchedulerEvent>,
    backoff: &mut Backoff,
    endpoint: Url,
) -> End {
    let config = &shared.config;
    let mut framework = config.framework.clone();
    framework.id = shared.session.lock().framework_id.clone();
    debug!(master = %endpoint, framework_id = ?framework.id, "subscribing to mesos");
    let call = Call::subscribe(framework);
    let timeout = config.request_timeout;
    let (url, response) = match shared.post(&call, None, endpoint, timeout).await {
        Ok(answer) => answer,
        Err(err) => return End::Lost(error_chain(&err)),
    };
    if !response.status().is_success() {
        return End::Lost(error_chain(&status_error(url, response).await));
    }
    let stream_id = response
        .headers()
        .get(STREAM_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let Some(stream_id) = stream_id else {
        let err = crate::MesosError::MissingStreamId { url };
        return End::Lost(err.to_string());
    };
    {
        let mut session = shared.session.lock();
        session.stream_id = Some(stream_id);
        session.leader = Some(url.clone());
    }

    let mut body = response.bytes_stream();
    let mut decoder = RecordIoDecoder::new(config.max_event_size);
    let mut buf = BytesMut::new();
    // Until SUBSCRIBED the first event must come within the request timeout.
    let mut idle_limit = timeout;
    loop {
        let chunk = match tokio::time::timeout(idle_limit, body.next()).await {
            Err(_) => {
                return End::Lost(format!("no data from the mesos master for {idle_limit:?}"));
            }
            Ok(None) => {
                let reason = match decoder.decode_eof(&mut buf) {
                    Err(err) => format!("mesos master closed the event stream: {err}"),
                    Ok(_) => "mesos master closed the event stream".to_owned(),
                };
                return End::Lost(reason);
            }
            Ok(Some(Err(err))) => {
                return End::Lost(format!("event stream failed: {}", error_chain(&err)));
            }
            Ok(Some(Ok(chunk))) => chunk,
        };
        buf.extend_from_slice(&chunk);
        loop {
            let record = match decoder.decode(&mut buf) {
                Ok(Some(record)) => record,
                Ok(None) => break,
                Err(err) => return End::Lost(format!("corrupt event stream from {url}: {err}")),
            };
            match handle_record(shared, events, &record, &url, backoff).await {
                Flow::Continue => {}
                Flow::Watch(heartbeat) => {
                    let missed = config.missed_heartbeats_before_reconnect.max(1);
                    idle_limit = heartbeat.saturating_mul(missed);
                }
                Flow::End(end) => return end,
            }
        }
    }
}

async fn handle_record(
    shared: &Shared,
    events: &mpsc::Sender<SchedulerEvent>,
    record: &[u8],
    url: &Url,
    backoff: &mut Backoff,
) -> Flow {
    let event: Event = match serde_json::from_slice(record) {
        Ok(event) => event,
        Err(err) => {
            let preview = String::from_utf8_lossy(&record[..record.len().min(200)]).into_owned();
            warn!(error = %err, record = %preview, "skipping undecodable mesos event");
            return Flow::Continue;
        }
    };
    let kind = event.kind.clone();
    let mut flow = Flow::Continue;
    let forward = match event {
        Event {
            kind: EventType::Subscribed,
            subscribed: Some(subscribed),
            ..
        } => {
            let heartbeat = subscribed
                .heartbeat_interval_seconds
                .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
                .filter(|interval| !interval.is_zero())
                .unwrap_or(DEFAULT_HEARTBEAT)
                .min(MAX_HEARTBEAT);
            let framework_id = subscribed.framework_id;
            {
                let mut session = shared.session.lock();
                session.framework_id = Some(framework_id.clone());
                session.connection = ConnectionState::Subscribed {
                    framework_id: framework_id.clone(),
                    heartbeat_interval: heartbeat,
                    master_url: url.clone(),
                };
            }
            backoff.reset();
            info!(%framework_id, master = %url, ?heartbeat, "subscribed to mesos");
            flow = Flow::Watch(heartbeat);
            Some(SchedulerEvent::Subscribed {
                framework_id,
                heartbeat_interval: heartbeat,
                master_url: url.clone(),
                master_info: subscribed.master_info,
            })
        }
        Event {
            offers: Some(offers),
            kind: EventType::Offers,
            ..
        } => Some(SchedulerEvent::Offers(offers.offers)),
        Event {
            rescind: Some(rescind),
            kind: EventType::Rescind,
            ..
        } => Some(SchedulerEvent::Rescind(rescind.offer_id)),
        Event {
            update: Some(update),
            kind: EventType::Update,
            ..
        } => Some(SchedulerEvent::Update(update.status)),
        Event {
            message: Some(message),
            kind: EventType::Message,
            ..
        } => Some(SchedulerEvent::Message {
            agent_id: message.agent_id,
            executor_id: message.executor_id,
            data: message.data,
        }),
        Event {
            failure: Some(failure),
            kind: EventType::Failure,
            ..
        } => Some(SchedulerEvent::Failure {
            agent_id: failure.agent_id,
            executor_id: failure.executor_id,
            status: failure.status,
        }),
        Event {
            kind: EventType::Error,
            error,
            ..
        } => {
            let message = error.map(|error| error.message).unwrap_or_default();
            warn!(error = %message, master = %url, "mesos master sent an error");
            backoff.saturate();
            flow = Flow::End(End::Lost(format!("mesos master sent an error: {message}")));
            Some(SchedulerEvent::Error { message })
        }
        Event {
            kind: EventType::Heartbeat,
            ..
        } => {
            trace!("mesos heartbeat");
            None
        }
        Event {
            kind:
                kind @ (EventType::Subscribed
                | EventType::Offers
                | EventType::Rescind
                | EventType::Update
                | EventType::Message
                | EventType::Failure),
            ..
        } => {
            warn!(event = %kind, "skipping mesos event without its payload");
            None
        }
        Event { kind, .. } => {
            debug!(event = %kind, "ignoring mesos event");
            None
        }
    };
    if let Some(event) = forward {
        trace!(event = %kind, "forwarding mesos event");
        if events.send(event).await.is_err() {
            return Flow::End(End::Stop);
        }
    }
    flow
}

/// An error and its sources, joined with `: ` (reqwest hides the interesting part in sources).
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
