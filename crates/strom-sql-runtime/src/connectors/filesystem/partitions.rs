//! Partitions of the `filesystem` sink, as Flink lays them out and commits them.
//!
//! Layout: a row goes into the folder `<col1>=<v1>/<col2>=<v2>/...` under `path`, one level per
//! `PARTITIONED BY` column, the values escaped as Flink's `PartitionPathUtils` does (`:` is
//! `%3A`); a null or empty value is `partition.default-name`. The partition columns are not
//! written into the files, as in Flink: the folder names hold them.
//!
//! Commit: with `sink.partition-commit.policy.kind` = 'success-file', a partition is committed
//! by writing an empty `_SUCCESS` (`sink.partition-commit.success-file.name`) into its folder
//! once its trigger fires: 'process-time' when `sink.partition-commit.delay` has passed since the
//! partition was created (first seen by the subtask), 'partition-time' when the watermark passes
//! the time extracted from the partition's values (`partition.time-extractor.timestamp-pattern`)
//! plus the delay. At the end of a bounded input every partition is committed.
//!
//! Flink commits in one committer task that hears from every writer subtask. strom's subtasks
//! do not talk to each other, so they agree through the folders: a subtask whose trigger fired
//! for a partition (with its own files for it committed) leaves a hidden marker
//! `.strom-commit-<subtask>-of-<parallelism>` there, and a subtask that has committed its last
//! files leaves `.strom-finished-<subtask>-of-<parallelism>` under `path`. Whichever subtask
//! sees every subtask marked (or finished) writes the success file; the last one to finish
//! removes the markers. Each subtask lists the partition folders when it checks, so it also
//! marks partitions it never wrote into.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use arrow_array::{RecordBatch, UInt32Array};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use strom_operators::OperatorError;
use strom_storage::{Location, StorageError, wait};

use super::time::TimeExtractor;
use super::{TIMESTAMP_FORMAT, failure};
use crate::connectors::duration;

const DEFAULT_PARTITION: &str = "__DEFAULT_PARTITION__";
const COMMIT_MARKER: &str = ".strom-commit-";
const FINISHED_MARKER: &str = ".strom-finished-";

/// When a partition is committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Trigger {
    /// When the delay has passed since the partition was created.
    ProcessTime,
    /// When the watermark passes the partition's time plus the delay.
    PartitionTime,
}

/// The partition options of a sink table, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CommitOptions {
    pub(super) default_name: String,
    pub(super) trigger: Trigger,
    pub(super) delay: Duration,
    /// The success file's name when the policy is 'success-file'; no commit at all without a
    /// policy (as in Flink, where the committer then has nothing to do).
    pub(super) success_file: Option<String>,
    pub(super) extractor: TimeExtractor,
}

impl CommitOptions {
    /// Parses the options; `partition_columns` are the names a `$column` of the timestamp
    /// pattern may use.
    pub(super) fn from_options(
        options: &BTreeMap<String, String>,
        partition_columns: &[String],
    ) -> Result<Self, (String, String)> {
        let get = |key: &str| options.get(key).map(|v| v.trim());
        let bad = |key: &str, problem: &str| Err((key.to_owned(), problem.to_owned()));
        let trigger = match get("sink.partition-commit.trigger") {
            None | Some("process-time") => Trigger::ProcessTime,
            Some("partition-time") => Trigger::PartitionTime,
            Some(_) => {
                return bad(
                    "sink.partition-commit.trigger",
                    "expected 'process-time' or 'partition-time'",
                );
            }
        };
        let delay = duration(options, "sink.partition-commit.delay")?.unwrap_or_default();
        let mut success_file = None;
        if let Some(kinds) = get("sink.partition-commit.policy.kind") {
            for kind in kinds.split(',').map(str::trim) {
                match kind {
                    "success-file" => {
                        let name =
                            get("sink.partition-commit.success-file.name").unwrap_or("_SUCCESS");
                        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
                            return bad(
                                "sink.partition-commit.success-file.name",
                                "expected a file name",
                            );
                        }
                        success_file = Some(name.to_owned());
                    }
                    "metastore" | "custom" => {
                        return bad(
                            "sink.partition-commit.policy.kind",
                            "only 'success-file' is supported (a filesystem table has no \
                             metastore, and custom policies are Java classes)",
                        );
                    }
                    _ => {
                        return bad(
                            "sink.partition-commit.policy.kind",
                            "expected 'success-file' (a comma-separated list of policies)",
                        );
                    }
                }
            }
        }
        match get("sink.partition-commit.watermark-time-zone") {
            None | Some("UTC") => {}
            Some(_) => {
                return bad(
                    "sink.partition-commit.watermark-time-zone",
                    "only 'UTC' is supported: watermarks are compared with partition times \
                     as they are",
                );
            }
        }
        match get("sink.shuffle-by-partition.enable") {
            None | Some("false") => {}
            Some(_) => {
                return bad(
                    "sink.shuffle-by-partition.enable",
                    "only 'false' is supported: each subtask writes the partitions of its rows",
                );
            }
        }
        match get("partition.time-extractor.kind") {
            None | Some("default") => {}
            Some(_) => {
                return bad(
                    "partition.time-extractor.kind",
                    "only 'default' is supported (custom extractors are Java classes)",
                );
            }
        }
        let extractor = TimeExtractor::new(
            get("partition.time-extractor.timestamp-pattern"),
            get("partition.time-extractor.timestamp-formatter"),
            partition_columns,
        )?;
        if trigger == Trigger::PartitionTime && partition_columns.is_empty() {
            return bad(
                "sink.partition-commit.trigger",
                "'partition-time' needs a table PARTITIONED BY columns to take times from",
            );
        }
        let default_name = get("partition.default-name")
            .unwrap_or(DEFAULT_PARTITION)
            .to_owned();
        if default_name.is_empty() {
            return bad("partition.default-name", "expected a non-empty name");
        }
        Ok(Self {
            default_name,
            trigger,
            delay,
            success_file,
            extractor,
        })
    }
}

