//! The `filesystem` sink: part files per subtask (and per partition), their rolling policy and
//! their exactly-once commit.
//!
//! Files: `part-<subtask>-<n>.<ext>` without checkpointing, complete when they roll or the input
//! ends. With checkpointing, records go to hidden in-progress files
//! `.part-<token>-<subtask>-<n>.<ext>.inprogress`, where the token `a<attempt>-<hex>` never
//! repeats across attempts and subtasks. A checkpoint closes every open file (footer, flush,
//! fsync) and lists it as pending with the checkpoint's id; the snapshot holds every pending
//! file. When a checkpoint completes, its pending files are published under their final names
//! ([`PendingFiles`], one per partition folder). Under an `s3://` path each file is a multipart
//! upload of its final key instead ([`strom_storage::StagedWriter`]): parts go out while the file
//! is written, the checkpoint records the upload, and its completion completes the upload;
//! without checkpointing a file is published when it is closed. On restore each subtask commits its share of
//! the restored pending files (the checkpoint completed), and subtask 0 deletes the in-progress
//! files of earlier attempts that the checkpoint does not list, in every partition folder:
//! their records came after it and are replayed. Readers skip hidden files.
//!
//! Rolling: a file also rolls (closes, and with checkpointing waits for the next checkpoint to be
//! committed) once it reaches `sink.rolling-policy.file-size`, has been open for
//! `sink.rolling-policy.rollover-interval`, or was not written for
//! `sink.rolling-policy.inactivity-interval`. strom has no timers: the time-based conditions are
//! checked when records, watermarks or checkpoints arrive, at most once per
//! `sink.rolling-policy.check-interval`. With checkpointing every checkpoint rolls every file, as
//! Flink does for bulk formats: a file is committed only whole.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use arrow_schema::{Schema, SchemaRef};
use strom_operators::part_files::{PendingFiles, in_progress_name};
use strom_operators::{OperatorContext, OperatorError, OperatorSnapshot, RestoredState, StateItem};
use strom_storage::{Location, Upload, wait};

use super::partitions::{self, CommitOptions, Committer, Partitioner};
use super::writer::{Output, Writer};
use super::{Format, failure, option_error};
use crate::connectors::{SinkWriter, duration};
use crate::state::{Decoder, Encoder};

/// When an open file is closed and a new one started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RollingPolicy {
    file_size: u64,
    rollover: Duration,
    inactivity: Duration,
    check_interval: Duration,
}

impl RollingPolicy {
    pub(super) fn from_options(
        options: &BTreeMap<String, String>,
    ) -> Result<Self, (String, String)> {
        let key = "sink.rolling-policy.file-size";
        let file_size = match options.get(key) {
            None => 128 << 20,
            Some(v) => strom_config::MemorySize::parse(v.trim())
                .map_err(|e| (key.to_owned(), e.to_string()))?
                .bytes(),
        };
        if file_size == 0 {
            return Err((key.to_owned(), "expected a size above 0".to_owned()));
        }
        let minutes = |n: u64| Duration::from_secs(60 * n);
        Ok(Self {
            file_size,
            rollover: duration(options, "sink.rolling-policy.rollover-interval")?
                .unwrap_or(minutes(30)),
            inactivity: duration(options, "sink.rolling-policy.inactivity-interval")?
                .unwrap_or(minutes(30)),
            check_interval: duration(options, "sink.rolling-policy.check-interval")?
                .unwrap_or(minutes(1)),
        })
    }
}

/// An open part file.
struct OpenFile {
    /// The final name (in the partition's folder).
    name: String,
    writer: Writer,
    rows: u64,
    opened: Instant,
    written: Instant,
}

/// Writes this subtask's part files (see the module documentation).
pub(crate) struct FileSink {
    root: Location,
    format: Format,
    /// The columns written into the files: the table's without the partition columns.
    file_schema: SchemaRef,
    /// Their indices in the input batches.
    file_columns: Vec<usize>,
    /// `None` when the table is not partitioned.
    partitioner: Option<Partitioner>,
    depth: usize,
    rolling: RollingPolicy,
    subtask: u32,
    attempt: u32,
    /// Two-phase commit: with checkpointing.
    exactly_once: bool,
    /// Names this attempt's files with checkpointing.
    token: String,
    next_file: u64,
    /// The open file of each partition folder (`""` without partitions).
    open: BTreeMap<String, OpenFile>,
    /// Files rolled since the last checkpoint, waiting for its id: (partition, name, upload).
    rolled: Vec<(String, String, Option<Upload>)>,
    pending: BTreeMap<String, PendingFiles>,
    committer: Option<Committer>,
    /// Partitions written since the last checkpoint, and per checkpoint not yet complete with
    /// the watermark at its barrier: the commit trigger sees only committed files.
    touched: BTreeSet<String>,
    checkpoints: BTreeMap<u64, (i64, BTreeSet<String>)>,
    watermark: i64,
    last_check: Instant,
    finished: bool,
}

