//! The runtime every storage operation runs on.
//!
//! One small multi-threaded Tokio runtime for the process, never shut down: object-store
//! clients keep their connections there, whichever runtime (or none) the caller is on, and a
//! store that hangs holds up only its callers. A global is the simplest owner for it: storage
//! is used by every component of a process and outlives each of them.

use std::future::Future;
use std::sync::OnceLock;

use crate::StorageError;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("strom-storage")
            .enable_all()
            .build()
            // Without threads or a timer there is nothing left to do but stop.
            .unwrap_or_else(|e| panic!("cannot start the storage runtime: {e}"))
    })
}

/// Runs `work` on the storage runtime and awaits it.
pub(crate) async fn run<T, F>(url: &str, work: F) -> Result<T, StorageError>
where
    T: Send + 'static,
    F: Future<Output = Result<T, StorageError>> + Send + 'static,
{
    runtime().spawn(work).await.map_err(|e| StorageError::Io {
        url: url.to_owned(),
        message: format!("the storage operation was aborted: {e}"),
    })?
}

/// Starts `work` on the storage runtime; the caller awaits (or [`wait`]s for) its handle later.
pub(crate) fn spawn<F>(work: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    runtime().spawn(work)
}

/// Runs blocking file work on the storage runtime's blocking pool and awaits it.
pub(crate) async fn run_blocking<T, F>(url: &str, work: F) -> Result<T, StorageError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StorageError> + Send + 'static,
{
    runtime()
        .spawn_blocking(work)
        .await
        .map_err(|e| StorageError::Io {
            url: url.to_owned(),
            message: format!("the storage operation was aborted: {e}"),
        })?
}

/// Waits for a storage operation from synchronous code (a thread that may block). The work
/// itself runs on the storage runtime, so this may be called from any thread, also one of
/// another Tokio runtime, where it blocks that thread until the operation is done.
pub fn wait<T>(operation: impl Future<Output = T>) -> T {
    futures::executor::block_on(operation)
}
