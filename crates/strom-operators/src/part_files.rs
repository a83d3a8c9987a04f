//! Two-phase commit of a sink's part files, shared by the job-graph `file-sink` and the SQL
//! `filesystem` sink, in a local folder or under an object-store prefix.
//!
//! A sink stages a file under the hidden in-progress name `.<name>.inprogress`, where `<name>` is
//! the final `part-a<attempt>-<token>-<subtask>-<n>.<ext>` ([`strom_storage::StagedWriter`]: a
//! local file, or a multipart upload of the final key whose id the in-progress object holds). At
//! a checkpoint the sink closes it and hands it to [`PendingFiles::add`]. The snapshot lists every
//! pending file as an item (`name: str`, `checkpoint: u64` in [`crate::codec`], then for an
//! upload its id and part tags). When the checkpoint completes, [`PendingFiles::commit_up_to`]
//! publishes its files under their final names (a rename, or the upload completed).
//!
//! On restore, [`PendingFiles::restore`] has each subtask commit its round-robin share of the
//! listed files, in case the crash came between completion and publication. Subtask 0 then
//! discards the in-progress files (and uploads) of earlier attempts that no item lists: their
//! records came after the checkpoint and will be written again. Readers skip hidden files.

use std::collections::BTreeSet;

use strom_storage::{Location, Upload, wait};

use crate::codec::{Decoder, Encoder, malformed};
use crate::{OperatorError, RestoredState, StateItem};

const IN_PROGRESS: &str = ".inprogress";

/// The hidden name a file is written under until it is committed.
pub fn in_progress_name(name: &str) -> String {
    format!(".{name}{IN_PROGRESS}")
}

/// The final name of an in-progress name.
fn final_name(in_progress: &str) -> Option<&str> {
    in_progress.strip_prefix('.')?.strip_suffix(IN_PROGRESS)
}

/// The attempt of an in-progress name `.part-a<attempt>-….inprogress`.
fn attempt_of(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(".part-a")?;
    if !name.ends_with(IN_PROGRESS) {
        return None;
    }
    rest.split('-').next()?.parse().ok()
}

/// A closed file waiting for its checkpoint to complete.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PendingFile {
    /// The final name.
    name: String,
    /// The checkpoint whose completion commits it.
    checkpoint: u64,
    /// On an object store: the upload that holds it.
    upload: Option<Upload>,
}

impl PendingFile {
    fn item(&self) -> StateItem {
        let mut encoder = Encoder::new();
        encoder.str(&self.name).u64(self.checkpoint);
        if let Some(upload) = &self.upload {
            encoder.str(&upload.id).u32(upload.parts.len() as u32);
            for part in &upload.parts {
                encoder.str(part);
            }
        }
        StateItem {
            namespace: 0,
            bytes: encoder.finish(),
        }
    }

    fn decode(bytes: &[u8]) -> Result<Self, OperatorError> {
        let mut decoder = Decoder::new(bytes);
        let name = decoder.str()?.to_owned();
        let checkpoint = decoder.u64()?;
        let upload = if decoder.is_empty() {
            None
        } else {
            let id = decoder.str()?.to_owned();
            let count = decoder.u32()?;
            // Each tag takes at least its length's bytes: a count beyond them is malformed.
            let mut parts = Vec::with_capacity((count as usize).min(bytes.len()));
            for _ in 0..count {
                parts.push(decoder.str()?.to_owned());
            }
            Some(Upload { id, parts })
        };
        decoder.end()?;
        if !name.starts_with("part-") || name.contains(['/', '\\']) {
            return Err(malformed(format!("pending file name `{name}`")));
        }
        Ok(Self {
            name,
            checkpoint,
            upload,
        })
    }
}

/// The pending files of one sink subtask and their commit.
#[derive(Debug)]
pub struct PendingFiles {
    folder: Location,
    subtask: u32,
    attempt: u32,
    pending: Vec<PendingFile>,
}

impl PendingFiles {
    /// The pending files of subtask `subtask` of attempt `attempt`, writing into `folder`.
    pub fn new(folder: Location, subtask: u32, attempt: u32) -> Self {
        Self {
            folder,
            subtask,
            attempt,
            pending: Vec::new(),
        }
    }

