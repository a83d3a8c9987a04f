//! [`HaServices`]: the services of one cluster, chosen by `high-availability` (`none`, `file`,
//! `zookeeper`), and [`cluster_id`], the namespace that keeps clusters apart.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use strom_config::Configuration;
use strom_config::options::{
    HIGH_AVAILABILITY_CLUSTER_ID, HIGH_AVAILABILITY_STORAGE_DIR, HIGH_AVAILABILITY_TYPE,
    HIGH_AVAILABILITY_ZOOKEEPER_CLIENT_CONNECTION_TIMEOUT,
    HIGH_AVAILABILITY_ZOOKEEPER_CLIENT_MAX_RETRY_ATTEMPTS,
    HIGH_AVAILABILITY_ZOOKEEPER_CLIENT_RETRY_WAIT,
    HIGH_AVAILABILITY_ZOOKEEPER_CLIENT_SESSION_TIMEOUT,
    HIGH_AVAILABILITY_ZOOKEEPER_PATH_MESOS_WORKERS, HIGH_AVAILABILITY_ZOOKEEPER_PATH_ROOT,
    HIGH_AVAILABILITY_ZOOKEEPER_QUORUM, JOBMANAGER_RPC_ADDRESS, MESOS_MASTER,
    MESOS_RESOURCEMANAGER_FRAMEWORK_NAME, REST_PORT,
};

use crate::HaError;
use crate::checkpoints::CheckpointPointerStore;
use crate::election::{LeaderElection, LeaderRetrieval};
use crate::error::check_name;
use crate::file::{FileCheckpointPointerStore, FileJobGraphStore, FileWorkerStore};
use crate::job_graphs::JobGraphStore;
use crate::memory::{InMemoryCheckpointPointerStore, InMemoryJobGraphStore, LocalElection};
use crate::storage::{cluster_folder, remove_tree};
use crate::worker_store::{InMemoryWorkerStore, WorkerStore};
use crate::zookeeper::{
    ZooKeeperCheckpointPointerStore, ZooKeeperConnection, ZooKeeperElection,
    ZooKeeperJobGraphStore, ZooKeeperRetrieval, ZooKeeperSettings, ZooKeeperWorkerStore,
};
use strom_storage::{Location, Storage};

/// `high-availability.type`: where a cluster keeps what must outlive its master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HaMode {
    /// `none`: in memory; nothing outlives the process.
    None,
    /// `file`: a folder (`high-availability.storageDir`), for one master restarted in place.
    File,
    /// `zookeeper`: leader election and metadata in ZooKeeper, large values in the folder.
    ZooKeeper,
}

impl HaMode {
    /// Whether the cluster's data outlives its master (`file`, `zookeeper`): a stopped master
    /// leaves jobs and workers to the next one.
    pub fn is_durable(self) -> bool {
        self != Self::None
    }

    /// The configuration value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::File => "file",
            Self::ZooKeeper => "zookeeper",
        }
    }
}

impl std::fmt::Display for HaMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The high-availability services of one cluster.
pub struct HaServices {
    /// The Mesos framework id and workers.
    pub worker_store: Arc<dyn WorkerStore>,
    /// Submitted job graphs.
    pub job_graphs: Arc<dyn JobGraphStore>,
    /// Completed-checkpoint pointers.
    pub checkpoints: Arc<dyn CheckpointPointerStore>,
    /// This process's contender in the leader election.
    pub election: Arc<dyn LeaderElection>,
    /// Who leads.
    pub retrieval: Arc<dyn LeaderRetrieval>,
    cluster_id: String,
    backend: Backend,
}

enum Backend {
    Memory,
    File {
        folder: PathBuf,
    },
    ZooKeeper {
        connection: Arc<ZooKeeperConnection>,
        /// `<storageDir>/<cluster-id>`: a local folder or an object-store prefix.
        files: Location,
        retrieval: Arc<ZooKeeperRetrieval>,
    },
}

impl std::fmt::Debug for HaServices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HaServices")
            .field("mode", &self.mode())
            .field("cluster_id", &self.cluster_id)
            .finish_non_exhaustive()
    }
}

