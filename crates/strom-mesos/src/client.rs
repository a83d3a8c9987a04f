//! The scheduler client: a clonable handle that owns one subscription loop and sends calls to
//! the master the subscription is attached to.
//!
//! Built on `reqwest` with automatic redirects off: Mesos answers 307 with a scheme-less
//! `Location: //leader:port/...` from non-leading masters, which is followed here (up to
//! `max_redirects`, so a redirect loop ends with an error).
//!
//! Status updates are not acknowledged automatically: the caller persists what an update means
//! and then calls [`SchedulerClient::acknowledge`], as the Mesos HA guide recommends.

use std::{fmt, sync::Arc, time::Duration};

use parking_lot::Mutex;
use reqwest::{
    Response, StatusCode, Url,
    header::{ACCEPT, CONTENT_TYPE, LOCATION},
};
use tokio::{sync::mpsc, task::JoinHandle};
use tokio_util::sync::{CancellationToken, DropGuard};
use tracing::debug;

use crate::{
    error::MesosError,
    source::MasterSource,
    subscription,
    types::Filters,
    types::{
        AgentId, Call, ExecutorId, FrameworkId, FrameworkInfo, MasterInfo, Offer, OfferId,
        Operation, ReconcileTask, TaskId, TaskStatus,
    },
};

/// Header carrying the subscription's stream ID on every call but SUBSCRIBE.
pub(crate) const STREAM_ID_HEADER: &str = "Mesos-Stream-Id";
/// How much of an error body is kept in [`MesosError`].
const MAX_ERROR_BODY: usize = 2048;

/// HTTP Basic credentials (the master's `--authenticate_http_frameworks` with the `basic`
/// authenticator); the secret is not shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// Principal; also put it in `FrameworkInfo.principal`.
    pub principal: String,
    /// Secret.
    pub secret: String,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("principal", &self.principal)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// How to reach the master and who the framework is.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Where the master is: a base URL (e.g. `http://m1:5050/`, see
    /// [`MasterAddress::http_url`](crate::MasterAddress::http_url)), where a non-leading master
    /// redirects to the leader, or a detector's watched leader. Each subscription attempt starts
    /// at its current value.
    pub master: MasterSource,
    /// The framework. `user` must be set: the HTTP API does not fill it in. When `id` is set, the
    /// first SUBSCRIBE fails over to that framework; after a SUBSCRIBED, resubscriptions always
    /// use the ID the master assigned.
    pub framework: FrameworkInfo,
    /// HTTP Basic credentials, sent on every request when set.
    pub credential: Option<Credential>,
    /// First delay between subscription attempts.
    pub initial_backoff: Duration,
    /// Largest delay between subscription attempts (also the delay after an ERROR event).
    pub max_backoff: Duration,
    /// Heartbeat intervals without any byte from the master before the stream is dropped.
    pub missed_heartbeats_before_reconnect: u32,
    /// Timeout of a call, and of the SUBSCRIBE response headers and first event.
    pub request_timeout: Duration,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Redirects followed per request.
    pub max_redirects: u32,
    /// Largest accepted event (RecordIO record) in bytes.
    pub max_event_size: usize,
    /// Capacity of the event channel; the loop waits (and reads no more) while it is full.
    pub event_channel_capacity: usize,
}

impl SchedulerConfig {
    /// A configuration with the defaults: backoff 0.5 s doubling to 15 s, reconnect after 5
    /// missed heartbeats, 75 s request timeout, 5 redirects, 64 MiB largest event.
    pub fn new(master: impl Into<MasterSource>, framework: FrameworkInfo) -> Self {
        Self {
            master: master.into(),
            framework,
            credential: None,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(15),
            missed_heartbeats_before_reconnect: 5,
            request_timeout: Duration::from_secs(75),
            connect_timeout: Duration::from_secs(10),
            max_redirects: 5,
            max_event_size: 64 << 20,
            event_channel_capacity: 1024,
        }
    }
}