    /// A closed (flushed and synced, or uploaded) file that checkpoint `checkpoint` commits.
    pub fn add(&mut self, name: String, checkpoint: u64, upload: Option<Upload>) {
        self.pending.push(PendingFile {
            name,
            checkpoint,
            upload,
        });
    }

    /// The snapshot items: every file not committed yet.
    pub fn items(&self) -> Vec<StateItem> {
        self.pending.iter().map(PendingFile::item).collect()
    }

    /// Commits the files of every checkpoint up to `checkpoint`.
    pub fn commit_up_to(&mut self, checkpoint: u64) -> Result<(), OperatorError> {
        let (done, waiting): (Vec<PendingFile>, Vec<PendingFile>) =
            std::mem::take(&mut self.pending)
                .into_iter()
                .partition(|file| file.checkpoint <= checkpoint);
        self.pending = waiting;
        for file in &done {
            self.commit(file)?;
        }
        Ok(())
    }

    /// Commits this subtask's share of the restored pending files; subtask 0 also deletes the
    /// uncommitted files of earlier attempts that no item lists.
    pub fn restore(&mut self, state: &RestoredState) -> Result<(), OperatorError> {
        for item in state.share() {
            self.commit(&PendingFile::decode(&item.bytes)?)?;
        }
        if self.subtask == 0 {
            let listed = state
                .items
                .iter()
                .map(|item| PendingFile::decode(&item.bytes).map(|f| in_progress_name(&f.name)))
                .collect::<Result<BTreeSet<_>, _>>()?;
            self.clean_up(&listed)?;
        }
        Ok(())
    }

    /// Publishes a pending file under its final name (again, after a restore: no error).
    fn commit(&self, file: &PendingFile) -> Result<(), OperatorError> {
        let target = self.folder.child(&file.name);
        let staging = self.folder.child(&in_progress_name(&file.name));
        wait(target.publish(&staging, file.upload.as_ref())).map_err(|e| {
            if e.is_not_found() {
                OperatorError::Failed(format!(
                    "cannot commit `{}` of checkpoint {}: neither it nor `{}` exists; its \
                     records would be lost",
                    target.url(),
                    file.checkpoint,
                    staging.url()
                ))
            } else {
                OperatorError::Failed(format!(
                    "cannot commit output file `{}` of checkpoint {}: {e}",
                    target.url(),
                    file.checkpoint
                ))
            }
        })
    }

    /// Discards the in-progress files of earlier attempts that `listed` does not hold.
    fn clean_up(&self, listed: &BTreeSet<String>) -> Result<(), OperatorError> {
        let files = wait(self.folder.files()).map_err(|e| {
            OperatorError::Failed(format!("cannot list output folder `{}`: {e}", self.folder))
        })?;
        for (name, _) in files {
            let (Some(attempt), Some(target)) = (attempt_of(&name), final_name(&name)) else {
                continue;
            };
            if attempt < self.attempt && !listed.contains(&name) {
                tracing::debug!(file = %name, "discarding an uncommitted file of an earlier attempt");
                let staging = self.folder.child(&name);
                wait(self.folder.child(target).discard_staged(&staging)).map_err(|e| {
                    OperatorError::Failed(format!("cannot discard uncommitted file: {e}"))
                })?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn items_round_trip_with_and_without_an_upload() {
        let local = PendingFile {
            name: "part-a0-1-0-0.csv".into(),
            checkpoint: 7,
            upload: None,
        };
        let object = PendingFile {
            upload: Some(Upload {
                id: "upload-1".into(),
                parts: vec!["\"etag-1\"".into(), "\"etag-2\"".into()],
            }),
            ..local.clone()
        };
        for file in [local, object] {
            assert_eq!(PendingFile::decode(&file.item().bytes).unwrap(), file);
        }
        assert_eq!(
            final_name(".part-a1-x.csv.inprogress"),
            Some("part-a1-x.csv")
        );
        assert_eq!(attempt_of(".part-a12-x.csv.inprogress"), Some(12));
    }

    #[test]
    fn malformed_items_are_errors() {
        let mut too_many = Encoder::new();
        too_many.str("part-x").u64(1).str("id").u32(u32::MAX);
        let mut escaping = Encoder::new();
        escaping.str("part-../../etc").u64(1);
        for bytes in [too_many.finish(), escaping.finish(), vec![1, 2, 3]] {
            assert!(PendingFile::decode(&bytes).is_err());
        }
    }
}