/// The cluster id: `high-availability.cluster-id` when set (a leading or trailing `/`, as in
/// Flink's docs' `/cluster-1`, is dropped), else derived as
/// `<framework-name>-<16 hex digits of an FNV-1a hash>` of what every master of one deployment
/// shares and two deployments do not: on Mesos `mesos.resourcemanager.framework.name` and
/// `mesos.master`; elsewhere the framework name, `jobmanager.rpc.address` and `rest.port`.
///
/// So the masters of one Mesos deployment (a leader and its standbys, on any host, or one
/// restarted elsewhere by Marathon) find the same data and register one framework, while two
/// deployments on one Mesos differ by their framework name (Flink's shared `default` made every
/// cluster collide).
pub fn cluster_id(config: &Configuration) -> String {
    if let Some(id) = config.get(&HIGH_AVAILABILITY_CLUSTER_ID) {
        let id = id.trim_matches('/');
        if !id.is_empty() {
            return id.to_owned();
        }
    }
    let name = config.get(&MESOS_RESOURCEMANAGER_FRAMEWORK_NAME);
    let shared = match config.get(&MESOS_MASTER) {
        Some(master) => format!("{name}\nmesos\n{master}"),
        None => format!(
            "{name}\n{}\n{}",
            config.get(&JOBMANAGER_RPC_ADDRESS),
            config.get(&REST_PORT)
        ),
    };
    let hash = fnv1a(shared.as_bytes());
    let readable: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    let readable = readable.trim_matches('-');
    if readable.is_empty() {
        format!("strom-{hash:016x}")
    } else {
        format!("{readable}-{hash:016x}")
    }
}

/// FNV-1a 64: a hash that stays the same across Rust releases (unlike `DefaultHasher`).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `high-availability.storageDir` as configured (required in `mode`).
fn storage_dir_text(config: &Configuration, mode: &str) -> Result<String, HaError> {
    config
        .get(&HIGH_AVAILABILITY_STORAGE_DIR)
        .ok_or_else(|| HaError::Config {
            key: HIGH_AVAILABILITY_STORAGE_DIR.key().to_owned(),
            reason: format!("required with `high-availability: {mode}`"),
        })
}

/// `high-availability.storageDir` as a local folder (`/path` or `file:///path`): the file mode
/// keeps its counter and election beside the data, which needs a file system.
fn storage_dir(config: &Configuration, mode: &str) -> Result<PathBuf, HaError> {
    let key = HIGH_AVAILABILITY_STORAGE_DIR.key();
    let raw = storage_dir_text(config, mode)?;
    let path = raw.strip_prefix("file://").unwrap_or(&raw);
    if path.contains("://") || !Path::new(path).is_absolute() {
        return Err(HaError::Config {
            key: key.to_owned(),
            reason: format!(
                "`{raw}` is not an absolute local path (`/path` or `file:///path`); \
                 `high-availability: {mode}` needs one (use `zookeeper` for an object store)"
            ),
        });
    }
    Ok(PathBuf::from(path))
}

/// `high-availability.storageDir` where every master reaches it: an absolute local folder (a
/// shared mount) or an object store (`s3://bucket/prefix`).
fn shared_storage_dir(
    config: &Configuration,
    storage: &Storage,
    mode: &str,
) -> Result<Location, HaError> {
    let key = HIGH_AVAILABILITY_STORAGE_DIR.key();
    let raw = storage_dir_text(config, mode)?;
    let local = raw.strip_prefix("file://").unwrap_or(&raw);
    if !local.contains("://") && !Path::new(local).is_absolute() {
        return Err(HaError::Config {
            key: key.to_owned(),
            reason: format!("`{raw}` is neither an absolute local path nor an s3:// URL"),
        });
    }
    storage.resolve(&raw).map_err(|e| HaError::Config {
        key: key.to_owned(),
        reason: e.to_string(),
    })
}

impl HaServices {
    /// In-memory services (`high-availability: none`): nothing survives the process.
    pub fn in_memory(cluster_id: impl Into<String>) -> Self {
        let (election, retrieval) = LocalElection::new();
        Self {
            worker_store: Arc::new(InMemoryWorkerStore::default()),
            job_graphs: Arc::new(InMemoryJobGraphStore::default()),
            checkpoints: Arc::new(InMemoryCheckpointPointerStore::default()),
            election: Arc::new(election),
            retrieval: Arc::new(retrieval),
            cluster_id: cluster_id.into(),
            backend: Backend::Memory,
        }
    }