impl FileSink {
    /// The sink of a table whose columns are `schema`, partitioned by `partition_by`.
    pub(crate) fn create(
        options: &BTreeMap<String, String>,
        schema: SchemaRef,
        partition_by: &[String],
        ctx: &OperatorContext,
    ) -> Result<Self, OperatorError> {
        let format = Format::from_options(options).map_err(option_error)?;
        let rolling = RollingPolicy::from_options(options).map_err(option_error)?;
        let commit = CommitOptions::from_options(options, partition_by).map_err(option_error)?;
        let path = options.get("path").cloned().unwrap_or_default();
        let root = ctx
            .storage
            .resolve(&path)
            .map_err(|e| option_error(("path".to_owned(), e.to_string())))?;
        create_folder(&root)?;
        let mut partition_columns = Vec::new();
        for name in partition_by {
            let index = schema.index_of(name).map_err(|_| {
                failure(format!(
                    "PARTITIONED BY `{name}`: the table has no such column"
                ))
            })?;
            partition_columns.push((index, name.clone()));
        }
        let file_columns: Vec<usize> = (0..schema.fields().len())
            .filter(|i| !partition_columns.iter().any(|(p, _)| p == i))
            .collect();
        let file_schema = Arc::new(Schema::new(
            file_columns
                .iter()
                .map(|&i| schema.field(i).clone())
                .collect::<Vec<_>>(),
        ));
        let committer = Committer::new(
            root.clone(),
            commit.clone(),
            partition_by.len(),
            ctx.subtask,
            ctx.parallelism,
        );
        let mut sink = Self {
            root,
            format,
            file_schema,
            file_columns,
            partitioner: (!partition_columns.is_empty())
                .then(|| Partitioner::new(partition_columns, commit.default_name.clone())),
            depth: partition_by.len(),
            rolling,
            subtask: ctx.subtask,
            attempt: ctx.attempt,
            exactly_once: ctx.checkpointing,
            token: format!("a{}-{:08x}", ctx.attempt, rand::random::<u32>()),
            next_file: 0,
            open: BTreeMap::new(),
            rolled: Vec::new(),
            pending: BTreeMap::new(),
            committer,
            touched: BTreeSet::new(),
            checkpoints: BTreeMap::new(),
            watermark: i64::MIN,
            last_check: Instant::now(),
            finished: false,
        };
        if !sink.exactly_once && sink.partitioner.is_none() {
            // Without partitions the file exists from the start, as it always has: a job that
            // writes nothing leaves an empty `part-<subtask>-0`.
            sink.open_file("", Instant::now())?;
        }
        Ok(sink)
    }

    fn folder(&self, partition: &str) -> Location {
        if partition.is_empty() {
            self.root.clone()
        } else {
            self.root.child(partition)
        }
    }

    fn open_file(&mut self, partition: &str, now: Instant) -> Result<(), OperatorError> {
        let folder = self.folder(partition);
        create_folder(&folder)?;
        let ext = self.format.extension();
        let n = self.next_file;
        self.next_file += 1;
        let name = if self.exactly_once {
            format!("part-{}-{}-{n}.{ext}", self.token, self.subtask)
        } else {
            format!("part-{}-{n}.{ext}", self.subtask)
        };
        let target = folder.child(&name);
        let output = match target.local_path() {
            // Without checkpointing a local file is written in place, as it always was.
            Some(path) if !self.exactly_once => Output::File(
                std::fs::File::create(path)
                    .map_err(|e| failure(format!("cannot create `{}`: {e}", target.url())))?,
            ),
            _ => Output::Staged(
                target
                    .create_staged(&folder.child(&in_progress_name(&name)))
                    .map_err(|e| failure(format!("cannot create `{}`: {e}", target.url())))?,
            ),
        };
        let writer = Writer::create(output, target.url(), self.format, &self.file_schema)?;
        self.open.insert(
            partition.to_owned(),
            OpenFile {
                name,
                writer,
                rows: 0,
                opened: now,
                written: now,
            },
        );
        Ok(())
    }

