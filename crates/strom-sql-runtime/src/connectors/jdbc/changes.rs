//! What a `jdbc` sink has yet to write, as pure data: the rows of an append sink in order, or
//! the last change of each key of an upsert sink; and how a checkpoint keeps them.
//!
//! An upsert sink needs only the last change per key: applying it once or twice leaves the
//! table the same, which is what makes a replay after a failure harmless. An append sink's rows
//! must be written exactly once: its commits record the checkpoint in the database
//! (`strom_sink_commits`), in the same transaction as the rows.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::values::TextColumn;

/// A row as PostgreSQL input text, one value per column (`None`: NULL).
pub(super) type TextRow = Vec<Option<String>>;

/// The last change of a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum Change {
    /// Insert the row, or update the row with its key.
    Upsert(TextRow),
    /// Delete the row with this key (the key's values only).
    Delete(TextRow),
}

/// Changes not written yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum Changes {
    /// Rows to insert, in order.
    Append(Vec<TextRow>),
    /// The last change of each key (the key's values, in key column order).
    Upsert(#[serde(with = "pairs")] BTreeMap<TextRow, Change>),
}

/// A map with list keys as a list of pairs: JSON objects only have string keys.
mod pairs {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serializer};

    use super::{Change, TextRow};

    pub(super) fn serialize<S: Serializer>(
        map: &BTreeMap<TextRow, Change>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(map.iter())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BTreeMap<TextRow, Change>, D::Error> {
        Ok(Vec::<(TextRow, Change)>::deserialize(deserializer)?
            .into_iter()
            .collect())
    }
}

impl Changes {
    pub(super) fn new(upsert: bool) -> Self {
        if upsert {
            Self::Upsert(BTreeMap::new())
        } else {
            Self::Append(Vec::new())
        }
    }

    /// Rows (or keys) held.
    pub(super) fn len(&self) -> usize {
        match self {
            Self::Append(rows) => rows.len(),
            Self::Upsert(keys) => keys.len(),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds a batch's rows, given as text columns; `additions[i]` says whether row `i` adds to
    /// the result (`+I`, `+U`) or retracts it (`-U`, `-D`); `key` holds the key columns.
    pub(super) fn add(&mut self, columns: &[TextColumn], additions: &[bool], key: &[usize]) {
        let rows = additions.len();
        for (row, &addition) in additions.iter().enumerate().take(rows) {
            let values: TextRow = columns.iter().map(|c| c[row].clone()).collect();
            match self {
                Self::Append(out) => {
                    if addition {
                        out.push(values);
                    }
                }
                Self::Upsert(out) => {
                    let key_values: TextRow = key.iter().map(|&k| values[k].clone()).collect();
                    let change = if addition {
                        Change::Upsert(values)
                    } else {
                        Change::Delete(key_values.clone())
                    };
                    out.insert(key_values, change);
                }
            }
        }
    }

    /// Adds the later changes `other` (of the same kind of sink).
    pub(super) fn merge(&mut self, other: Changes) {
        match (self, other) {
            (Self::Append(rows), Self::Append(more)) => rows.extend(more),
            (Self::Upsert(keys), Self::Upsert(more)) => keys.extend(more),
            (this, other) => {
                // A sink's kind does not change between checkpoints; a restored state of the
                // other kind (the table's key was changed) is taken as it is.
                tracing::warn!("a jdbc sink restored changes of another kind; keeping the later");
                *this = other;
            }
        }
    }

    /// Splits into the rows to upsert (or append) and the keys to delete.
    pub(super) fn into_parts(self) -> (Vec<TextRow>, Vec<TextRow>) {
        match self {
            Self::Append(rows) => (rows, Vec::new()),
            Self::Upsert(keys) => {
                let (mut upserts, mut deletes) = (Vec::new(), Vec::new());
                for change in keys.into_values() {
                    match change {
                        Change::Upsert(row) => upserts.push(row),
                        Change::Delete(key) => deletes.push(key),
                    }
                }
                (upserts, deletes)
            }
        }
    }
}

/// The changes a checkpoint holds for one writer, as a state item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Staged {
    /// The writer that staged them (`<job>/<vertex>/<subtask>`): the name its commits are
    /// recorded under, which a rescaled job keeps.
    pub(super) writer: String,
    /// The checkpoint that staged them.
    pub(super) checkpoint: u64,
    pub(super) changes: Changes,
}

impl Staged {
    pub(super) fn encode(&self) -> Result<Vec<u8>, String> {
        serde_json::to_vec(self).map_err(|e| format!("a jdbc sink's checkpoint state: {e}"))
    }

    pub(super) fn decode(bytes: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("a jdbc sink's checkpoint state: {e}"))
    }
}

/// Rows as text columns: the transpose of `rows`, `width` columns wide.
pub(super) fn columns_of(rows: &[TextRow], width: usize) -> Vec<TextColumn> {
    let mut columns: Vec<TextColumn> = (0..width).map(|_| Vec::with_capacity(rows.len())).collect();
    for row in rows {
        for (column, value) in columns.iter_mut().zip(row) {
            column.push(value.clone());
        }
    }
    columns
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(values: &[&str]) -> TextColumn {
        values.iter().map(|v| Some((*v).to_owned())).collect()
    }

    #[test]
    fn an_upsert_buffer_keeps_the_last_change_of_each_key() {
        let mut changes = Changes::new(true);
        // k=a: +I 1, -U 1, +U 2; k=b: +I 5, -D 5; k=c: -D
        changes.add(
            &[
                text(&["a", "a", "a", "b", "b", "c"]),
                text(&["1", "1", "2", "5", "5", "9"]),
            ],
            &[true, false, true, true, false, false],
            &[0],
        );
        let (upserts, deletes) = changes.clone().into_parts();
        assert_eq!(upserts, vec![vec![Some("a".into()), Some("2".into())]]);
        assert_eq!(
            deletes,
            vec![vec![Some("b".into())], vec![Some("c".into())]]
        );
        let mut later = Changes::new(true);
        later.add(&[text(&["b"]), text(&["7"])], &[true], &[0]);
        changes.merge(later);
        // A checkpoint keeps them (keys are lists, which JSON objects cannot key by).
        let staged = Staged {
            writer: "j/v/1".into(),
            checkpoint: 2,
            changes: changes.clone(),
        };
        assert_eq!(Staged::decode(&staged.encode().unwrap()).unwrap(), staged);
        let (upserts, deletes) = changes.into_parts();
        assert_eq!(upserts.len(), 2);
        assert_eq!(deletes, vec![vec![Some("c".into())]]);
    }

    #[test]
    fn an_append_buffer_keeps_rows_in_order_and_drops_nothing() {
        let mut changes = Changes::new(false);
        changes.add(&[text(&["x", "x", "y"])], &[true, true, true], &[]);
        assert_eq!(changes.len(), 3);
        let staged = Staged {
            writer: "j/v/0".into(),
            checkpoint: 4,
            changes,
        };
        assert_eq!(Staged::decode(&staged.encode().unwrap()).unwrap(), staged);
        assert!(Staged::decode(b"{").is_err());
        let (rows, _) = staged.changes.into_parts();
        assert_eq!(columns_of(&rows, 1), vec![text(&["x", "x", "y"])]);
    }
}