    /// File services (`high-availability: file`) under `<storage_dir>/<cluster_id>`.
    pub fn in_folder(storage_dir: &Path, cluster_id: impl Into<String>) -> Self {
        let cluster_id = cluster_id.into();
        let folder = cluster_folder(storage_dir, &cluster_id);
        let (election, retrieval) = LocalElection::new();
        Self {
            worker_store: Arc::new(FileWorkerStore::new(folder.join("mesos-workers"))),
            job_graphs: Arc::new(FileJobGraphStore::new(folder.join("jobgraphs"))),
            checkpoints: Arc::new(FileCheckpointPointerStore::new(folder.join("checkpoints"))),
            election: Arc::new(election),
            retrieval: Arc::new(retrieval),
            cluster_id,
            backend: Backend::File { folder },
        }
    }

    /// ZooKeeper services on `connection`; job graph files under `<storage_dir>/<cluster_id>`
    /// (a local folder or an object store; `storage` resolves the paths stored in ZooKeeper).
    pub fn on_zookeeper(
        connection: Arc<ZooKeeperConnection>,
        storage_dir: &Location,
        storage: Storage,
        cluster_id: impl Into<String>,
        mesos_workers_path: &str,
    ) -> Self {
        let cluster_id = cluster_id.into();
        let files = storage_dir.child(&cluster_id);
        let retrieval = Arc::new(ZooKeeperRetrieval::start(Arc::clone(&connection)));
        Self {
            worker_store: Arc::new(ZooKeeperWorkerStore::new(
                Arc::clone(&connection),
                mesos_workers_path,
            )),
            job_graphs: Arc::new(ZooKeeperJobGraphStore::new(
                Arc::clone(&connection),
                files.child("jobgraphs"),
                storage,
            )),
            checkpoints: Arc::new(ZooKeeperCheckpointPointerStore::new(Arc::clone(
                &connection,
            ))),
            election: Arc::new(ZooKeeperElection::new(Arc::clone(&connection))),
            retrieval: Arc::clone(&retrieval) as Arc<dyn LeaderRetrieval>,
            cluster_id,
            backend: Backend::ZooKeeper {
                connection,
                files,
                retrieval,
            },
        }
    }

    /// The services `config` selects: `high-availability` `none` (default), `file` (needs
    /// `high-availability.storageDir`) or `zookeeper` (needs `high-availability.zookeeper.quorum`
    /// and `high-availability.storageDir`; connects before returning).
    pub async fn from_config(config: &Configuration) -> Result<HaServices, HaError> {
        let id = cluster_id(config);
        check_name("cluster id", &id).map_err(|err| HaError::Config {
            key: HIGH_AVAILABILITY_CLUSTER_ID.key().to_owned(),
            reason: err.to_string(),
        })?;
        let mode = config
            .try_get(&HIGH_AVAILABILITY_TYPE)
            .map_err(|err| HaError::Config {
                key: HIGH_AVAILABILITY_TYPE.key().to_owned(),
                reason: err.to_string(),
            })?;
        match mode.as_str() {
            "none" => Ok(Self::in_memory(id)),
            "file" => Ok(Self::in_folder(&storage_dir(config, "file")?, id)),
            "zookeeper" => {
                let quorum = config
                    .get(&HIGH_AVAILABILITY_ZOOKEEPER_QUORUM)
                    .filter(|quorum| !quorum.trim().is_empty())
                    .ok_or_else(|| HaError::Config {
                        key: HIGH_AVAILABILITY_ZOOKEEPER_QUORUM.key().to_owned(),
                        reason: "required with `high-availability: zookeeper`".to_owned(),
                    })?;
                let storage = Storage::new(config).map_err(|e| HaError::Config {
                    key: "s3.*".to_owned(),
                    reason: e.to_string(),
                })?;
                let files = shared_storage_dir(config, &storage, "zookeeper")?;
                let root = config.get(&HIGH_AVAILABILITY_ZOOKEEPER_PATH_ROOT);
                let root = format!("/{}", root.trim_matches('/'));
                let namespace = if root == "/" {
                    format!("/{id}")
                } else {
                    format!("{root}/{id}")
                };
                let settings = ZooKeeperSettings {
                    quorum,
                    namespace,
                    session_timeout: config
                        .get(&HIGH_AVAILABILITY_ZOOKEEPER_CLIENT_SESSION_TIMEOUT),
                    connection_timeout: config
                        .get(&HIGH_AVAILABILITY_ZOOKEEPER_CLIENT_CONNECTION_TIMEOUT),
                    retry_wait: config.get(&HIGH_AVAILABILITY_ZOOKEEPER_CLIENT_RETRY_WAIT),
                    max_retry_attempts: config
                        .get(&HIGH_AVAILABILITY_ZOOKEEPER_CLIENT_MAX_RETRY_ATTEMPTS),
                };
                let connection = Arc::new(ZooKeeperConnection::connect(settings).await?);
                let workers = config.get(&HIGH_AVAILABILITY_ZOOKEEPER_PATH_MESOS_WORKERS);
                Ok(Self::on_zookeeper(
                    connection, &files, storage, id, &workers,
                ))
            }
            other => Err(HaError::Config {
                key: HIGH_AVAILABILITY_TYPE.key().to_owned(),
                reason: format!("unknown mode `{other}`; expected none, file or zookeeper"),
            }),
        }
    }