    /// Closes the open file of `partition`: complete without checkpointing, else rolled (to be
    /// committed by the next checkpoint), or deleted when it holds no row.
    fn roll(&mut self, partition: &str) -> Result<(), OperatorError> {
        let Some(file) = self.open.remove(partition) else {
            return Ok(());
        };
        let folder = self.folder(partition);
        let target = folder.child(&file.name);
        let fail =
            |e: strom_storage::StorageError| failure(format!("cannot write `{target}`: {e}"));
        let output = file.writer.finish()?;
        if !self.exactly_once {
            return match output {
                Output::File(_) => Ok(()),
                staged => {
                    let upload = staged.close().map_err(fail)?;
                    let staging = folder.child(&in_progress_name(&file.name));
                    wait(target.publish(&staging, upload.as_ref())).map_err(fail)?;
                    Ok(())
                }
            };
        }
        if file.rows == 0 {
            return output.discard().map_err(fail);
        }
        let upload = output.close().map_err(fail)?;
        self.rolled.push((partition.to_owned(), file.name, upload));
        Ok(())
    }

    /// The time-based rolling policy and, without checkpointing, the process-time commit
    /// trigger: at most once per check interval.
    fn check_timers(&mut self, now: Instant) -> Result<(), OperatorError> {
        if now.saturating_duration_since(self.last_check) < self.rolling.check_interval {
            return Ok(());
        }
        self.last_check = now;
        let expired: Vec<String> = self
            .open
            .iter()
            .filter(|(_, f)| {
                f.rows > 0
                    && (now.saturating_duration_since(f.opened) >= self.rolling.rollover
                        || now.saturating_duration_since(f.written) >= self.rolling.inactivity)
            })
            .map(|(p, _)| p.clone())
            .collect();
        for partition in expired {
            self.roll(&partition)?;
        }
        if !self.exactly_once && self.committer.is_some() {
            self.commit_partitions(self.watermark, now, false)?;
        }
        Ok(())
    }

    /// Runs the partition commit; without checkpointing, a partition's open file is closed
    /// before the partition is marked.
    fn commit_partitions(
        &mut self,
        watermark: i64,
        now: Instant,
        finished: bool,
    ) -> Result<(), OperatorError> {
        let Some(mut committer) = self.committer.take() else {
            return Ok(());
        };
        let result = if self.exactly_once {
            committer.commit(watermark, now, finished, &mut |_| Ok(()))
        } else {
            committer.commit(watermark, now, finished, &mut |p| self.roll(p))
        };
        self.committer = Some(committer);
        result
    }

    fn write_partition(
        &mut self,
        partition: &str,
        batch: &RecordBatch,
        now: Instant,
    ) -> Result<(), OperatorError> {
        if !self.open.contains_key(partition) {
            self.open_file(partition, now)?;
        }
        let Some(file) = self.open.get_mut(partition) else {
            return Err(failure("no open file"));
        };
        file.writer.write(batch)?;
        file.rows += batch.num_rows() as u64;
        file.written = now;
        let full = file.writer.size() >= self.rolling.file_size;
        if full {
            self.roll(partition)?;
        }
        if self.committer.is_some() {
            if self.exactly_once {
                if !self.touched.contains(partition) {
                    self.touched.insert(partition.to_owned());
                }
            } else if let Some(committer) = &mut self.committer {
                committer.touch(partition, now)?;
            }
        }
        Ok(())
    }

    /// Restores one partition folder's pending files (`items` in [`PendingFiles`]' encoding).
    fn restore_folder(
        &mut self,
        partition: &str,
        items: Vec<StateItem>,
        state: &RestoredState,
    ) -> Result<(), OperatorError> {
        let mut pending = PendingFiles::new(self.folder(partition), self.subtask, self.attempt);
        pending.restore(&RestoredState {
            checkpoint_id: state.checkpoint_id,
            keyed: Vec::new(),
            items,
            subtask: state.subtask,
            parallelism: state.parallelism,
        })
    }
}

/// Creates a local folder; an object store has no folders to create.
fn create_folder(folder: &Location) -> Result<(), OperatorError> {
    match folder.local_path() {
        Some(path) => std::fs::create_dir_all(path)
            .map_err(|e| failure(format!("cannot create folder `{}`: {e}", path.display()))),
        None => Ok(()),
    }
}

/// A pending file's item: [`PendingFiles`]' own for the folder `path`, so that the state of an
/// unpartitioned sink is as it was; else `/<partition>` then that item. A file name never holds
/// a `/`, so the first string tells them apart.
fn encode_item(partition: &str, item: StateItem) -> StateItem {
    if partition.is_empty() {
        return item;
    }
    StateItem {
        namespace: item.namespace,
        bytes: Encoder::new()
            .str(&format!("/{partition}"))
            .bytes(&item.bytes)
            .finish(),
    }
}

fn decode_item(item: &StateItem) -> Result<(String, StateItem), OperatorError> {
    let mut decoder = Decoder::new(&item.bytes);
    let first = decoder.str()?;
    let Some(partition) = first.strip_prefix('/') else {
        return Ok((String::new(), item.clone()));
    };
    if partition
        .split('/')
        .any(|level| level == ".." || !level.contains('='))
    {
        return Err(failure(format!(
            "malformed partition `{partition}` in sink state"
        )));
    }
    let partition = partition.to_owned();
    let inner = decoder.bytes()?.to_vec();
    decoder.end()?;
    Ok((
        partition,
        StateItem {
            namespace: item.namespace,
            bytes: inner,
        },
    ))
}

