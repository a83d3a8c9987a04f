//! Where keyed operator state lives between checkpoints: Flink's `state.backend.type`.
//!
//! - `hashmap` (the default): a hash map in memory, of decoded accumulators.
//! - `embedded-lsm` (Flink's `rocksdb` is taken as an alias): an LSM tree on local disk per
//!   subtask ([`super::lsm`]), so state can outgrow memory; a key's accumulators are read,
//!   updated and written back once per emitted mini-batch.
//!
//! Both backends snapshot the same keyed entries (key bytes, encoded accumulators) in the same
//! order (by key bytes), so a checkpoint or savepoint taken with one restores into the other.
//! The group aggregate is the only operator that uses the choice so far; window operators keep
//! their state in memory whatever the setting.

use std::collections::{BTreeMap, HashMap};

use foldhash::fast::RandomState;

use strom_operators::{OperatorContext, OperatorError};

use super::accumulate::{Acc, decode_accs, encode_accs};
use super::lsm::LsmStore;
use crate::state::{Decoder, Encoder, malformed};

/// Flink's key that chooses the state backend.
pub(crate) const STATE_BACKEND_KEY: &str = "state.backend.type";

/// Restored entries written to the LSM in one batch.
const RESTORE_BATCH: usize = 10_000;

/// The state backend a job asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum StateBackend {
    /// In memory.
    #[default]
    HashMap,
    /// An LSM tree on local disk.
    EmbeddedLsm,
}

impl StateBackend {
    /// The backend `config` asks for with [`STATE_BACKEND_KEY`] (case-insensitive), `hashmap`
    /// if it does not say.
    pub(crate) fn from_config(config: &BTreeMap<String, String>) -> Result<Self, OperatorError> {
        let Some(value) = config.get(STATE_BACKEND_KEY) else {
            return Ok(Self::HashMap);
        };
        match value.trim().to_ascii_lowercase().as_str() {
            "hashmap" => Ok(Self::HashMap),
            "embedded-lsm" | "rocksdb" => Ok(Self::EmbeddedLsm),
            _ => Err(OperatorError::Parameter(format!(
                "'{STATE_BACKEND_KEY}' = '{value}' is not a state backend; allowed values: \
                 'hashmap', 'embedded-lsm' ('rocksdb' is taken as 'embedded-lsm')"
            ))),
        }
    }
}

/// The accumulators of every key of a group aggregate, in the chosen backend.
///
/// Per emitted mini-batch each of its keys is [updated](KeyedStore::update) once;
/// [`KeyedStore::commit`] ends the mini-batch.
pub(crate) enum KeyedStore {
    /// Decoded accumulators by key bytes (foldhash: SipHash dominated lookups of short keys).
    Memory(HashMap<Box<[u8]>, Vec<Acc>, RandomState>),
    /// Encoded accumulators by key bytes, on disk.
    Lsm(LsmStore),
}

impl KeyedStore {
    /// A new, empty store of `backend` for the subtask of `ctx`.
    pub(crate) fn open(
        backend: StateBackend,
        ctx: &OperatorContext,
    ) -> Result<Self, OperatorError> {
        Ok(match backend {
            StateBackend::HashMap => Self::memory(),
            StateBackend::EmbeddedLsm => Self::Lsm(LsmStore::open(ctx)?),
        })
    }

    /// A new, empty store in memory.
    pub(crate) fn memory() -> Self {
        Self::Memory(HashMap::default())
    }

    /// Updates the accumulators of `key` in place with `update`, which is told whether the key
    /// had any (if not, it gets an empty list to fill). Memory updates in place, with one
    /// lookup; the LSM reads, decodes, and stages the new value.
    pub(crate) fn update<R>(
        &mut self,
        key: &[u8],
        update: impl FnOnce(&mut Vec<Acc>, bool) -> Result<R, OperatorError>,
    ) -> Result<R, OperatorError> {
        match self {
            Self::Memory(map) => match map.get_mut(key) {
                Some(accs) => update(accs, true),
                None => {
                    let mut accs = Vec::new();
                    let result = update(&mut accs, false)?;
                    map.insert(key.into(), accs);
                    Ok(result)
                }
            },
            Self::Lsm(store) => {
                let (mut accs, existed) = match store.get(key)? {
                    Some(bytes) => (decode(&bytes)?, true),
                    None => (Vec::new(), false),
                };
                let result = update(&mut accs, existed)?;
                store.put(key, encode(&accs)?);
                Ok(result)
            }
        }
    }

