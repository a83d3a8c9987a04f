//! Two-phase commit of a sink's part files, shared by the job-graph `file-sink` and the SQL
//! `filesystem` sink.
//!
//! A sink writes into a hidden in-progress file `.<name>.inprogress`, where `<name>` is the final
//! `part-a<attempt>-<token>-<subtask>-<n>.<ext>`. At a checkpoint the sink closes it and hands it
//! to [`PendingFiles::add`]. The snapshot lists every pending file as an item (`name: str`,
//! `checkpoint: u64` in [`crate::codec`]). When the checkpoint completes, [`PendingFiles::commit_up_to`]
//! renames its files to their final names.
//!
//! On restore, [`PendingFiles::restore`] has each subtask commit its round-robin share of the
//! listed files, in case the crash came between completion and rename. Subtask 0 then deletes
//! the in-progress files of earlier attempts that no item lists: their records came after the
//! checkpoint and will be written again. Readers skip hidden files.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};

use crate::codec::{Decoder, Encoder, malformed};
use crate::{OperatorError, RestoredState, StateItem};

const IN_PROGRESS: &str = ".inprogress";

/// The hidden name a file is written under until it is committed.
pub fn in_progress_name(name: &str) -> String {
    format!(".{name}{IN_PROGRESS}")
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
}

impl PendingFile {
    fn item(&self) -> StateItem {
        StateItem {
            namespace: 0,
            bytes: Encoder::new().str(&self.name).u64(self.checkpoint).finish(),
        }
    }

    fn decode(bytes: &[u8]) -> Result<Self, OperatorError> {
        let mut decoder = Decoder::new(bytes);
        let name = decoder.str()?.to_owned();
        let checkpoint = decoder.u64()?;
        decoder.end()?;
        if !name.starts_with("part-") || name.contains(['/', '\\']) {
            return Err(malformed(format!("pending file name `{name}`")));
        }
        Ok(Self { name, checkpoint })
    }
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> OperatorError {
    OperatorError::Failed(format!("{what} `{}`: {e}", path.display()))
}

/// Makes renames and deletions in `folder` durable.
pub fn sync_folder(folder: &Path) -> Result<(), OperatorError> {
    File::open(folder)
        .and_then(|f| f.sync_all())
        .map_err(|e| io_error("cannot sync folder", folder, e))
}

/// The pending files of one sink subtask and their commit.
#[derive(Debug)]
pub struct PendingFiles {
    folder: PathBuf,
    subtask: u32,
    attempt: u32,
    pending: Vec<PendingFile>,
}

impl PendingFiles {
    /// The pending files of subtask `subtask` of attempt `attempt`, writing into `folder`.
    pub fn new(folder: PathBuf, subtask: u32, attempt: u32) -> Self {
        Self {
            folder,
            subtask,
            attempt,
            pending: Vec::new(),
        }
    }

    /// The in-progress path of the file to be named `name`.
    pub fn in_progress_path(&self, name: &str) -> PathBuf {
        self.folder.join(in_progress_name(name))
    }

    /// A closed (flushed and synced) file that checkpoint `checkpoint` commits.
    pub fn add(&mut self, name: String, checkpoint: u64) {
        self.pending.push(PendingFile { name, checkpoint });
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
        if done.is_empty() {
            return Ok(());
        }
        for file in &done {
            self.commit(file)?;
        }
        sync_folder(&self.folder)
    }

    /// Commits this subtask's share of the restored pending files; subtask 0 also deletes the
    /// uncommitted files of earlier attempts that no item lists.
    pub fn restore(&mut self, state: &RestoredState) -> Result<(), OperatorError> {
        let mut committed = false;
        for item in state.share() {
            committed |= self.commit(&PendingFile::decode(&item.bytes)?)?;
        }
        if committed {
            sync_folder(&self.folder)?;
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

    /// Renames a pending file to its final name; false when it was committed already.
    fn commit(&self, file: &PendingFile) -> Result<bool, OperatorError> {
        let from = self.folder.join(in_progress_name(&file.name));
        let to = self.folder.join(&file.name);
        match std::fs::rename(&from, &to) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if to.exists() {
                    Ok(false)
                } else {
                    Err(OperatorError::Failed(format!(
                        "cannot commit `{}` of checkpoint {}: neither it nor `{}` exists; its \
                         records would be lost",
                        to.display(),
                        file.checkpoint,
                        from.display()
                    )))
                }
            }
            Err(e) => Err(io_error("cannot commit (rename) output file", &from, e)),
        }
    }

    /// Deletes the in-progress files of earlier attempts that `listed` does not hold.
    fn clean_up(&self, listed: &BTreeSet<String>) -> Result<(), OperatorError> {
        let entries = std::fs::read_dir(&self.folder)
            .map_err(|e| io_error("cannot list output folder", &self.folder, e))?;
        for entry in entries {
            let entry =
                entry.map_err(|e| io_error("cannot list output folder", &self.folder, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(attempt) = attempt_of(&name) else {
                continue;
            };
            if attempt < self.attempt && !listed.contains(&name) {
                tracing::debug!(file = %name, "deleting an uncommitted file of an earlier attempt");
                std::fs::remove_file(entry.path())
                    .map_err(|e| io_error("cannot delete uncommitted file", &entry.path(), e))?;
            }
        }
        Ok(())
    }
}