    /// The cluster id (the namespace of this cluster's data).
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// The mode (`high-availability.type`).
    pub fn mode(&self) -> HaMode {
        match &self.backend {
            Backend::Memory => HaMode::None,
            Backend::File { .. } => HaMode::File,
            Backend::ZooKeeper { .. } => HaMode::ZooKeeper,
        }
    }

    /// The ZooKeeper connection in `zookeeper` mode.
    pub fn zookeeper(&self) -> Option<&Arc<ZooKeeperConnection>> {
        match &self.backend {
            Backend::ZooKeeper { connection, .. } => Some(connection),
            _ => None,
        }
    }

    /// Deletes everything of this cluster (final shutdown): the namespace subtree in ZooKeeper
    /// and the cluster's folder in `high-availability.storageDir`, or the file mode's folder.
    pub async fn cleanup(&self) -> Result<(), HaError> {
        match &self.backend {
            Backend::Memory => {
                self.worker_store.clear().await?;
                for (job_id, _) in self.job_graphs.list().await? {
                    self.job_graphs.remove(&job_id).await?;
                    self.checkpoints.remove_older_than(&job_id, 0).await?;
                }
                Ok(())
            }
            Backend::File { folder } => remove_tree(folder).await,
            Backend::ZooKeeper {
                connection, files, ..
            } => {
                let client = connection.client().await?;
                crate::zookeeper::client::delete_tree(&client, connection.namespace()).await?;
                Ok(files.delete_all().await?)
            }
        }
    }

    /// The cluster secret shared by every master of this cluster: read from the HA storage, or
    /// generated with `generate` by the first master and stored there (see `secret.rs`).
    /// `None` without durable storage (`high-availability: none`): each process has its own.
    pub async fn cluster_secret(
        &self,
        generate: impl FnOnce() -> String + Send + 'static,
    ) -> Result<Option<String>, HaError> {
        match &self.backend {
            Backend::Memory => Ok(None),
            Backend::File { folder } => crate::secret::get_or_create(folder.clone(), generate)
                .await
                .map(Some),
            Backend::ZooKeeper { files, .. } => match files.local_path() {
                Some(folder) => crate::secret::get_or_create(folder.to_owned(), generate)
                    .await
                    .map(Some),
                None => crate::secret::get_or_create_object(files, generate)
                    .await
                    .map(Some),
            },
        }
    }

    /// Resigns leadership and closes the ZooKeeper session; the services fail afterwards.
    pub async fn close(&self) {
        if let Err(err) = self.election.resign().await {
            tracing::warn!(error = %err, "cannot resign leadership while closing");
        }
        if let Backend::ZooKeeper {
            connection,
            retrieval,
            ..
        } = &self.backend
        {
            retrieval.stop();
            connection.close().await;
        }
    }
}