impl SinkWriter for FileSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), OperatorError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let now = Instant::now();
        match &self.partitioner {
            None => {
                let batch = if self.file_columns.len() == batch.num_columns() {
                    batch.clone()
                } else {
                    batch.project(&self.file_columns)?
                };
                self.write_partition("", &batch, now)?;
            }
            Some(partitioner) => {
                for (partition, rows) in partitioner.split(batch, &self.file_columns)? {
                    self.write_partition(&partition, &rows, now)?;
                }
            }
        }
        self.check_timers(now)
    }

    /// Without checkpointing: closes the files and commits every partition. With
    /// checkpointing the final checkpoint does both.
    fn finish(&mut self) -> Result<(), OperatorError> {
        self.finished = true;
        if self.exactly_once {
            return Ok(());
        }
        let open: Vec<String> = self.open.keys().cloned().collect();
        for partition in open {
            self.roll(&partition)?;
        }
        self.commit_partitions(self.watermark, Instant::now(), true)
    }

    fn on_watermark(&mut self, watermark: i64) -> Result<(), OperatorError> {
        self.watermark = self.watermark.max(watermark);
        let now = Instant::now();
        self.check_timers(now)?;
        // Without checkpointing a partition is committed as soon as the watermark passes it.
        let due = !self.exactly_once
            && self
                .committer
                .as_ref()
                .is_some_and(|c| c.on_partition_time() && c.any_due(self.watermark, now));
        if due {
            self.commit_partitions(self.watermark, now, false)?;
        }
        Ok(())
    }

    fn snapshot(&mut self, checkpoint_id: u64) -> Result<OperatorSnapshot, OperatorError> {
        if !self.exactly_once {
            self.check_timers(Instant::now())?;
            return Ok(OperatorSnapshot::default());
        }
        let open: Vec<String> = self.open.keys().cloned().collect();
        for partition in open {
            self.roll(&partition)?;
        }
        for (partition, name, upload) in std::mem::take(&mut self.rolled) {
            let folder = self.folder(&partition);
            self.pending
                .entry(partition)
                .or_insert_with(|| PendingFiles::new(folder, self.subtask, self.attempt))
                .add(name, checkpoint_id, upload);
        }
        self.checkpoints.insert(
            checkpoint_id,
            (self.watermark, std::mem::take(&mut self.touched)),
        );
        let items = self
            .pending
            .iter()
            .flat_map(|(p, files)| files.items().into_iter().map(|i| encode_item(p, i)))
            .collect();
        Ok(OperatorSnapshot {
            keyed: Vec::new(),
            items,
        })
    }

    fn checkpoint_complete(&mut self, checkpoint_id: u64) -> Result<(), OperatorError> {
        if !self.exactly_once {
            return Ok(());
        }
        for files in self.pending.values_mut() {
            files.commit_up_to(checkpoint_id)?;
        }
        self.pending.retain(|_, files| !files.items().is_empty());
        // The watermark at the latest barrier completed decides, as in Flink's committer.
        let mut watermark = None;
        let mut touched = BTreeSet::new();
        while let Some(entry) = self.checkpoints.first_entry() {
            if *entry.key() > checkpoint_id {
                break;
            }
            let (w, t) = entry.remove();
            watermark = Some(w);
            touched.extend(t);
        }
        let now = Instant::now();
        if let Some(committer) = &mut self.committer {
            for partition in &touched {
                committer.touch(partition, now)?;
            }
        }
        let Some(watermark) = watermark else {
            return Ok(());
        };
        // After the input ended, the last checkpoint has committed every file.
        let finished = self.finished && self.open.is_empty() && self.pending.is_empty();
        self.commit_partitions(watermark, now, finished)
    }

    fn restore(&mut self, state: &RestoredState) -> Result<(), OperatorError> {
        if !self.exactly_once {
            return Ok(());
        }
        let mut folders: BTreeMap<String, Vec<StateItem>> = BTreeMap::new();
        for item in &state.items {
            let (partition, item) = decode_item(item)?;
            folders.entry(partition).or_default().push(item);
        }
        if self.subtask == 0 {
            // Every folder's uncommitted files of earlier attempts are deleted, listed or not.
            for partition in partitions::partition_folders(&self.root, self.depth)? {
                folders.entry(partition).or_default();
            }
        }
        for (partition, items) in folders {
            self.restore_folder(&partition, items, state)?;
        }
        Ok(())
    }
}
