//! Group ids for row-encoded keys: each distinct key of a mini-batch gets a dense id
//! (0, 1, ... in order of first appearance) that indexes the typed accumulator columns.
//!
//! Each row's key bytes are hashed once (foldhash, much cheaper than the standard library's
//! SipHash on short keys); the table stores only ids and compares key bytes, kept in one
//! arena, when the hashes are equal.
//!
//! Keys are either Arrow row-format bytes ([`GroupTable::intern`], any key types) or, for a
//! single `STRING` key, the strings themselves behind a null flag
//! ([`GroupTable::intern_strings`]), which spares encoding every row: only each group's key is
//! encoded, once per mini-batch.

use std::hash::{BuildHasher, Hasher};

use arrow::row::Rows;
use arrow_array::builder::StringBuilder;
use arrow_array::{Array, StringArray};
use hashbrown::HashTable;
use strom_operators::OperatorError;

use crate::connectors::failure;

/// Distinct keys and their ids.
#[derive(Default)]
pub(crate) struct GroupTable {
    /// Group ids, found by the hash of their key.
    table: HashTable<u32>,
    /// The hash of each group's key: the table rehashes from these when it grows.
    hashes: Vec<u64>,
    /// The key bytes of every group, one after the other.
    bytes: Vec<u8>,
    /// Where each group's key starts in `bytes`, plus the end.
    offsets: Vec<usize>,
    state: foldhash::fast::RandomState,
}

impl GroupTable {
    /// Number of groups.
    pub(crate) fn len(&self) -> usize {
        self.hashes.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// The key bytes of group `group`.
    pub(crate) fn key(&self, group: usize) -> &[u8] {
        key_of(&self.bytes, &self.offsets, group)
    }

    /// Appends the group id of every row of `rows` to `ids`, creating groups for new keys.
    pub(crate) fn intern(&mut self, rows: &Rows, ids: &mut Vec<u32>) {
        ids.reserve(rows.num_rows());
        for row in rows.iter() {
            ids.push(self.intern_key(row.data()).0);
        }
    }

    /// The id of `key`'s group, and whether it was created by this call.
    pub(crate) fn intern_key(&mut self, key: &[u8]) -> (u32, bool) {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        let hash = self.state.hash_one(key);
        let Self {
            table,
            hashes,
            bytes,
            offsets,
            ..
        } = self;
        let entry = table.entry(
            hash,
            |&g| key_of(bytes, offsets, g as usize) == key,
            |&g| hashes[g as usize],
        );
        match entry {
            hashbrown::hash_table::Entry::Occupied(e) => (*e.get(), false),
            hashbrown::hash_table::Entry::Vacant(e) => {
                // Group ids fit in u32: a mini-batch holds far fewer keys than rows allowed.
                let id = hashes.len() as u32;
                e.insert(id);
                hashes.push(hash);
                bytes.extend_from_slice(key);
                offsets.push(bytes.len());
                (id, true)
            }
        }
    }

    /// Appends the group id of every string of `strings` (a single `STRING` key) to `ids`.
    pub(crate) fn intern_strings(&mut self, strings: &StringArray, ids: &mut Vec<u32>) {
        ids.reserve(strings.len());
        if strings.null_count() == 0 {
            for i in 0..strings.len() {
                ids.push(self.intern_string(Some(strings.value(i).as_bytes())));
            }
        } else {
            for value in strings {
                ids.push(self.intern_string(value.map(str::as_bytes)));
            }
        }
    }

    /// The id of the group of `value` (`None`: the null key), stored as a flag byte (0 for
    /// null, 1 otherwise) and the string's bytes.
    pub(crate) fn intern_string(&mut self, value: Option<&[u8]>) -> u32 {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        let mut hasher = self.state.build_hasher();
        match value {
            None => hasher.write_u8(0),
            Some(bytes) => {
                hasher.write_u8(1);
                hasher.write(bytes);
            }
        }
        let hash = hasher.finish();
        let Self {
            table,
            hashes,
            bytes,
            offsets,
            ..
        } = self;
        let same = |g: &u32| {
            let key = key_of(bytes, offsets, *g as usize);
            match value {
                None => key == [0],
                Some(value) => key.first() == Some(&1) && &key[1..] == value,
            }
        };
        match table.entry(hash, same, |&g| hashes[g as usize]) {
            hashbrown::hash_table::Entry::Occupied(e) => *e.get(),
            hashbrown::hash_table::Entry::Vacant(e) => {
                let id = hashes.len() as u32;
                e.insert(id);
                hashes.push(hash);
                match value {
                    None => bytes.push(0),
                    Some(value) => {
                        bytes.push(1);
                        bytes.extend_from_slice(value);
                    }
                }
                offsets.push(bytes.len());
                id
            }
        }
    }

    /// The keys of all groups made by [`GroupTable::intern_strings`], in group order.
    pub(crate) fn strings(&self) -> Result<StringArray, OperatorError> {
        let mut builder = StringBuilder::with_capacity(self.len(), self.bytes.len());
        for g in 0..self.len() {
            match self.key(g).split_first() {
                Some((&1, value)) => builder.append_value(
                    std::str::from_utf8(value)
                        .map_err(|_| failure("a group key that is not UTF-8"))?,
                ),
                _ => builder.append_null(),
            }
        }
        Ok(builder.finish())
    }

    /// Forgets every group, keeping the allocations.
    pub(crate) fn clear(&mut self) {
        self.table.clear();
        self.hashes.clear();
        self.bytes.clear();
        self.offsets.clear();
    }
}

fn key_of<'a>(bytes: &'a [u8], offsets: &[usize], group: usize) -> &'a [u8] {
    &bytes[offsets[group]..offsets[group + 1]]
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::row::{RowConverter, SortField};
    use arrow_array::{ArrayRef, StringArray};
    use arrow_schema::DataType;
    use std::sync::Arc;

    #[test]
    fn equal_keys_share_an_id_in_order_of_first_appearance() {
        let converter = RowConverter::new(vec![SortField::new(DataType::Utf8)]).unwrap();
        let words: ArrayRef = Arc::new(StringArray::from(vec!["b", "a", "b", "c", "a"]));
        let rows = converter.convert_columns(&[words]).unwrap();
        let mut table = GroupTable::default();
        let mut ids = Vec::new();
        table.intern(&rows, &mut ids);
        assert_eq!(ids, [0, 1, 0, 2, 1]);
        assert_eq!(table.len(), 3);
        assert_eq!(table.key(1), rows.row(1).data());
        // Many more keys than the first allocation: ids survive the table growing.
        for i in 0..10_000u32 {
            assert_eq!(table.intern_key(&i.to_le_bytes()), (i + 3, true));
        }
        assert_eq!(table.intern_key(&7u32.to_le_bytes()), (10, false));
        assert_eq!(table.intern_key(rows.row(3).data()), (2, false));
        table.clear();
        assert!(table.is_empty());
        assert_eq!(table.intern_key(rows.row(3).data()), (0, true));
    }

    #[test]
    fn strings_and_the_null_key_get_their_own_groups() {
        let words = StringArray::from(vec![Some("b"), None, Some(""), Some("b"), None]);
        let mut table = GroupTable::default();
        let mut ids = Vec::new();
        table.intern_strings(&words, &mut ids);
        table.intern_strings(&StringArray::from(vec!["", "c"]), &mut ids);
        assert_eq!(ids, [0, 1, 2, 0, 1, 2, 3]);
        let keys = table.strings().unwrap();
        assert_eq!(
            keys.iter().collect::<Vec<_>>(),
            [Some("b"), None, Some(""), Some("c")]
        );
    }
}