/// What the subscription loop reports, in stream order.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SchedulerEvent {
    /// SUBSCRIBED, after the first subscription and after every resubscription. Offers from
    /// before it are void; reconcile the tasks you know.
    Subscribed {
        /// The framework's ID: persist it to fail over later.
        framework_id: FrameworkId,
        /// Heartbeat interval announced by the master.
        heartbeat_interval: Duration,
        /// The scheduler endpoint of the master that accepted the subscription.
        master_url: Url,
        /// The master, as it describes itself.
        master_info: Option<MasterInfo>,
    },
    /// OFFERS.
    Offers(Vec<Offer>),
    /// RESCIND: the offer is no longer valid.
    Rescind(OfferId),
    /// UPDATE: apply it, then [`SchedulerClient::acknowledge`] it.
    Update(TaskStatus),
    /// MESSAGE from an executor (`data` is Base64).
    Message {
        /// Agent of the executor.
        agent_id: AgentId,
        /// The executor.
        executor_id: ExecutorId,
        /// Base64 payload.
        data: String,
    },
    /// FAILURE: an agent was removed, or an executor exited.
    Failure {
        /// The agent.
        agent_id: Option<AgentId>,
        /// The executor.
        executor_id: Option<ExecutorId>,
        /// Exit status of the executor.
        status: Option<i32>,
    },
    /// ERROR from the master, e.g. "Framework has been removed". The loop drops the stream and
    /// resubscribes after `max_backoff`; call [`SchedulerClient::shutdown`] if that is pointless.
    Error {
        /// The master's message.
        message: String,
    },
    /// A subscription was lost or an attempt failed, and the loop resubscribes with backoff; or
    /// a watched [`MasterSource`] named another leader, and the loop resubscribes to it at once.
    Disconnected {
        /// What happened.
        reason: String,
    },
}

/// Where the subscription stands.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnectionState {
    /// Not subscribed (backing off between attempts, or shut down).
    Disconnected,
    /// A SUBSCRIBE is in flight.
    Connecting,
    /// SUBSCRIBED received; calls can be made.
    Subscribed {
        /// The framework's ID.
        framework_id: FrameworkId,
        /// Heartbeat interval announced by the master.
        heartbeat_interval: Duration,
        /// Scheduler endpoint of the leading master.
        master_url: Url,
    },
}

/// State shared by the handles and the subscription loop.
pub(crate) struct Shared {
    pub(crate) http: reqwest::Client,
    pub(crate) config: SchedulerConfig,
    pub(crate) session: Mutex<Session>,
    pub(crate) cancel: CancellationToken,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// The current subscription, as calls need it.
pub(crate) struct Session {
    pub(crate) connection: ConnectionState,
    pub(crate) stream_id: Option<String>,
    pub(crate) framework_id: Option<FrameworkId>,
    /// Scheduler endpoint of the master holding the subscription.
    pub(crate) leader: Option<Url>,
}

/// A clonable handle to the scheduler client; the loop stops when the last handle is dropped
/// or [`shutdown`](Self::shutdown) is called.
#[derive(Clone)]
pub struct SchedulerClient {
    shared: Arc<Shared>,
    _stop_on_drop: Arc<DropGuard>,
}

impl fmt::Debug for SchedulerClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SchedulerClient")
            .field("master", &self.shared.config.master)
            .field("state", &self.state())
            .finish()
    }
}

