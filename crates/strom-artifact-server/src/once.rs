//! One-time artifacts: bytes served to exactly one GET under an unguessable per-artifact token,
//! then forgotten.
//!
//! For what must reach one TaskManager and nobody else, such as the cluster secret: the URL is
//! useless once the task's fetcher has used it (a replayed or leaked URL answers 404), the
//! fetcher is told not to cache it, and the TaskManager deletes the file from its sandbox once it
//! has read it. Tokens of tasks that never fetched (a launch that failed before the fetcher
//! ran) expire after [`TTL`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use parking_lot::Mutex;

/// How long an unused one-time artifact stays fetchable.
pub const TTL: Duration = Duration::from_secs(600);

/// The first path segment (below the server's prefix) of one-time artifacts.
pub(crate) const SEGMENT: &str = "once";

/// Token → bytes and when they were added.
#[derive(Debug, Default)]
pub(crate) struct OneTime {
    entries: Mutex<HashMap<String, (Bytes, Instant)>>,
}

impl OneTime {
    /// Stores `bytes` under a fresh token, dropping expired entries; returns the token.
    pub(crate) fn insert(&self, bytes: Bytes, now: Instant) -> String {
        let token = uuid::Uuid::new_v4().simple().to_string();
        let mut entries = self.entries.lock();
        entries.retain(|_, (_, added)| now.duration_since(*added) < TTL);
        entries.insert(token.clone(), (bytes, now));
        token
    }

    /// The bytes under `token` if unexpired, removed so that no second request gets them.
    pub(crate) fn take(&self, token: &str, now: Instant) -> Option<Bytes> {
        let (bytes, added) = self.entries.lock().remove(token)?;
        (now.duration_since(added) < TTL).then_some(bytes)
    }

    /// How many are waiting to be fetched.
    #[cfg(test)]
    pub(crate) fn pending(&self) -> usize {
        self.entries.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_once_then_gone() {
        let once = OneTime::default();
        let now = Instant::now();
        let token = once.insert(Bytes::from_static(b"secret"), now);
        assert_eq!(once.take(&token, now).as_deref(), Some(&b"secret"[..]));
        assert_eq!(once.take(&token, now), None);
        assert_eq!(once.take("unknown", now), None);
    }

    #[test]
    fn unused_entries_expire() {
        let once = OneTime::default();
        let start = Instant::now();
        let old = once.insert(Bytes::from_static(b"a"), start);
        let later = start + TTL + Duration::from_secs(1);
        assert_eq!(once.take(&old, later), None);
        let stale = once.insert(Bytes::from_static(b"b"), start);
        once.insert(Bytes::from_static(b"c"), later);
        assert_eq!(once.pending(), 1, "the expired entry was dropped");
        assert_eq!(once.take(&stale, later), None);
    }
}
