//! Operator state for checkpoints: what an operator hands over at a checkpoint barrier and what
//! it gets back when a job restores.
//!
//! Two kinds of state, as in Flink:
//! - **keyed** entries, each in a key group (the same key group the upstream partitioner routes
//!   the key by, [`crate::partition::key_group`]). On restore a subtask receives exactly the
//!   entries of the key groups it owns at its (possibly new) parallelism;
//! - **items**: non-keyed pieces (source splits and positions, pending sink files). On restore
//!   every subtask of the vertex sees every item of every old subtask, and takes its share
//!   (Flink's union list state): [`RestoredState::share`] picks a round-robin share.
//!
//! Entries and items carry a namespace, so that one vertex chaining several stateful steps keeps
//! their state apart. The bytes inside are each operator's own encoding.

/// Namespace of a vertex's source connector.
pub const NAMESPACE_SOURCE: u32 = 1 << 16;
/// Namespace of a vertex's sink connector.
pub const NAMESPACE_SINK: u32 = (1 << 16) + 1;

/// One keyed state entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedEntry {
    /// Which step of the vertex owns it.
    pub namespace: u32,
    /// The key group of the key.
    pub key_group: u32,
    /// The key, in the operator's encoding.
    pub key: Vec<u8>,
    /// The value, in the operator's encoding.
    pub value: Vec<u8>,
}

/// One non-keyed state item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateItem {
    /// Which step of the vertex owns it.
    pub namespace: u32,
    /// The item, in the operator's encoding.
    pub bytes: Vec<u8>,
}

/// The state of one operator subtask at a checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OperatorSnapshot {
    /// Keyed entries.
    pub keyed: Vec<KeyedEntry>,
    /// Non-keyed items.
    pub items: Vec<StateItem>,
}

impl OperatorSnapshot {
    /// Whether there is nothing to store.
    pub fn is_empty(&self) -> bool {
        self.keyed.is_empty() && self.items.is_empty()
    }

    /// Adds `other`'s entries and items, moved into namespace `namespace`.
    pub fn absorb(&mut self, namespace: u32, other: OperatorSnapshot) {
        self.keyed.extend(
            other
                .keyed
                .into_iter()
                .map(|e| KeyedEntry { namespace, ..e }),
        );
        self.items.extend(
            other
                .items
                .into_iter()
                .map(|i| StateItem { namespace, ..i }),
        );
    }
}

/// What one subtask restores from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoredState {
    /// The checkpoint (or savepoint) restored.
    pub checkpoint_id: u64,
    /// Keyed entries of the key groups this subtask owns.
    pub keyed: Vec<KeyedEntry>,
    /// Every item of every subtask of the vertex, in old subtask order.
    pub items: Vec<StateItem>,
    /// This subtask's index.
    pub subtask: u32,
    /// The vertex's parallelism now.
    pub parallelism: u32,
}

impl RestoredState {
    /// The part of the state that belongs to namespace `namespace`, entries and items moved back
    /// to namespace 0.
    pub fn namespace(&self, namespace: u32) -> RestoredState {
        RestoredState {
            checkpoint_id: self.checkpoint_id,
            keyed: self
                .keyed
                .iter()
                .filter(|e| e.namespace == namespace)
                .map(|e| KeyedEntry {
                    namespace: 0,
                    ..e.clone()
                })
                .collect(),
            items: self
                .items
                .iter()
                .filter(|i| i.namespace == namespace)
                .map(|i| StateItem {
                    namespace: 0,
                    ..i.clone()
                })
                .collect(),
            subtask: self.subtask,
            parallelism: self.parallelism,
        }
    }

    /// This subtask's round-robin share of the items: item `i` goes to subtask
    /// `i % parallelism`.
    pub fn share(&self) -> impl Iterator<Item = &StateItem> {
        self.items
            .iter()
            .enumerate()
            .filter(move |(i, _)| self.owns(*i))
            .map(|(_, item)| item)
    }

    /// Whether item `index` is in this subtask's share.
    pub fn owns(&self, index: usize) -> bool {
        index % self.parallelism.max(1) as usize == self.subtask as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(namespace: u32, byte: u8) -> StateItem {
        StateItem {
            namespace,
            bytes: vec![byte],
        }
    }

    #[test]
    fn namespaces_keep_chained_steps_apart() {
        let mut vertex = OperatorSnapshot::default();
        vertex.absorb(
            3,
            OperatorSnapshot {
                keyed: vec![KeyedEntry {
                    namespace: 0,
                    key_group: 7,
                    key: b"k".to_vec(),
                    value: b"v".to_vec(),
                }],
                items: vec![item(0, 1)],
            },
        );
        vertex.absorb(
            NAMESPACE_SINK,
            OperatorSnapshot {
                keyed: Vec::new(),
                items: vec![item(0, 2)],
            },
        );
        let restored = RestoredState {
            checkpoint_id: 5,
            keyed: vertex.keyed.clone(),
            items: vertex.items.clone(),
            subtask: 0,
            parallelism: 1,
        };
        let step = restored.namespace(3);
        assert_eq!(step.keyed.len(), 1);
        assert_eq!(step.keyed[0].namespace, 0);
        assert_eq!(step.items, vec![item(0, 1)]);
        assert_eq!(restored.namespace(NAMESPACE_SINK).items, vec![item(0, 2)]);
        assert!(restored.namespace(9).items.is_empty());
    }

    #[test]
    fn items_are_shared_round_robin() {
        let state = |subtask| RestoredState {
            items: (0..5).map(|b| item(0, b)).collect(),
            subtask,
            parallelism: 2,
            ..RestoredState::default()
        };
        let bytes = |s: &RestoredState| s.share().map(|i| i.bytes[0]).collect::<Vec<_>>();
        assert_eq!(bytes(&state(0)), [0, 2, 4]);
        assert_eq!(bytes(&state(1)), [1, 3]);
    }
}