impl SchedulerClient {
    /// Spawns the subscription loop on the current tokio runtime and returns the handle and the
    /// event stream. Fails only when the HTTP client cannot be built (TLS setup).
    ///
    /// # Panics
    /// When called outside a tokio runtime.
    pub fn start(
        config: SchedulerConfig,
    ) -> Result<(Self, mpsc::Receiver<SchedulerEvent>), MesosError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.connect_timeout)
            .build()
            .map_err(MesosError::HttpClient)?;
        let (events_tx, events_rx) = mpsc::channel(config.event_channel_capacity.max(1));
        let cancel = CancellationToken::new();
        let shared = Arc::new(Shared {
            http,
            session: Mutex::new(Session {
                connection: ConnectionState::Disconnected,
                stream_id: None,
                framework_id: config.framework.id.clone(),
                leader: None,
            }),
            config,
            cancel: cancel.clone(),
            task: Mutex::new(None),
        });
        let task = tokio::spawn(subscription::run(shared.clone(), events_tx));
        *shared.task.lock() = Some(task);
        let client = Self {
            shared,
            _stop_on_drop: Arc::new(cancel.drop_guard()),
        };
        Ok((client, events_rx))
    }

    /// POSTs `call` to the master holding the subscription, with `Mesos-Stream-Id` and (when
    /// unset) `framework_id` filled in. 202 Accepted (or 200) is success; results of asynchronous
    /// calls arrive as events.
    pub async fn call(&self, mut call: Call) -> Result<(), MesosError> {
        let (url, stream_id, framework_id) = {
            let session = self.shared.session.lock();
            (
                session.leader.clone(),
                session.stream_id.clone(),
                session.framework_id.clone(),
            )
        };
        let (Some(url), Some(stream_id)) = (url, stream_id) else {
            return Err(MesosError::NotSubscribed);
        };
        if call.framework_id.is_none() {
            call.framework_id = framework_id;
        }
        debug!(call = %call.kind, master = %url, "sending mesos call");
        let timeout = self.shared.config.request_timeout;
        let (url, response) = self
            .shared
            .post(&call, Some(&stream_id), url, timeout)
            .await?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(status_error(url, response).await)
        }
    }

    /// ACCEPT `offer_ids` with `operations` (e.g. [`Operation::launch`]).
    pub async fn accept(
        &self,
        offer_ids: Vec<OfferId>,
        operations: Vec<Operation>,
        filters: Option<Filters>,
    ) -> Result<(), MesosError> {
        self.call(Call::accept(offer_ids, operations, filters))
            .await
    }

    /// DECLINE `offer_ids`; `filters.refuse_seconds` says for how long.
    pub async fn decline(
        &self,
        offer_ids: Vec<OfferId>,
        filters: Option<Filters>,
    ) -> Result<(), MesosError> {
        self.call(Call::decline(offer_ids, filters)).await
    }

    /// REVIVE offers for `roles` (all when empty).
    pub async fn revive(&self, roles: Vec<String>) -> Result<(), MesosError> {
        self.call(Call::revive(roles)).await
    }

    /// SUPPRESS offers for `roles` (all when empty).
    pub async fn suppress(&self, roles: Vec<String>) -> Result<(), MesosError> {
        self.call(Call::suppress(roles)).await
    }

    /// KILL a task.
    pub async fn kill(&self, task_id: TaskId, agent_id: Option<AgentId>) -> Result<(), MesosError> {
        self.call(Call::kill(task_id, agent_id)).await
    }

    /// ACKNOWLEDGE an update; does nothing for updates without a uuid (or agent), which must not
    /// be acknowledged.
    pub async fn acknowledge(&self, status: &TaskStatus) -> Result<(), MesosError> {
        match Call::acknowledge(status) {
            Some(call) => self.call(call).await,
            None => Ok(()),
        }
    }

    /// RECONCILE `tasks`; an empty list is an implicit reconciliation of every task.
    pub async fn reconcile(&self, tasks: Vec<ReconcileTask>) -> Result<(), MesosError> {
        self.call(Call::reconcile(tasks)).await
    }

    /// MESSAGE to an executor (`data` is Base64).
    pub async fn message(
        &self,
        agent_id: AgentId,
        executor_id: ExecutorId,
        data: String,
    ) -> Result<(), MesosError> {
        self.call(Call::message(agent_id, executor_id, data)).await
    }

    /// TEARDOWN: the master kills all tasks and removes the framework for good. On success the
    /// loop is shut down too: the master closes the stream without an event, and resubscribing
    /// with the removed framework ID would only be answered with ERROR.
    pub async fn teardown(&self) -> Result<(), MesosError> {
        self.call(Call::teardown()).await?;
        self.shutdown().await;
        Ok(())
    }

    /// The framework ID, once the master assigned one (or the configured one before that).
    pub fn framework_id(&self) -> Option<FrameworkId> {
        self.shared.session.lock().framework_id.clone()
    }

    /// Where the subscription stands.
    pub fn state(&self) -> ConnectionState {
        self.shared.session.lock().connection.clone()
    }

    /// Stops the loop and closes the stream without TEARDOWN: the master keeps the framework and
    /// its tasks for `failover_timeout`. Later calls fail with [`MesosError::NotSubscribed`].
    pub async fn shutdown(&self) {
        self.shared.cancel.cancel();
        let task = self.shared.task.lock().take();
        if let Some(task) = task
            && let Err(err) = task.await
        {
            tracing::warn!(error = %err, "mesos subscription loop ended abnormally");
        }
    }
}