    /// Ends an input batch: what was put becomes visible to the next batch.
    pub(crate) fn commit(&mut self) -> Result<(), OperatorError> {
        match self {
            Self::Memory(_) => Ok(()),
            Self::Lsm(store) => store.commit(),
        }
    }

    /// Calls `visit` with every key and its encoded accumulators, in the order of the key
    /// bytes (the same for both backends).
    pub(crate) fn scan(
        &self,
        mut visit: impl FnMut(&[u8], Vec<u8>) -> Result<(), OperatorError>,
    ) -> Result<(), OperatorError> {
        match self {
            Self::Memory(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
                for (key, accs) in entries {
                    visit(key, encode(accs)?)?;
                }
                Ok(())
            }
            Self::Lsm(store) => store.scan(|key, value| visit(key, value.to_vec())),
        }
    }

    /// Loads restored entries: each key once, with its accumulators and, when at hand, the
    /// same encoded (the LSM keeps the bytes, memory the decoded ones). Call before the first
    /// batch.
    pub(crate) fn restore<'a>(
        &mut self,
        entries: impl IntoIterator<Item = Result<(&'a [u8], Option<&'a [u8]>, Vec<Acc>), OperatorError>>,
    ) -> Result<(), OperatorError> {
        match self {
            Self::Memory(map) => {
                for entry in entries {
                    let (key, _, accs) = entry?;
                    map.insert(key.into(), accs);
                }
                Ok(())
            }
            Self::Lsm(store) => {
                for (i, entry) in entries.into_iter().enumerate() {
                    let (key, value, accs) = entry?;
                    let value = match value {
                        Some(value) => value.to_vec(),
                        None => encode(&accs)?,
                    };
                    store.put(key, value);
                    if (i + 1) % RESTORE_BATCH == 0 {
                        store.commit()?;
                    }
                }
                store.commit()
            }
        }
    }
}

pub(crate) fn encode(accs: &[Acc]) -> Result<Vec<u8>, OperatorError> {
    let mut encoder = Encoder::new();
    encode_accs(accs, &mut encoder)?;
    Ok(encoder.finish())
}

/// Reads what [`encode`] wrote, all of it.
pub(crate) fn decode(bytes: &[u8]) -> Result<Vec<Acc>, OperatorError> {
    let mut decoder = Decoder::new(bytes);
    let accs = decode_accs(&mut decoder)?;
    if !decoder.is_empty() {
        return Err(malformed("aggregate state with trailing bytes"));
    }
    Ok(accs)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn config(value: &str) -> BTreeMap<String, String> {
        BTreeMap::from([(STATE_BACKEND_KEY.to_owned(), value.to_owned())])
    }

    #[test]
    fn the_backend_comes_from_flinks_key() {
        assert_eq!(
            StateBackend::from_config(&BTreeMap::new()).unwrap(),
            StateBackend::HashMap
        );
        for (value, backend) in [
            ("hashmap", StateBackend::HashMap),
            ("HashMap", StateBackend::HashMap),
            ("embedded-lsm", StateBackend::EmbeddedLsm),
            ("rocksdb", StateBackend::EmbeddedLsm),
            (" RocksDB ", StateBackend::EmbeddedLsm),
        ] {
            assert_eq!(StateBackend::from_config(&config(value)).unwrap(), backend);
        }
    }

    #[test]
    fn an_unknown_backend_is_refused_naming_key_value_and_choices() {
        let error = StateBackend::from_config(&config("filesystem")).unwrap_err();
        let message = error.to_string();
        for part in [
            "'state.backend.type'",
            "'filesystem'",
            "'hashmap'",
            "'embedded-lsm'",
            "'rocksdb'",
        ] {
            assert!(message.contains(part), "{part} missing from: {message}");
        }
    }
}
