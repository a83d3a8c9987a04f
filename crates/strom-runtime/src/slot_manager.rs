//! Registered TaskManagers, their slots, and their liveness.
//!
//! Slots are shared by all vertices of a job (Flink's default slot sharing group): a job of
//! maximum parallelism `p` takes `p` slots and subtask `i` of every vertex runs in its slot `i`.
//! Allocation is all-or-nothing and fills TaskManagers in registration order.

use std::collections::BTreeMap;
use std::time::{Instant, SystemTime};

use strom_jobgraph::JobId;
use strom_rpc::{Registration, ToTaskManager};
use tokio::sync::mpsc;

/// A slot: TaskManager id and slot index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SlotRef {
    /// The TaskManager.
    pub taskmanager: String,
    /// Slot index on it.
    pub index: u32,
}

/// One registered TaskManager.
#[derive(Debug)]
pub struct TaskManagerEntry {
    /// What it said when it registered.
    pub registration: Registration,
    /// Distinguishes a re-registration's connection from the old one.
    pub connection: u64,
    /// Messages to it.
    pub sender: mpsc::UnboundedSender<ToTaskManager>,
    /// Which job holds each slot.
    pub slots: Vec<Option<JobId>>,
    /// Wall-clock registration time, for the REST API.
    pub registered_at: SystemTime,
    /// Last message received from it.
    pub last_heartbeat: Instant,
    /// Since when no slot has been allocated.
    pub idle_since: Option<Instant>,
}

impl TaskManagerEntry {
    /// Builds an entry for a TaskManager that just registered.
    pub fn new(
        registration: Registration,
        connection: u64,
        sender: mpsc::UnboundedSender<ToTaskManager>,
    ) -> Self {
        let now = Instant::now();
        Self {
            slots: vec![None; registration.slots as usize],
            registration,
            connection,
            sender,
            registered_at: SystemTime::now(),
            last_heartbeat: now,
            idle_since: Some(now),
        }
    }

    /// Slots not held by any job.
    pub fn free_slots(&self) -> usize {
        self.slots.iter().filter(|s| s.is_none()).count()
    }

    /// Sends a message; a closed connection is noticed by the RPC server, so errors are ignored.
    pub fn send(&self, message: ToTaskManager) {
        let _ = self.sender.send(message);
    }
}

/// All registered TaskManagers, by resource id.
#[derive(Debug, Default)]
pub struct SlotManager {
    taskmanagers: BTreeMap<String, TaskManagerEntry>,
}

impl SlotManager {
    /// Adds a TaskManager; returns the entry it replaces if the same id registered before.
    pub fn register(&mut self, entry: TaskManagerEntry) -> Option<TaskManagerEntry> {
        self.taskmanagers
            .insert(entry.registration.resource_id.clone(), entry)
    }

    /// Removes a TaskManager, but only if `connection` matches (or is `None`).
    pub fn remove(&mut self, id: &str, connection: Option<u64>) -> Option<TaskManagerEntry> {
        match self.taskmanagers.get(id) {
            Some(entry) if connection.is_none_or(|c| c == entry.connection) => {
                self.taskmanagers.remove(id)
            }
            _ => None,
        }
    }

    /// The TaskManager with this id.
    pub fn get(&self, id: &str) -> Option<&TaskManagerEntry> {
        self.taskmanagers.get(id)
    }

    /// All TaskManagers in id order.
    pub fn iter(&self) -> impl Iterator<Item = &TaskManagerEntry> {
        self.taskmanagers.values()
    }

    /// Number of registered TaskManagers.
    pub fn len(&self) -> usize {
        self.taskmanagers.len()
    }

    /// Whether none is registered.
    pub fn is_empty(&self) -> bool {
        self.taskmanagers.is_empty()
    }

    /// Records a sign of life from `id` on `connection`.
    pub fn heartbeat(&mut self, id: &str, connection: u64, now: Instant) {
        if let Some(entry) = self.taskmanagers.get_mut(id)
            && entry.connection == connection
        {
            entry.last_heartbeat = now;
        }
    }

