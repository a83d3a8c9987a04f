//! Checkpoint state files (`<vertex>-<subtask>.state`) as a restore reads them: the framing
//! decoder and the restore decoders of the generating sources and the two-phase-commit sinks.
//! Errors, never panics; nothing outside the sink's own folder is touched.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use strom_operators::part_files::PendingFiles;
use strom_operators::state_file::{self, Written};
use strom_operators::{RestoredState, stripes};
use strom_storage::{Location, Storage};
use twox_hash::XxHash3_64;

fn scratch() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a scratch folder"))
}

fuzz_target!(|data: &[u8]| {
    let dir = scratch().path();
    let path = dir.join("v-0.state");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    // The checkpoint's metadata records size and checksum; a matching record gets the bytes
    // past the integrity check into the decoder.
    let expected = Written {
        size: data.len() as u64,
        checksum: XxHash3_64::oneshot(data),
    };
    let Some(Ok(location)) = path.to_str().map(|p| Storage::local().resolve(p)) else {
        return;
    };
    let Ok(snapshot) = state_file::read(&location, expected, 0..128) else {
        return;
    };
    for parallelism in [1, 3] {
        let restored = RestoredState {
            checkpoint_id: 1,
            keyed: snapshot.keyed.clone(),
            items: snapshot.items.clone(),
            subtask: 0,
            parallelism,
        };
        let _ = stripes::restore_share(&restored);
        let sink = dir.join("sink");
        let _ = std::fs::create_dir_all(&sink);
        let _ = PendingFiles::new(Location::from_local(sink), 0, 1).restore(&restored);
    }
});
