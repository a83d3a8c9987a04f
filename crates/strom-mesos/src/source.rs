//! Where the subscription loop finds the master: [`MasterSource`] (a fixed URL, or the leader a
//! detector publishes, as for `zk://` masters), and [`Tracker`], the loop's view of it — the
//! master to subscribe to next, and the wait for a different leader.
//!
//! A detector publishes into a `tokio::sync::watch` channel rather than being called per attempt:
//! the one channel both answers "who leads now" and wakes the loop when that changes, and the
//! detector keeps its own session (and its own reconnection policy) out of this crate.

use std::{fmt, time::Duration};

use reqwest::Url;
use tokio::sync::watch;

/// Where the scheduler client finds the master to subscribe to.
#[derive(Clone)]
pub enum MasterSource {
    /// A master's base URL (e.g. `http://m1:5050/`); a non-leading master redirects to the
    /// leader.
    Url(Url),
    /// The leading master's base URL as a detector publishes it, `None` while no leader is known
    /// (e.g. `strom_mesos_scheduler::detect` for `zk://` masters). Every subscription attempt
    /// goes to the current value (waiting up to the request timeout while it is `None`); a
    /// different leader published while subscribed, connecting or backing off moves the
    /// subscription to it at once. When the sender is dropped the last value stays in use.
    Watched(watch::Receiver<Option<Url>>),
}

impl MasterSource {
    /// The master an attempt would go to now; `None` while a watched source knows no leader.
    pub fn current(&self) -> Option<Url> {
        match self {
            Self::Url(url) => Some(url.clone()),
            Self::Watched(leader) => leader.borrow().clone(),
        }
    }
}

impl From<Url> for MasterSource {
    fn from(url: Url) -> Self {
        Self::Url(url)
    }
}

impl fmt::Debug for MasterSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Url(url) => f.debug_tuple("Url").field(&url.as_str()).finish(),
            Self::Watched(leader) => f
                .debug_tuple("Watched")
                .field(&leader.borrow().as_ref().map(Url::as_str))
                .finish(),
        }
    }
}

/// Whether `a` and `b` name the same master (scheme, host and port; paths differ between a base
/// URL and the endpoint a redirect ends at).
pub(crate) fn same_master(a: &Url, b: &Url) -> bool {
    a.origin() == b.origin()
}

/// The subscription loop's handle on its [`MasterSource`].
pub(crate) enum Tracker {
    Fixed(Url),
    Watched(watch::Receiver<Option<Url>>),
}

impl Tracker {
    pub(crate) fn new(source: &MasterSource) -> Self {
        match source {
            MasterSource::Url(url) => Self::Fixed(url.clone()),
            MasterSource::Watched(leader) => Self::Watched(leader.clone()),
        }
    }

    /// The master to subscribe to now; a watched source without a leader is waited for up to
    /// `wait`. The value returned counts as seen: [`Self::changed`] wakes for later ones only.
    pub(crate) async fn resolve(&mut self, wait: Duration) -> Result<Url, String> {
        let leader = match self {
            Self::Fixed(url) => return Ok(url.clone()),
            Self::Watched(leader) => leader,
        };
        if let Some(url) = leader.borrow_and_update().clone() {
            return Ok(url);
        }
        match tokio::time::timeout(wait, leader.wait_for(Option::is_some)).await {
            Ok(Ok(url)) => url
                .clone()
                .ok_or_else(|| "the mesos master detector published no leader".to_owned()),
            Ok(Err(_)) => Err("the mesos master detector stopped without finding a leader".into()),
            Err(_) => Err(format!("no leading mesos master known after {wait:?}")),
        }
    }

    /// Waits until a watched source publishes a leader for which `is_current` is false; never
    /// returns for a fixed source, or once the detector is gone (its last value stays in use).
    /// `None` (no leader known) is not a change: the current master may well still serve, and
    /// when it does not the stream ends by itself.
    pub(crate) async fn changed(&mut self, is_current: impl Fn(&Url) -> bool) -> Url {
        let Self::Watched(leader) = self else {
            return std::future::pending().await;
        };
        loop {
            if leader.changed().await.is_err() {
                return std::future::pending().await;
            }
            let published = leader.borrow_and_update().clone();
            if let Some(url) = published
                && !is_current(&url)
            {
                return url;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn same_master_ignores_the_path() {
        let base = url("http://m1:5050/");
        assert!(same_master(
            &base,
            &url("http://m1:5050/master/api/v1/scheduler")
        ));
        assert!(!same_master(&base, &url("http://m1:5051/")));
        assert!(!same_master(&base, &url("https://m1:5050/")));
        assert!(!same_master(&base, &url("http://m2:5050/")));
    }

    #[tokio::test]
    async fn a_fixed_source_never_changes() {
        let mut tracker = Tracker::new(&MasterSource::from(url("http://m1:5050/")));
        let resolved = tracker.resolve(Duration::ZERO).await.unwrap();
        assert_eq!(resolved.as_str(), "http://m1:5050/");
        let change = tracker.changed(|_| false);
        assert!(
            tokio::time::timeout(Duration::from_millis(20), change)
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn a_watched_source_waits_for_a_leader_and_reports_only_other_ones() {
        let (publish, leader) = watch::channel(None);
        let source = MasterSource::Watched(leader);
        let mut tracker = Tracker::new(&source);
        let err = tracker
            .resolve(Duration::from_millis(10))
            .await
            .unwrap_err();
        assert!(err.contains("no leading mesos master known"), "{err}");

        let m1 = url("http://m1:5050/");
        let waiting = tokio::spawn(async move {
            let resolved = tracker.resolve(Duration::from_secs(10)).await;
            (tracker, resolved)
        });
        publish.send_replace(Some(m1.clone()));
        let (mut tracker, resolved) = waiting.await.unwrap();
        assert_eq!(resolved.unwrap(), m1);
        assert_eq!(source.current(), Some(m1.clone()));

        // No leader, then the same one again: neither is a change; another master is.
        publish.send_replace(None);
        let change = tracker.changed(|url| same_master(url, &m1));
        assert!(
            tokio::time::timeout(Duration::from_millis(20), change)
                .await
                .is_err()
        );
        publish.send_replace(Some(url("http://m1:5050/master/api/v1/scheduler")));
        let change = tracker.changed(|url| same_master(url, &m1));
        assert!(
            tokio::time::timeout(Duration::from_millis(20), change)
                .await
                .is_err()
        );
        let m2 = url("http://m2:5050/");
        publish.send_replace(Some(m2.clone()));
        let changed = tracker.changed(|url| same_master(url, &m1)).await;
        assert_eq!(changed, m2);

        // Once the detector is gone, nothing changes any more and the last value stays.
        drop(publish);
        let change = tracker.changed(|_| false);
        assert!(
            tokio::time::timeout(Duration::from_millis(20), change)
                .await
                .is_err()
        );
        assert_eq!(tracker.resolve(Duration::ZERO).await.unwrap(), m2);
    }
}