/// Escapes a partition value for a folder name as Flink's `PartitionPathUtils.escapePathName`.
pub(super) fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        let special = (c as u32) < 0x20
            || matches!(
                c,
                '"' | '#'
                    | '%'
                    | '\''
                    | '*'
                    | '/'
                    | ':'
                    | '='
                    | '?'
                    | '\\'
                    | '\u{7f}'
                    | '{'
                    | '['
                    | ']'
                    | '^'
            );
        if special {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// The value [`escape`] escaped.
pub(super) fn unescape(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(code) = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(code);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `(column, value)`s of a partition's relative folder `a=1/b=2`.
pub(super) fn values_of(relative: &str) -> Vec<(String, String)> {
    relative
        .split('/')
        .filter_map(|level| level.split_once('='))
        .map(|(k, v)| (unescape(k), unescape(v)))
        .collect()
}

/// Splits batches by partition: which rows go into which folder, and the file columns.
pub(super) struct Partitioner {
    /// Index and name of each partition column in the input batches.
    columns: Vec<(usize, String)>,
    default_name: String,
}

impl Partitioner {
    pub(super) fn new(columns: Vec<(usize, String)>, default_name: String) -> Self {
        Self {
            columns,
            default_name,
        }
    }

    /// The rows of `batch` per partition folder (relative to `path`), with only the columns
    /// `file_columns`.
    pub(super) fn split(
        &self,
        batch: &RecordBatch,
        file_columns: &[usize],
    ) -> Result<Vec<(String, RecordBatch)>, OperatorError> {
        let options = FormatOptions::default()
            .with_timestamp_format(Some(TIMESTAMP_FORMAT))
            .with_null("");
        let formatters = self
            .columns
            .iter()
            .map(|(i, _)| {
                let column = batch.columns().get(*i).ok_or_else(|| {
                    failure(format!("partition column {i} is missing from the batch"))
                })?;
                ArrayFormatter::try_new(column.as_ref(), &options)
                    .map_err(|e| failure(format!("cannot format a partition value: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut rows: HashMap<String, Vec<u32>> = HashMap::new();
        let mut order = Vec::new();
        let mut key = String::new();
        let mut value = String::new();
        for row in 0..batch.num_rows() {
            key.clear();
            for ((_, name), formatter) in self.columns.iter().zip(&formatters) {
                value.clear();
                use std::fmt::Write;
                write!(value, "{}", formatter.value(row))
                    .map_err(|e| failure(format!("cannot format a partition value: {e}")))?;
                if !key.is_empty() {
                    key.push('/');
                }
                key.push_str(&escape(name));
                key.push('=');
                key.push_str(&escape(if value.is_empty() {
                    &self.default_name
                } else {
                    &value
                }));
            }
            let row = u32::try_from(row).map_err(|_| failure("a batch of 2^32 rows"))?;
            match rows.get_mut(&key) {
                Some(list) => list.push(row),
                None => {
                    order.push(key.clone());
                    rows.insert(key.clone(), vec![row]);
                }
            }
        }
        let projected = batch.project(file_columns)?;
        order
            .into_iter()
            .map(|key| {
                let indices = UInt32Array::from(rows.remove(&key).unwrap_or_default());
                let part = if indices.len() == batch.num_rows() {
                    projected.clone()
                } else {
                    arrow_select::take::take_record_batch(&projected, &indices)?
                };
                Ok((key, part))
            })
            .collect()
    }
}

/// A partition this subtask has still to mark as committed.
struct Waiting {
    /// When the subtask first saw it (the process-time trigger counts from here).
    seen: Instant,
    /// Its time (the partition-time trigger), when that trigger is used.
    time: Option<i64>,
}

/// The partition commit of one sink subtask (see the module documentation).
pub(super) struct Committer {
    root: Location,
    options: CommitOptions,
    success_file: String,
    /// Levels of partition folders.
    depth: usize,
    subtask: u32,
    parallelism: u32,
    waiting: BTreeMap<String, Waiting>,
    /// Partitions this subtask has marked and not written into since.
    marked: BTreeSet<String>,
}

fn io(what: &str, e: StorageError) -> OperatorError {
    failure(format!("{what}: {e}"))
}

fn exists(location: &Location) -> Result<bool, OperatorError> {
    wait(location.exists()).map_err(|e| io("cannot read", e))
}

fn touch_file(location: &Location) -> Result<(), OperatorError> {
    wait(location.put(Vec::new())).map_err(|e| io("cannot write", e))
}

impl Committer {
    /// `None` when no commit policy is set.
    pub(super) fn new(
        root: Location,
        options: CommitOptions,
        depth: usize,
        subtask: u32,
        parallelism: u32,
    ) -> Option<Self> {
        Some(Self {
            root,
            success_file: options.success_file.clone()?,
            options,
            depth,
            subtask,
            parallelism: parallelism.max(1),
            waiting: BTreeMap::new(),
            marked: BTreeSet::new(),
        })
    }

    /// Whether the watermark decides (else the wall clock).
    pub(super) fn on_partition_time(&self) -> bool {
        self.options.trigger == Trigger::PartitionTime
    }

    /// This subtask's rows went into `relative` (and, with checkpointing, are committed).
    pub(super) fn touch(&mut self, relative: &str, now: Instant) -> Result<(), OperatorError> {
        self.marked.remove(relative);
        if !self.waiting.contains_key(relative) {
            let waiting = self.waiting_for(relative, now)?;
            self.waiting.insert(relative.to_owned(), waiting);
        }
        Ok(())
    }

    fn waiting_for(&self, relative: &str, seen: Instant) -> Result<Waiting, OperatorError> {
        let time = match self.options.trigger {
            Trigger::PartitionTime => Some(self.options.extractor.extract(&values_of(relative))?),
            Trigger::ProcessTime => None,
        };
        Ok(Waiting { seen, time })
    }

    fn due(&self, waiting: &Waiting, watermark: i64, now: Instant) -> bool {
        match waiting.time {
            Some(time) => {
                let delay = i64::try_from(self.options.delay.as_millis()).unwrap_or(i64::MAX);
                watermark > time.saturating_add(delay)
            }
            None => now.saturating_duration_since(waiting.seen) >= self.options.delay,
        }
    }

    /// Whether some partition this subtask knows of is due.
    pub(super) fn any_due(&self, watermark: i64, now: Instant) -> bool {
        self.waiting.values().any(|w| self.due(w, watermark, now))
    }

    /// Marks the due partitions (all of them when `finished`: the input has ended and every
    /// file of this subtask is committed), after `close` has closed this subtask's open file of
    /// each; writes the success files of partitions every subtask has marked.
    pub(super) fn commit(
        &mut self,
        watermark: i64,
        now: Instant,
        finished: bool,
        close: &mut dyn FnMut(&str) -> Result<(), OperatorError>,
    ) -> Result<(), OperatorError> {
        for relative in self.list()? {
            if self.waiting.contains_key(&relative)
                || self.marked.contains(&relative)
                || exists(&self.root.child(&relative).child(&self.success_file))?
            {
                continue;
            }
            let waiting = self.waiting_for(&relative, now)?;
            self.waiting.insert(relative, waiting);
        }
        let due: Vec<String> = self
            .waiting
            .iter()
            .filter(|(_, w)| finished || self.due(w, watermark, now))
            .map(|(r, _)| r.clone())
            .collect();
        for relative in due {
            close(&relative)?;
            let folder = self.root.child(&relative);
            touch_file(&folder.child(&self.marker(COMMIT_MARKER, self.subtask)))?;
            self.waiting.remove(&relative);
            self.marked.insert(relative.clone());
            self.success_if_all_marked(&relative)?;
        }
        if finished {
            self.finish()?;
        }
        Ok(())
    }

    fn marker(&self, kind: &str, subtask: u32) -> String {
        format!("{kind}{subtask}-of-{}", self.parallelism)
    }

    fn success_if_all_marked(&self, relative: &str) -> Result<(), OperatorError> {
        let folder = self.root.child(relative);
        for s in 0..self.parallelism {
            if !exists(&folder.child(&self.marker(COMMIT_MARKER, s)))?
                && !exists(&self.root.child(&self.marker(FINISHED_MARKER, s)))?
            {
                return Ok(());
            }
        }
        touch_file(&folder.child(&self.success_file))
    }

    /// This subtask is done: says so under `path`; the subtask that sees every subtask done
    /// writes the success files still missing and removes the markers.
    fn finish(&mut self) -> Result<(), OperatorError> {
        touch_file(&self.root.child(&self.marker(FINISHED_MARKER, self.subtask)))?;
        for s in 0..self.parallelism {
            if !exists(&self.root.child(&self.marker(FINISHED_MARKER, s)))? {
                return Ok(());
            }
        }
        let partitions = self.list()?;
        for relative in &partitions {
            self.success_if_all_marked(relative)?;
        }
        for relative in &partitions {
            remove_markers(&self.root.child(relative), COMMIT_MARKER)?;
        }
        remove_markers(&self.root, FINISHED_MARKER)
    }

    fn list(&self) -> Result<Vec<String>, OperatorError> {
        partition_folders(&self.root, self.depth)
    }
}

/// The partition folders under `root` with `depth` levels, relative to it (`""` at depth 0).
pub(super) fn partition_folders(
    root: &Location,
    depth: usize,
) -> Result<Vec<String>, OperatorError> {
    let mut level = vec![String::new()];
    for _ in 0..depth {
        let mut next = Vec::new();
        for relative in &level {
            let folder = if relative.is_empty() {
                root.clone()
            } else {
                root.child(relative)
            };
            let names = wait(folder.folders()).map_err(|e| io("cannot list", e))?;
            for name in names {
                if name.contains('=') && !name.starts_with(['.', '_']) {
                    next.push(if relative.is_empty() {
                        name
                    } else {
                        format!("{relative}/{name}")
                    });
                }
            }
        }
        level = next;
    }
    Ok(level)
}

fn remove_markers(folder: &Location, prefix: &str) -> Result<(), OperatorError> {
    let files = wait(folder.files()).map_err(|e| io("cannot list", e))?;
    for (name, _) in files {
        if name.starts_with(prefix) {
            // Another subtask finishing at the same time may have removed it: no error.
            wait(folder.child(&name).delete()).map_err(|e| io("cannot delete", e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn escaping_is_flinks_and_round_trips() {
        assert_eq!(escape("10:05"), "10%3A05");
        assert_eq!(escape("a/b=c%"), "a%2Fb%3Dc%25");
        assert_eq!(escape("plain-text 1"), "plain-text 1");
        for text in ["10:05", "a/b=c%", "%zz", "ünï"] {
            assert_eq!(unescape(&escape(text)), text);
        }
        assert_eq!(
            values_of("dt=2015-07-15/hm=10%3A05"),
            [
                ("dt".to_owned(), "2015-07-15".to_owned()),
                ("hm".to_owned(), "10:05".to_owned())
            ]
        );
    }

    #[test]
    fn options_are_checked_and_named() {
        let columns = ["dt".to_owned()];
        for (key, value, needle) in [
            (
                "sink.partition-commit.trigger",
                "event-time",
                "process-time",
            ),
            ("sink.partition-commit.delay", "soon", ""),
            (
                "sink.partition-commit.policy.kind",
                "metastore",
                "success-file",
            ),
            (
                "sink.partition-commit.policy.kind",
                "success-file,custom",
                "success-file",
            ),
            (
                "sink.partition-commit.watermark-time-zone",
                "Asia/Shanghai",
                "UTC",
            ),
            ("partition.time-extractor.kind", "custom", "default"),
            (
                "partition.time-extractor.timestamp-pattern",
                "$day 00:00:00",
                "dt",
            ),
            (
                "partition.time-extractor.timestamp-formatter",
                "yyyy-MM-dd EEE",
                "yyyy",
            ),
            ("sink.shuffle-by-partition.enable", "true", "false"),
        ] {
            let (option, problem) =
                CommitOptions::from_options(&opts(&[(key, value)]), &columns).unwrap_err();
            assert_eq!(option, key, "{value}");
            assert!(problem.contains(needle), "{key}: {problem}");
        }
        let (option, _) = CommitOptions::from_options(
            &opts(&[("sink.partition-commit.trigger", "partition-time")]),
            &[],
        )
        .unwrap_err();
        assert_eq!(option, "sink.partition-commit.trigger");
        let o = CommitOptions::from_options(
            &opts(&[
                ("sink.partition-commit.policy.kind", "success-file"),
                ("sink.partition-commit.success-file.name", "_DONE"),
                ("sink.partition-commit.delay", "1 min"),
            ]),
            &columns,
        )
        .unwrap();
        assert_eq!(o.success_file.as_deref(), Some("_DONE"));
        assert_eq!(o.delay, Duration::from_secs(60));
    }
}