    /// TaskManagers silent for longer than `timeout`.
    pub fn expired(&self, now: Instant, timeout: std::time::Duration) -> Vec<String> {
        self.taskmanagers
            .iter()
            .filter(|(_, e)| now.duration_since(e.last_heartbeat) > timeout)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Total slots.
    pub fn total_slots(&self) -> usize {
        self.taskmanagers.values().map(|e| e.slots.len()).sum()
    }

    /// Free slots.
    pub fn free_slots(&self) -> usize {
        self.taskmanagers
            .values()
            .map(TaskManagerEntry::free_slots)
            .sum()
    }

    /// Allocates `count` slots to `job`, or none if fewer are free.
    pub fn allocate(&mut self, job: JobId, count: usize) -> Option<Vec<SlotRef>> {
        if self.free_slots() < count {
            return None;
        }
        let mut allocated = Vec::with_capacity(count);
        for (id, entry) in &mut self.taskmanagers {
            for (index, slot) in entry.slots.iter_mut().enumerate() {
                if allocated.len() == count {
                    break;
                }
                if slot.is_none() {
                    *slot = Some(job);
                    entry.idle_since = None;
                    allocated.push(SlotRef {
                        taskmanager: id.clone(),
                        index: index as u32,
                    });
                }
            }
        }
        Some(allocated)
    }

    /// Frees every slot held by `job`.
    pub fn release_job(&mut self, job: JobId, now: Instant) {
        for entry in self.taskmanagers.values_mut() {
            for slot in &mut entry.slots {
                if *slot == Some(job) {
                    *slot = None;
                }
            }
            if entry.idle_since.is_none() && entry.free_slots() == entry.slots.len() {
                entry.idle_since = Some(now);
            }
        }
    }

    /// TaskManagers idle for longer than `timeout`, longest idle first.
    pub fn idle(&self, now: Instant, timeout: std::time::Duration) -> Vec<String> {
        let mut idle: Vec<_> = self
            .taskmanagers
            .iter()
            .filter_map(|(id, e)| {
                e.idle_since
                    .filter(|t| now.duration_since(*t) > timeout)
                    .map(|t| (t, id.clone()))
            })
            .collect();
        idle.sort();
        idle.into_iter().map(|(_, id)| id).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use strom_rpc::Hardware;

    pub(crate) fn registration(id: &str, slots: u32) -> Registration {
        Registration {
            protocol_version: strom_rpc::PROTOCOL_VERSION,
            resource_id: id.into(),
            host: "127.0.0.1".into(),
            data_port: 1,
            slots,
            memory_process_bytes: 1 << 30,
            hardware: Hardware::default(),
            pid: 1,
            labels: Default::default(),
            proof: None,
        }
    }

    fn manager(slots: &[u32]) -> SlotManager {
        let mut manager = SlotManager::default();
        for (i, &n) in slots.iter().enumerate() {
            let (tx, _) = mpsc::unbounded_channel();
            manager.register(TaskManagerEntry::new(
                registration(&format!("tm-{i}"), n),
                i as u64,
                tx,
            ));
        }
        manager
    }

    #[test]
    fn allocation_is_all_or_nothing_and_released_by_job() {
        let mut slots = manager(&[2, 1]);
        let (a, b) = (JobId::from_u128(1), JobId::from_u128(2));
        assert_eq!(slots.allocate(a, 2).unwrap().len(), 2);
        assert!(slots.allocate(b, 2).is_none());
        assert_eq!(slots.free_slots(), 1);
        let now = Instant::now();
        slots.release_job(a, now);
        assert_eq!(slots.free_slots(), 3);
        assert_eq!(
            slots
                .idle(now + Duration::from_secs(2), Duration::from_secs(1))
                .len(),
            2
        );
    }

    #[test]
    fn stale_connections_do_not_remove_a_reregistered_taskmanager() {
        let mut slots = manager(&[1]);
        let (tx, _) = mpsc::unbounded_channel();
        assert!(
            slots
                .register(TaskManagerEntry::new(registration("tm-0", 1), 9, tx))
                .is_some()
        );
        assert!(slots.remove("tm-0", Some(0)).is_none());
        assert!(slots.remove("tm-0", Some(9)).is_some());
    }

    #[test]
    fn silent_taskmanagers_expire() {
        let mut slots = manager(&[1, 1]);
        let later = Instant::now() + Duration::from_secs(10);
        slots.heartbeat("tm-1", 1, later);
        assert_eq!(slots.expired(later, Duration::from_secs(5)), ["tm-0"]);
    }
}
