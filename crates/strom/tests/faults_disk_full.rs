//! The checkpoint folder runs out of space while a checkpointed job runs (a small tmpfs filled
//! up): checkpoints fail with the file system's error and are counted as failed, the job keeps
//! running (failed checkpoints are tolerated, as in Flink's default), and once space is freed
//! checkpoints complete again and the job finishes with every row committed exactly once.
//!
//! Needs root (to mount the tmpfs); skips with a message otherwise.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use crate::faults;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::{LocalCluster, eventually};

const ROWS: u64 = 400_000;

/// A tmpfs of `size` mounted on a fresh folder, unmounted on drop.
struct Tmpfs {
    mountpoint: PathBuf,
    _folder: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Self> {
        let folder = tempfile::tempdir().unwrap();
        let mountpoint = folder.path().to_owned();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&mountpoint)
            .status()
            .ok()?;
        status.success().then_some(Self {
            mountpoint,
            _folder: folder,
        })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy, so that a file a crashed process still holds open cannot keep the mount.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&self.mountpoint)
            .status();
    }
}

/// Fills the file system holding `path` until a write fails with "no space left".
fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).unwrap();
    let block = vec![0u8; 4096];
    loop {
        match file.write_all(&block).and_then(|()| file.sync_data()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(28) => return,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_checkpoint_disk_fails_checkpoints_and_loses_nothing() {
    if !nix_is_root() {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    }
    let Some(tmpfs) = Tmpfs::mount("2m") else {
        eprintln!("skipped: `mount -t tmpfs` failed");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let checkpoints = tmpfs.mountpoint.join("checkpoints");
    let script = faults::ids_job(dir.path(), &checkpoints, ROWS, 40_000, 2, "200 ms");
    let mut cluster = LocalCluster::start(2, &[]);
    let address = cluster.rest.trim_start_matches("http://").to_owned();
    let id = support::run_detached(&address, script.to_str().unwrap(), &[]);
    let rest = cluster.rest.clone();

    faults::wait_checkpointed(&rest, &id, 0).await;
    fill(&tmpfs.mountpoint.join("ballast"));
    // Two failures in a row, and the message says why.
    let (completed_at_fill, failed_at_fill) = faults::checkpoint_counts(&rest, &id).await;
    let view = eventually(
        Duration::from_secs(60),
        "checkpoints to fail on the full disk",
        || async {
            let view = faults::checkpoints(&rest, &id).await?;
            let failed = view["counts"]["failed"].as_u64()?;
            (failed >= failed_at_fill + 2).then_some(view)
        },
    )
    .await;
    let message = view["latest"]["failed"]["failure_message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        message.contains("No space left on device"),
        "failure message: {view}"
    );
    let state = faults::job_state(&rest, &id).await;
    assert!(
        matches!(state.as_deref(), Some("RUNNING" | "FINISHED")),
        "a failed checkpoint must not fail the job: {state:?}"
    );
    let (completed_while_full, _) = faults::checkpoint_counts(&rest, &id).await;
    // At most the checkpoint in flight when the disk filled can still have completed.
    assert!(completed_while_full <= completed_at_fill + 1, "{view}");

    std::fs::remove_file(tmpfs.mountpoint.join("ballast")).unwrap();
    faults::wait_checkpointed(&rest, &id, completed_while_full).await;
    faults::wait_finished(&rest, &id).await;
    faults::assert_every_id_once(dir.path(), ROWS);
    // Nothing of the failed checkpoints is left behind on the disk.
    let leftovers: Vec<_> = walk(&checkpoints)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    cluster.stop();
}

fn walk(folder: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(folder) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|uid| uid == "0"))
        })
        .unwrap_or(false)
}
