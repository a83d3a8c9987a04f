//! A checkpoint or savepoint `_metadata` file as a restore reads it: parsing, version, the
//! confinement of state-file names to the folder, and the restore plan of every vertex at a
//! few parallelisms. Errors, never panics.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use strom_operators::state_file;
use strom_runtime::checkpoint::CheckpointMetadata;
use strom_storage::{Location, Storage};

fn scratch() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a scratch folder");
        // A state file the metadata can name, so the fuzzer can get past the file checks.
        std::fs::write(dir.path().join("v-0.state"), b"STROMSF1").expect("a state file");
        dir
    })
}

fn scratch_location() -> &'static Location {
    static LOCATION: OnceLock<Location> = OnceLock::new();
    LOCATION.get_or_init(|| {
        let path = scratch().path().to_str().expect("a UTF-8 scratch path");
        Storage::local().resolve(path).expect("a local location")
    })
}

fuzz_target!(|data: &[u8]| {
    if std::fs::write(scratch().path().join("_metadata"), data).is_err() {
        return;
    }
    let Ok((folder, metadata)) = CheckpointMetadata::load_verified(scratch_location()) else {
        return;
    };
    for vertex in metadata.vertices.keys() {
        for parallelism in [1, 2, 7] {
            if let Ok(Some((_, max_parallelism))) =
                metadata.restore_for(&folder, vertex, parallelism)
            {
                for subtask in 0..parallelism {
                    let groups = state_file::key_group_range(subtask, parallelism, max_parallelism);
                    assert!(groups.start <= groups.end && groups.end <= max_parallelism.max(1));
                }
            }
        }
    }
});