impl Shared {
    /// POSTs `call` to `url`, following up to `max_redirects` redirects, and returns the final
    /// URL and response (any status but a redirect).
    pub(crate) async fn post(
        &self,
        call: &Call,
        stream_id: Option<&str>,
        url: Url,
        timeout: Duration,
    ) -> Result<(Url, Response), MesosError> {
        let body = serde_json::to_vec(call)?;
        let first_url = url.clone();
        let mut url = url;
        for _ in 0..=self.config.max_redirects {
            let mut request = self
                .http
                .post(url.clone())
                .header(CONTENT_TYPE, "application/json")
                .header(ACCEPT, "application/json")
                .body(body.clone());
            if let Some(stream_id) = stream_id {
                request = request.header(STREAM_ID_HEADER, stream_id);
            }
            if let Some(credential) = &self.config.credential {
                request = request.basic_auth(&credential.principal, Some(&credential.secret));
            }
            let response = match tokio::time::timeout(timeout, request.send()).await {
                Err(_) => return Err(MesosError::Timeout { url, timeout }),
                Ok(Err(source)) => return Err(MesosError::Http { url, source }),
                Ok(Ok(response)) => response,
            };
            if !response.status().is_redirection() {
                return Ok((url, response));
            }
            let location = response
                .headers()
                .get(LOCATION)
                .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
                .unwrap_or_default();
            // `Url::join` resolves Mesos' scheme-less `//leader:port/path` against `url`.
            let next = url
                .join(&location)
                .ok()
                .filter(|_| !location.is_empty())
                .ok_or_else(|| MesosError::BadRedirect {
                    url: url.clone(),
                    location: location.clone(),
                })?;
            debug!(from = %url, to = %next, status = %response.status(), "following mesos redirect");
            url = next;
        }
        Err(MesosError::TooManyRedirects {
            url: first_url,
            max: self.config.max_redirects,
        })
    }
}

/// `<base>/api/v1/scheduler`, whether or not the base URL ends with `/`.
pub(crate) fn scheduler_endpoint(base: &Url) -> Url {
    let mut endpoint = base.clone();
    let path = format!("{}/api/v1/scheduler", base.path().trim_end_matches('/'));
    endpoint.set_path(&path);
    endpoint.set_query(None);
    endpoint
}

/// Turns a non-success response into an error carrying (the start of) the master's body.
pub(crate) async fn status_error(url: Url, mut response: Response) -> MesosError {
    let status = response.status();
    let mut body = Vec::new();
    let read = async {
        while body.len() < MAX_ERROR_BODY {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) | Err(_) => break,
            }
        }
    };
    // A body that never ends must not hang the caller.
    let _ = tokio::time::timeout(Duration::from_secs(5), read).await;
    body.truncate(MAX_ERROR_BODY);
    let body = String::from_utf8_lossy(&body).trim().to_owned();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        MesosError::Unavailable { url, body }
    } else {
        MesosError::Status { url, status, body }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_from_base_urls() {
        for (base, want) in [
            ("http://m1:5050/", "http://m1:5050/api/v1/scheduler"),
            ("http://m1:5050", "http://m1:5050/api/v1/scheduler"),
            ("https://m1/mesos/", "https://m1/mesos/api/v1/scheduler"),
        ] {
            let url = scheduler_endpoint(&Url::parse(base).unwrap());
            assert_eq!(url.as_str(), want);
        }
    }

    #[test]
    fn scheme_less_location_keeps_the_scheme() {
        let url = Url::parse("https://m1:5050/api/v1/scheduler").unwrap();
        let next = url.join("//m2:5051/master/api/v1/scheduler").unwrap();
        assert_eq!(next.as_str(), "https://m2:5051/master/api/v1/scheduler");
    }

    #[test]
    fn credential_debug_hides_the_secret() {
        let credential = Credential {
            principal: "strom".into(),
            secret: "hunter2".into(),
        };
        assert!(!format!("{credential:?}").contains("hunter2"));
    }
}
