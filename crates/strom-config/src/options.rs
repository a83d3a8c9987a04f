//! The registry: every configuration option strom knows, with Flink's keys, defaults and
//! fallback keys, grouped into documentation sections. Keys not listed here (and not under a
//! registered prefix) are accepted with an "unknown configuration key" warning.

use std::time::Duration;

use crate::memory::MemorySize;
use crate::option::{ConfigOption, OptionSpec, OptionValue};
use crate::ports::PortRange;

const fn opt<T: OptionValue>(
    key: &'static str,
    default: &'static str,
    description: &'static str,
) -> ConfigOption<T> {
    ConfigOption::new(key, default, description)
}

const fn opt_none<T: OptionValue>(key: &'static str, description: &'static str) -> ConfigOption<T> {
    ConfigOption::without_default(key, description)
}

const fn prefix(key: &'static str, description: &'static str) -> ConfigOption<String> {
    ConfigOption::prefix(key, description)
}

/// Declares the option constants and the `ALL` list, section by section.
macro_rules! registry {
    ($( $section:literal { $( $name:ident: $ty:ty = $option:expr; )* } )*) => {
        $( $(
            pub const $name: ConfigOption<$ty> = $option.in_section($section);
        )* )*

        /// Every registered option, in documentation order.
        pub(crate) static ALL: &[&OptionSpec] = &[ $( $( &$name.spec, )* )* ];
    };
}

registry! {
    "JobManager and REST" {
        JOBMANAGER_RPC_ADDRESS: String = opt("jobmanager.rpc.address", "localhost",
            "Address of the JobManager's RPC endpoint; on Mesos also the framework hostname and artifact server host, so it must not be localhost there.");
        JOBMANAGER_RPC_PORT: u16 = opt("jobmanager.rpc.port", "6123",
            "Port of the JobManager's RPC endpoint.");
        JOBMANAGER_BIND_HOST: Option<String> = opt_none("jobmanager.bind-host",
            "Local address the JobManager's RPC endpoint binds to; defaults to all interfaces.");
        JOBMANAGER_MEMORY_PROCESS_SIZE: MemorySize = opt("jobmanager.memory.process.size", "1600m",
            "Total process memory of the JobManager (informational; used to size the Marathon app).");
        REST_ADDRESS: Option<String> = opt_none("rest.address",
            "Address clients use to reach the REST endpoint.")
            .with_fallback_keys(&["jobmanager.rpc.address"]);
        REST_BIND_ADDRESS: Option<String> = opt_none("rest.bind-address",
            "Local address the REST endpoint binds to; defaults to all interfaces.");
        REST_PORT: u16 = opt("rest.port", "8081",
            "Port clients connect to for the REST API and web UI.");
        REST_BIND_PORT: Option<String> = opt_none("rest.bind-port",
            "Port or port range (e.g. `50100-50200`) the REST endpoint binds to; defaults to `rest.port`.")
            .with_fallback_keys(&["rest.port"]);
        REST_RESULTS_MAX_BUFFERED_ROWS: usize = opt("rest.results.max-buffered-rows", "1000000",
            "Rows of a SQL client's query (`strom sql`) the JobManager holds until the client fetches them; a query producing more than that ahead of its client fails, naming this key.");
        REST_SERVER_MAX_CONTENT_LENGTH: usize = opt("rest.server.max-content-length", "104857600",
            "Maximum size in bytes of a REST request body.");
        WEB_SUBMIT_ENABLE: bool = opt("web.submit.enable", "true",
            "Whether jobs may be submitted through the REST API and web UI.");
        WEB_CANCEL_ENABLE: bool = opt("web.cancel.enable", "true",
            "Whether jobs may be cancelled through the REST API and web UI.");
        WEB_ACCESS_CONTROL_ALLOW_ORIGIN: Option<String> = opt("web.access-control-allow-origin", "*",
            "`Access-Control-Allow-Origin` of every REST answer, as Flink sends it; empty: none.");
        WEB_FLINK_DASHBOARD_PATH: Option<String> = opt_none("web.flink-dashboard.path",
            "Folder of Apache Flink's own web dashboard (the `web/` folder inside a Flink 2.x distribution's `lib/flink-dist-*.jar`; `scripts/flink-tools.sh dashboard` extracts it). When set, the JobManager also serves Flink's dashboard at `/flink/`, against strom's REST API; strom's own stays at `/`.");
        INTERNAL_JOBGRAPH_PATH: Option<String> = opt_none("internal.jobgraph-path",
            "Per-job mode: path of the serialized job graph the cluster runs at start-up.")
            .with_fallback_keys(&["flink.jobgraph.path"]);
    }
    "TaskManager" {
        TASKMANAGER_NUMBER_OF_TASK_SLOTS: u32 = opt("taskmanager.numberOfTaskSlots", "1",
            "Number of task slots each TaskManager offers.");
        TASKMANAGER_MEMORY_PROCESS_SIZE: MemorySize = opt("taskmanager.memory.process.size", "1728m",
            "Total process memory of a TaskManager; on Mesos the `mem` requested per TaskManager.");
        TASKMANAGER_MEMORY_FLINK_SIZE: Option<MemorySize> = opt_none("taskmanager.memory.flink.size",
            "Total memory of a TaskManager excluding runtime overhead; alternative to the process size.");
        TASKMANAGER_MEMORY_SEGMENT_SIZE: MemorySize = opt("taskmanager.memory.segment-size", "32kb",
            "Size of the network buffers exchanged between tasks.");
        TASKMANAGER_CPU_CORES: Option<f64> = opt_none("taskmanager.cpu.cores",
            "CPU cores of a TaskManager; overrides `mesos.resourcemanager.tasks.cpus`, else the slot count is used.");
        TASKMANAGER_HOST: Option<String> = opt_none("taskmanager.host",
            "Address the TaskManager is reachable at; on Mesos set from `mesos.resourcemanager.tasks.hostname`.");
        TASKMANAGER_BIND_HOST: Option<String> = opt_none("taskmanager.bind-host",
            "Local address the TaskManager binds to; defaults to all interfaces.");
        TASKMANAGER_RPC_PORT: PortRange = opt("taskmanager.rpc.port", "0",
            "Port of the TaskManager's RPC endpoint, a range (`50100-50200`) or a list as in Flink; 0 picks a free port (on Mesos an offered port is used, whatever this says).");
        TASKMANAGER_DATA_PORT: u16 = opt("taskmanager.data.port", "0",
            "Port of the TaskManager's data exchange server; 0 picks a free port (on Mesos an offered port is used).");
        TASKMANAGER_RESOURCE_ID: Option<String> = opt_none("taskmanager.resource-id",
            "Identifier of the TaskManager; on Mesos the Mesos task ID, otherwise generated.");
        TASKMANAGER_REGISTRATION_TIMEOUT: Duration = opt("taskmanager.registration.timeout", "5 min",
            "How long a TaskManager keeps trying to register with the ResourceManager before it exits.");
        TASKMANAGER_NETWORK_MEMORY_BUFFERS_PER_CHANNEL: u32 = opt("taskmanager.network.memory.buffers-per-channel", "2",
            "Exclusive network buffers per input channel.");
        TASKMANAGER_EXECUTABLE: Option<String> = opt_none("taskmanager.executable",
            "Path of the strom binary used to start TaskManagers; defaults to the running binary.");
        PARALLELISM_DEFAULT: u32 = opt("parallelism.default", "1",
            "Parallelism of operators that do not set their own.");
        PIPELINE_MAX_PARALLELISM: i32 = opt("pipeline.max-parallelism", "-1",
            "Upper bound for rescaling a job (number of key groups); -1 derives it from the parallelism.");
        PIPELINE_NAME: Option<String> = opt_none("pipeline.name",
            "Name of the job; defaults to a generated name.");
        LOCAL_NUMBER_TASKMANAGER: u32 = opt("local.number-taskmanager", "1",
            "Number of TaskManagers the local resource manager driver starts.");
    }
    "ResourceManager and heartbeats" {
        RESOURCEMANAGER_DRIVER: String = opt("resourcemanager.driver", "local",
            "How TaskManagers are started: as local processes or as Mesos tasks.")
            .with_allowed_values(&["local", "mesos"]);
        HEARTBEAT_INTERVAL: Duration = opt("heartbeat.interval", "10 s",
            "Time between heartbeat requests between JobManager, ResourceManager and TaskManagers.");
        HEARTBEAT_TIMEOUT: Duration = opt("heartbeat.timeout", "50 s",
            "Time after which a peer that sent no heartbeat is considered dead.");
        HEARTBEAT_RPC_FAILURE_THRESHOLD: u32 = opt("heartbeat.rpc-failure-threshold", "2",
            "Consecutive failed heartbeat RPCs after which a reachable-but-failing peer is considered dead.");
        RESOURCEMANAGER_TASKMANAGER_TIMEOUT: Duration = opt("resourcemanager.taskmanager-timeout", "30 s",
            "How long a TaskManager may stay idle before it is released.");
        RESOURCEMANAGER_TASKMANAGER_REGISTRATION_TIMEOUT: Duration = opt("resourcemanager.taskmanager-registration.timeout", "5 min",
            "How long a started or recovered TaskManager may take to register before it is released.")
            .with_fallback_keys(&["taskmanager.registration.timeout"]);
        RESOURCEMANAGER_START_WORKER_MAX_FAILURE_RATE: f64 = opt("resourcemanager.start-worker.max-failure-rate", "10.0",
            "Worker start failures per minute above which new worker requests pause.");
        RESOURCEMANAGER_START_WORKER_RETRY_INTERVAL: Duration = opt("resourcemanager.start-worker.retry-interval", "3 s",
            "Pause before requesting workers again after the start failure rate was exceeded.");
        SLOT_REQUEST_TIMEOUT: Duration = opt("slot.request.timeout", "5 min",
            "How long a slot request may stay pending before it fails.");
        SLOT_IDLE_TIMEOUT: Duration = opt("slot.idle.timeout", "50 s",
            "How long an unused slot is kept before it is returned to its TaskManager.");
        SLOTMANAGER_NUMBER_OF_SLOTS_MAX: u32 = opt("slotmanager.number-of-slots.max", "2147483647",
            "Upper bound on the total number of slots in the cluster.");
        SLOTMANAGER_REDUNDANT_TASKMANAGER_NUM: u32 = opt("slotmanager.redundant-taskmanager-num", "0",
            "Spare TaskManagers kept running for faster recovery.");
    }
    "High availability" {
        HIGH_AVAILABILITY_TYPE: String = opt("high-availability.type", "none",
            "High-availability mode: `none`, `zookeeper` (leader election and worker store in ZooKeeper) or `file`.")
            .with_allowed_values(&["none", "zookeeper", "file"])
            .with_fallback_keys(&["high-availability"]);
        HIGH_AVAILABILITY_STORAGE_DIR: Option<String> = opt_none("high-availability.storageDir",
            "Directory for recovery metadata; required when high availability is enabled.");
        HIGH_AVAILABILITY_CLUSTER_ID: Option<String> = opt_none("high-availability.cluster-id",
            "Namespace of this cluster in the HA store; strom derives a unique one when unset.");
        HIGH_AVAILABILITY_ZOOKEEPER_QUORUM: Option<String> = opt_none("high-availability.zookeeper.quorum",
            "ZooKeeper servers as `host:port,host:port`; required with ZooKeeper HA.");
        HIGH_AVAILABILITY_ZOOKEEPER_PATH_ROOT: String = opt("high-availability.zookeeper.path.root", "/strom",
            "Root znode under which cluster namespaces are created.");
        HIGH_AVAILABILITY_ZOOKEEPER_PATH_MESOS_WORKERS: String = opt("high-availability.zookeeper.path.mesos-workers", "/mesos-workers",
            "Znode, below the cluster namespace, of the Mesos worker store.");
        HIGH_AVAILABILITY_ZOOKEEPER_CLIENT_SESSION_TIMEOUT: Duration = opt("high-availability.zookeeper.client.session-timeout", "60 s",
            "ZooKeeper session timeout.");
        HIGH_AVAILABILITY_ZOOKEEPER_CLIENT_CONNECTION_TIMEOUT: Duration = opt("high-availability.zookeeper.client.connection-timeout", "15 s",
            "ZooKeeper connection timeout.");
        HIGH_AVAILABILITY_ZOOKEEPER_CLIENT_RETRY_WAIT: Duration = opt("high-availability.zookeeper.client.retry-wait", "5 s",
            "Pause between ZooKeeper connection retries.");
        HIGH_AVAILABILITY_ZOOKEEPER_CLIENT_MAX_RETRY_ATTEMPTS: u32 = opt("high-availability.zookeeper.client.max-retry-attempts", "3",
            "ZooKeeper connection attempts before an error is reported.");
        HIGH_AVAILABILITY_JOBMANAGER_PORT: String = opt("high-availability.jobmanager.port", "0",
            "Port or port range (e.g. `50000-50025`) of the JobManager's RPC endpoint under HA (the first free one is taken); 0: `jobmanager.rpc.port`.");
        HIGH_AVAILABILITY_LIVENESS_PROBE: bool = opt("high-availability.jobmanager.liveness-probe", "true",
            "Whether a standby probes the leader's RPC and REST endpoints and takes over as soon as both refuse connections three times in a row (its process is gone) instead of waiting for its ZooKeeper session to expire. Turn off where a firewall between masters rejects rather than drops connections.");
    }
    "Checkpointing and restarts" {
        EXECUTION_CHECKPOINTING_INTERVAL: Option<Duration> = opt_none("execution.checkpointing.interval",
            "Interval between checkpoints; checkpointing is disabled when unset.");
        EXECUTION_CHECKPOINTING_TIMEOUT: Duration = opt("execution.checkpointing.timeout", "10 min",
            "Time after which an unfinished checkpoint is aborted.");
        EXECUTION_CHECKPOINTING_MIN_PAUSE: Duration = opt("execution.checkpointing.min-pause", "0 ms",
            "Minimum pause between the end of one checkpoint and the start of the next.");
        EXECUTION_CHECKPOINTING_MAX_CONCURRENT_CHECKPOINTS: u32 = opt("execution.checkpointing.max-concurrent-checkpoints", "1",
            "Maximum number of checkpoints in progress at the same time.");
        STATE_CHECKPOINTS_NUM_RETAINED: u32 = opt("state.checkpoints.num-retained", "1",
            "Number of completed checkpoints kept.");
        STATE_CHECKPOINTS_DIR: Option<String> = opt_none("state.checkpoints.dir",
            "Directory where checkpoint data and metadata are stored.");
        STATE_SAVEPOINTS_DIR: Option<String> = opt_none("state.savepoints.dir",
            "Default directory for savepoints.");
        EXECUTION_SAVEPOINT_PATH: Option<String> = opt_none("execution.savepoint.path",
            "Savepoint or retained checkpoint (its folder or its `_metadata` file) a submitted job restores its state from.");
        STATE_BACKEND_TYPE: String = opt("state.backend.type", "hashmap",
            "Where operator state lives between checkpoints: `hashmap` (memory) or `embedded-lsm` (an on-disk LSM tree per subtask, for state larger than memory; `rocksdb` is taken as `embedded-lsm`).")
            .with_allowed_values(&["hashmap", "embedded-lsm", "rocksdb"]);
        RESTART_STRATEGY_TYPE: String = opt("restart-strategy.type", "none",
            "Restart strategy of failed jobs.")
            .with_allowed_values(&["none", "off", "disable", "fixed-delay", "fixeddelay", "failure-rate", "failurerate", "exponential-delay", "exponentialdelay"])
            .with_fallback_keys(&["restart-strategy"]);
        RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS: u32 = opt("restart-strategy.fixed-delay.attempts", "1",
            "Restart attempts before the job fails, with the fixed-delay strategy.");
        RESTART_STRATEGY_FIXED_DELAY_DELAY: Duration = opt("restart-strategy.fixed-delay.delay", "1 s",
            "Delay between restart attempts, with the fixed-delay strategy.");
        RESTART_STRATEGY_FAILURE_RATE_MAX_FAILURES_PER_INTERVAL: u32 = opt("restart-strategy.failure-rate.max-failures-per-interval", "1",
            "Restarts allowed per interval before the job fails, with the failure-rate strategy.");
        RESTART_STRATEGY_FAILURE_RATE_FAILURE_RATE_INTERVAL: Duration = opt("restart-strategy.failure-rate.failure-rate-interval", "1 min",
            "Interval over which failures are counted, with the failure-rate strategy.");
        RESTART_STRATEGY_FAILURE_RATE_DELAY: Duration = opt("restart-strategy.failure-rate.delay", "1 s",
            "Delay between restart attempts, with the failure-rate strategy.");
        RESTART_STRATEGY_EXPONENTIAL_DELAY_INITIAL_BACKOFF: Duration = opt("restart-strategy.exponential-delay.initial-backoff", "1 s",
            "First delay between restarts, with the exponential-delay strategy.");
        RESTART_STRATEGY_EXPONENTIAL_DELAY_MAX_BACKOFF: Duration = opt("restart-strategy.exponential-delay.max-backoff", "1 min",
            "Longest delay between restarts, with the exponential-delay strategy.");
        RESTART_STRATEGY_EXPONENTIAL_DELAY_BACKOFF_MULTIPLIER: f64 = opt("restart-strategy.exponential-delay.backoff-multiplier", "1.5",
            "Factor applied to the delay after each failure, with the exponential-delay strategy.");
        RESTART_STRATEGY_EXPONENTIAL_DELAY_RESET_BACKOFF_THRESHOLD: Duration = opt("restart-strategy.exponential-delay.reset-backoff-threshold", "1 h",
            "Failure-free running time after which the delay is reset, with the exponential-delay strategy.");
        RESTART_STRATEGY_EXPONENTIAL_DELAY_JITTER_FACTOR: f64 = opt("restart-strategy.exponential-delay.jitter-factor", "0.1",
            "Random fraction of the delay added or subtracted, with the exponential-delay strategy.");
    }
    "File systems" {
        S3_ENDPOINT: Option<String> = opt_none("s3.endpoint",
            "Endpoint of the S3 service for `s3://` paths (an S3-compatible server: `http://host:port`); AWS's when unset (or `AWS_ENDPOINT`).");
        S3_ENDPOINT_REGION: Option<String> = opt_none("s3.endpoint.region",
            "Region of the S3 service (or `AWS_REGION`; `us-east-1` when neither is set).");
        S3_ACCESS_KEY: Option<String> = opt_none("s3.access-key",
            "Access key of `s3://` paths (or `AWS_ACCESS_KEY_ID`).");
        S3_SECRET_KEY: Option<String> = opt_none("s3.secret-key",
            "Secret key of `s3://` paths (or `AWS_SECRET_ACCESS_KEY`).");
        S3_PATH_STYLE_ACCESS: bool = opt("s3.path.style.access", "false",
            "Address buckets as `endpoint/bucket` (S3-compatible servers) instead of `bucket.endpoint`.");
        S3_CONNECTION_ESTABLISH_TIMEOUT: Duration = opt("s3.connection.establish.timeout", "5 s",
            "Time allowed to connect to the S3 service.");
        S3_CONNECTION_TIMEOUT: Duration = opt("s3.connection.timeout", "60 s",
            "Time allowed for one request to the S3 service, before it is retried.");
        S3_RETRY_LIMIT: u32 = opt("s3.retry.limit", "7",
            "Retries of a failed or timed-out request to the S3 service (with exponential backoff) before the operation fails.");
        S3_UPLOAD_MIN_PART_SIZE: MemorySize = opt("s3.upload.min.part.size", "5mb",
            "Size of the parts in which the filesystem sink uploads a file to `s3://` (a multipart upload, completed when the checkpoint that closed the file completes); at least 5 MB, S3's smallest part. Each open file buffers up to one part.");
        S3_UPLOAD_MAX_CONCURRENT_UPLOADS: u32 = opt("s3.upload.max.concurrent.uploads", "4",
            "Parts of one file uploaded at a time; writing waits when as many are in flight.");
    }
    "Table and SQL" {
        TABLE_EXEC_MINI_BATCH_ENABLED: Option<bool> = opt_none("table.exec.mini-batch.enabled",
            "Whether the updating GROUP BY emits per mini-batch (Flink's switch): `true` needs both other mini-batch keys, `false` emits after every input batch; unset, strom gathers up to 131,072 records or 200 ms.");
        TABLE_EXEC_MINI_BATCH_ALLOW_LATENCY: Option<Duration> = opt_none("table.exec.mini-batch.allow-latency",
            "Longest time a mini-batch gathers records before it is emitted.");
        TABLE_EXEC_MINI_BATCH_SIZE: Option<i64> = opt_none("table.exec.mini-batch.size",
            "Most records a mini-batch gathers before it is emitted.");
        TABLE_EXEC_SOURCE_IDLE_TIMEOUT: Option<Duration> = opt_none("table.exec.source.idle-timeout",
            "Time after which a Kafka partition without records no longer holds the watermark of its source subtask back, and a source subtask without records (or partitions) no longer holds back the operators after it (unset or 0: never).");
        SQL_CLIENT_RESULT_MODE: String = opt("sql-client.execution.result-mode", "table",
            "How the SQL client (`strom sql`) shows a query's rows: `table` (a full-screen table updated in place), `changelog` (the changes with their kinds) or `tableau` (boxed rows printed as they come).");
        SQL_CLIENT_MAX_TABLE_ROWS: usize = opt("sql-client.execution.max-table-result.rows", "1000000",
            "Rows the SQL client's `table` view keeps (the oldest go first).");
        SQL_CLIENT_MAX_COLUMN_WIDTH: usize = opt("sql-client.display.max-column-width", "30",
            "Width at which the SQL client cuts values (with `...`).");
        TABLE_EXEC_STATE_TTL: Option<Duration> = opt_none("table.exec.state.ttl",
            "Time after which the state of a key not seen is dropped by regular joins and Top-N (unset: kept for ever, results exact).");
    }
    "Metrics" {
        METRICS_REPORTER: String = prefix("metrics.reporter.",
            "Settings of metric reporters, as `metrics.reporter.<name>.<setting>`.");
        METRICS_REPORTER_PROM_PORT: Option<String> = opt_none("metrics.reporter.prom.port",
            "Port or port range (e.g. `9250-9260`) of the Prometheus reporter; on Mesos add it to `mesos.resourcemanager.tasks.port-assignments`.");
    }
    "Security" {
        SECURITY_SSL_REST_ENABLED: bool = opt("security.ssl.rest.enabled", "false",
            "Whether the REST endpoint (and the Mesos artifact server) use TLS.")
            .with_fallback_keys(&["security.ssl.enabled"]);
        SECURITY_SSL_REST_CERT_FILE: Option<String> = opt_none("security.ssl.rest.cert-file",
            "PEM file with the REST endpoint's certificate chain.");
        SECURITY_SSL_REST_KEY_FILE: Option<String> = opt_none("security.ssl.rest.key-file",
            "PEM file with the REST endpoint's private key.");
        SECURITY_SSL_REST_TRUST_CERT_FILE: Option<String> = opt_none("security.ssl.rest.trust-cert-file",
            "PEM file with the certificates (e.g. the CA) that job clients trust for the REST endpoint; the system's roots when unset.");
        REST_AUTH_TOKEN: Option<String> = opt_none("rest.auth.token",
            "Bearer token REST clients must present; no authentication when unset.");
        SECURITY_CLUSTER_SECRET: Option<String> = opt_none("security.cluster.secret",
            "Shared secret that JobManager and TaskManagers use to authenticate each other.");
    }
    "Containerized environment" {
        CONTAINERIZED_TASKMANAGER_ENV: String = prefix("containerized.taskmanager.env.",
            "Environment variables of TaskManager processes, as `containerized.taskmanager.env.<NAME>: value`.");
        CONTAINERIZED_MASTER_ENV: String = prefix("containerized.master.env.",
            "Environment variables of the JobManager process, as `containerized.master.env.<NAME>: value`.");
    }
    "Mesos" {
        MESOS_MASTER: Option<String> = opt_none("mesos.master",
            "Mesos master: `host:port`, `zk://host1:port1,host2:port2/path`, `zk://user:pass@hosts/path` or `file:///path`; required with the Mesos driver.");
        MESOS_FAILOVER_TIMEOUT: u64 = opt("mesos.failover-timeout", "604800",
            "Seconds Mesos keeps the framework's tasks running after the scheduler disconnected.");
        MESOS_RESOURCEMANAGER_FRAMEWORK_NAME: String = opt("mesos.resourcemanager.framework.name", "strom",
            "Framework name registered with Mesos.");
        MESOS_RESOURCEMANAGER_FRAMEWORK_ROLE: String = opt("mesos.resourcemanager.framework.role", "*",
            "Mesos role of the framework; resources reserved for it are preferred. Ignored when `mesos.resourcemanager.framework.roles` is set.");
        MESOS_RESOURCEMANAGER_FRAMEWORK_ROLES: Vec<String> = opt("mesos.resourcemanager.framework.roles", "",
            "Comma-separated Mesos roles of a `MULTI_ROLE` framework (Mesos 1.2+): offers of every role arrive, each TaskManager runs on resources of one role. Empty: the single `mesos.resourcemanager.framework.role`.");
        MESOS_RESOURCEMANAGER_FRAMEWORK_PRINCIPAL: Option<String> = opt_none("mesos.resourcemanager.framework.principal",
            "Principal the framework authenticates with.");
        MESOS_RESOURCEMANAGER_FRAMEWORK_SECRET: Option<String> = opt_none("mesos.resourcemanager.framework.secret",
            "Secret the framework authenticates with (optional even with a principal).");
        MESOS_RESOURCEMANAGER_FRAMEWORK_SECRET_FILE: Option<String> = opt_none("mesos.resourcemanager.framework.secret-file",
            "File whose content is the framework secret; alternative to putting the secret in the configuration.");
        MESOS_RESOURCEMANAGER_FRAMEWORK_USER: Option<String> = opt_none("mesos.resourcemanager.framework.user",
            "User the framework and its tasks run as; defaults to the user running strom.");
        MESOS_RESOURCEMANAGER_ARTIFACTSERVER_PORT: u16 = opt("mesos.resourcemanager.artifactserver.port", "0",
            "Port of the artifact server that serves files to the Mesos fetcher; 0 picks a free port.");
        MESOS_RESOURCEMANAGER_ARTIFACTSERVER_SSL_ENABLED: bool = opt("mesos.resourcemanager.artifactserver.ssl.enabled", "true",
            "Whether the artifact server uses HTTPS; only effective when REST TLS is enabled too.");
        MESOS_RESOURCEMANAGER_DECLINED_OFFER_REFUSE_DURATION: Duration = opt("mesos.resourcemanager.declined-offer-refuse-duration", "5 s",
            "How long Mesos withholds a declined offer's resources from the framework (plain numbers are milliseconds).");
        MESOS_RESOURCEMANAGER_UNUSED_OFFER_EXPIRATION: Duration = opt("mesos.resourcemanager.unused-offer-expiration", "2 min",
            "Accepted for compatibility with Flink and ignored: strom declines every offer it cannot use at once (with `declined-offer-refuse-duration`) instead of holding it.");
        MESOS_RESOURCEMANAGER_TASKS_PORT_ASSIGNMENTS: Vec<String> = opt("mesos.resourcemanager.tasks.port-assignments", "",
            "Comma-separated extra configuration keys that each get a port from the offer, besides the TaskManager RPC and data ports.");
        MESOS_RESOURCEMANAGER_TASKS_CPUS: f64 = opt("mesos.resourcemanager.tasks.cpus", "0.0",
            "CPUs per TaskManager, used when `taskmanager.cpu.cores` is unset and this is positive; else the slot count.");
        MESOS_RESOURCEMANAGER_TASKS_GPUS: u32 = opt("mesos.resourcemanager.tasks.gpus", "0",
            "GPUs per TaskManager.");
        MESOS_RESOURCEMANAGER_TASKS_DISK: u64 = opt("mesos.resourcemanager.tasks.disk", "0",
            "Disk in MB per TaskManager; 0 requests no disk resource.");
        MESOS_RESOURCEMANAGER_TASKS_NETWORK_BANDWIDTH: u64 = opt("mesos.resourcemanager.tasks.network.bandwidth", "0",
            "Network bandwidth in Mb/s per TaskManager; 0 requests none.");
        MESOS_RESOURCEMANAGER_NETWORK_RESOURCE_NAME: String = opt("mesos.resourcemanager.network.resource.name", "network",
            "Name of the network bandwidth scalar resource in offers.");
        MESOS_RESOURCEMANAGER_TASKS_CONTAINER_TYPE: String = opt("mesos.resourcemanager.tasks.container.type", "mesos",
            "Containerizer of TaskManager tasks: `mesos` (UCR) or `docker`.")
            .with_allowed_values(&["mesos", "docker"]);
        MESOS_RESOURCEMANAGER_TASKS_CONTAINER_IMAGE_NAME: Option<String> = opt_none("mesos.resourcemanager.tasks.container.image.name",
            "Container image of TaskManager tasks; required with the `docker` container type.");
        MESOS_RESOURCEMANAGER_TASKS_CONTAINER_DOCKER_FORCE_PULL_IMAGE: bool = opt("mesos.resourcemanager.tasks.container.docker.force-pull-image", "false",
            "Whether Docker pulls the image even when it is cached.");
        MESOS_RESOURCEMANAGER_TASKS_CONTAINER_DOCKER_PARAMETERS: Vec<String> = opt("mesos.resourcemanager.tasks.container.docker.parameters", "",
            "Comma-separated `key=value` parameters passed to `docker run`.");
        MESOS_RESOURCEMANAGER_TASKS_CONTAINER_DOCKER_NETWORK: String = opt("mesos.resourcemanager.tasks.container.docker.network", "HOST",
            "Network of Docker TaskManager containers: `HOST` (the agent's network), `BRIDGE` (Docker's bridge; the TaskManager's offered ports are published with the same number on the agent and `taskmanager.host` defaults to the agent's hostname) or `USER` (the user-defined network `...docker.network.name`, published as with `BRIDGE`).")
            .with_allowed_values(&["HOST", "BRIDGE", "USER"]);
        MESOS_RESOURCEMANAGER_TASKS_CONTAINER_DOCKER_NETWORK_NAME: Option<String> = opt_none("mesos.resourcemanager.tasks.container.docker.network.name",
            "Name of the user-defined Docker network TaskManagers join; required with, and only used with, `mesos.resourcemanager.tasks.container.docker.network: USER`.");
        MESOS_RESOURCEMANAGER_TASKS_CONTAINER_VOLUMES: Vec<String> = opt("mesos.resourcemanager.tasks.container.volumes", "",
            "Comma-separated volumes as `[host_path:]container_path[:RO|RW]`.");
        MESOS_CONSTRAINTS_HARD_HOSTATTRIBUTE: Vec<String> = opt("mesos.constraints.hard.hostattribute", "",
            "Comma-separated `attribute:value` constraints an agent must meet, e.g. `az:eu-west-1a`.");
        MESOS_RESOURCEMANAGER_TASKS_BOOTSTRAP_CMD: Option<String> = opt_none("mesos.resourcemanager.tasks.bootstrap-cmd",
            "Shell command run before the TaskManager starts, e.g. to wait for DNS.");
        MESOS_RESOURCEMANAGER_TASKS_TASKMANAGER_CMD: Option<String> = opt_none("mesos.resourcemanager.tasks.taskmanager-cmd",
            "Command that starts a TaskManager inside the task; defaults to the fetched strom binary.");
        MESOS_RESOURCEMANAGER_TASKS_URIS: Vec<String> = opt("mesos.resourcemanager.tasks.uris", "",
            "Comma-separated extra URIs the Mesos fetcher downloads into each TaskManager sandbox.");
        MESOS_RESOURCEMANAGER_TASKS_HOSTNAME: Option<String> = opt_none("mesos.resourcemanager.tasks.hostname",
            "Value for `taskmanager.host`, with `_TASK_` replaced by the Mesos task ID.");
        MESOS_RESOURCEMANAGER_TASKS_USER: Option<String> = opt_none("mesos.resourcemanager.tasks.user",
            "User TaskManager tasks run as; defaults to the framework user.");
        MESOS_RESOURCEMANAGER_TASKS_LABELS: Vec<String> = opt("mesos.resourcemanager.tasks.labels", "",
            "Comma-separated `key:value` labels attached to TaskManager tasks.");
    }
}

/// Keys that Flink removed; setting them gives a warning that says what replaced them.
pub(crate) const REMOVED_KEYS: &[(&str, &str)] = &[
    ("mesos.initial-tasks", "workers are started on demand"),
    (
        "mesos.maximum-failed-tasks",
        "see `resourcemanager.start-worker.max-failure-rate`",
    ),
];

/// Every registered option, in documentation order.
pub fn all_options() -> impl Iterator<Item = &'static OptionSpec> {
    ALL.iter().copied()
}

/// Flink keys that have no meaning in strom, and why: a key, or a prefix ending in `.`. A
/// registered key under one of these prefixes is not ignored.
pub const IGNORED_KEYS: &[(&str, &str)] = &[
    ("env.java.", "strom runs no JVM"),
    ("env.hadoop.conf.dir", "strom reads no Hadoop configuration"),
    ("akka.", "strom's RPC is not Akka; see `heartbeat.*`"),
    ("pekko.", "strom's RPC is not Pekko; see `heartbeat.*`"),
    ("classloader.", "strom loads no Java classes"),
    (
        "blob.",
        "there is no BLOB server: TaskManagers fetch from the artifact server",
    ),
    ("query.", "there is no queryable state"),
    (
        "jobmanager.execution.failover-strategy",
        "a failure restarts the whole job, as Flink's `full`",
    ),
    (
        "jobmanager.memory.",
        "JVM memory components; strom sizes from `jobmanager.memory.process.size`",
    ),
    (
        "taskmanager.memory.",
        "JVM memory components; strom sizes from `taskmanager.memory.process.size`",
    ),
    (
        "state.backend.incremental",
        "checkpoints are full snapshots",
    ),
    (
        "state.backend.rocksdb.",
        "the `embedded-lsm` backend takes no RocksDB options",
    ),
    ("io.tmp.dirs", "strom spills nothing to local disk"),
    ("web.tmpdir", "strom unpacks no jars"),
    ("web.upload.dir", "strom takes no jar uploads"),
    ("fs.", "object stores are configured with `s3.*`"),
    (
        "security.ssl.internal.",
        "connections inside the cluster are authenticated with `security.cluster.secret`, not encrypted",
    ),
];

/// Flink's deprecated names of options, read as the new key, with a warning naming it. The
/// value is mapped as Flink maps it (`state.backend: filesystem` is the `hashmap` backend).
pub const RENAMED_KEYS: &[(&str, &str)] = &[
    ("state.backend", "state.backend.type"),
    ("jobmanager.heap.size", "jobmanager.memory.process.size"),
    ("taskmanager.heap.size", "taskmanager.memory.process.size"),
    ("high-availability", "high-availability.type"),
    ("restart-strategy", "restart-strategy.type"),
    (
        "mesos.resourcemanager.tasks.mem",
        "taskmanager.memory.process.size",
    ),
];

/// The value of renamed key `key` under its new name.
pub(crate) fn renamed_value(key: &str, value: &str) -> String {
    match (key, value.trim().to_ascii_lowercase().as_str()) {
        ("state.backend", "filesystem" | "jobmanager" | "memory") => "hashmap".to_owned(),
        // Flink's Mesos key is in megabytes.
        ("mesos.resourcemanager.tasks.mem", v) if v.parse::<u64>().is_ok() => format!("{v}m"),
        _ => value.trim().to_owned(),
    }
}

/// How a key relates to the registry.
pub(crate) enum KeyMatch {
    /// The key of a registered option, or one of its fallback keys.
    Option(&'static OptionSpec),
    /// A key under a registered prefix option.
    Prefix,
    /// A key Flink removed, with a hint.
    Removed(&'static str),
    /// A Flink key without meaning in strom, and why.
    Ignored(&'static str),
    /// Not a known key.
    Unknown,
}

pub(crate) fn lookup(key: &str) -> KeyMatch {
    if let Some(spec) = ALL.iter().find(|spec| !spec.prefix && spec.key == key) {
        return KeyMatch::Option(spec);
    }
    if let Some(spec) = ALL
        .iter()
        .find(|spec| !spec.prefix && spec.fallback_keys.contains(&key))
    {
        return KeyMatch::Option(spec);
    }
    if ALL
        .iter()
        .any(|spec| spec.prefix && key.len() > spec.key.len() && key.starts_with(spec.key))
    {
        return KeyMatch::Prefix;
    }
    if let Some((_, hint)) = REMOVED_KEYS.iter().find(|(removed, _)| *removed == key) {
        return KeyMatch::Removed(hint);
    }
    let ignored = IGNORED_KEYS
        .iter()
        .find(|(ignored, _)| *ignored == key || ignored.ends_with('.') && key.starts_with(ignored));
    match ignored {
        Some((_, why)) => KeyMatch::Ignored(why),
        None => KeyMatch::Unknown,
    }
}

/// The registered key closest to `key`, if it is close enough to be a likely typo.
pub(crate) fn closest_key(key: &str) -> Option<&'static str> {
    let max_distance = (key.chars().count() / 4).clamp(1, 4);
    ALL.iter()
        .filter(|spec| !spec.prefix)
        .map(|spec| (strsim::damerau_levenshtein(key, spec.key), spec.key))
        .filter(|(distance, _)| *distance <= max_distance)
        .min()
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn keys_are_unique_and_defaults_are_valid() {
        let mut seen = HashSet::new();
        for spec in all_options() {
            assert!(seen.insert(spec.key), "duplicate key {}", spec.key);
            assert!(!spec.section.is_empty(), "{} has no section", spec.key);
            assert!(
                spec.description.ends_with('.') && !spec.description.is_empty(),
                "{} needs a one-sentence description",
                spec.key
            );
            if let Some(default) = spec.default {
                assert_eq!(
                    spec.validate(default),
                    Ok(default.to_owned()),
                    "{}",
                    spec.key
                );
            }
            assert_eq!(spec.prefix, spec.key.ends_with('.'), "{}", spec.key);
        }
        for spec in all_options() {
            for fallback in spec.fallback_keys {
                let owner = ALL.iter().find(|s| s.key == *fallback);
                assert!(
                    owner.is_none_or(
                        |owner| owner.type_name == spec.type_name || spec.type_name == "String"
                    ),
                    "fallback {fallback} of {} has another type",
                    spec.key
                );
            }
        }
    }

    #[test]
    fn typed_constants_read_their_defaults() {
        assert_eq!(REST_PORT.default_value(), 8081);
        assert_eq!(
            TASKMANAGER_MEMORY_PROCESS_SIZE.default_value(),
            MemorySize::from_mebibytes(1728)
        );
        assert_eq!(HEARTBEAT_TIMEOUT.default_value(), Duration::from_secs(50));
        assert_eq!(JOBMANAGER_RPC_ADDRESS.default_value(), "localhost");
        assert_eq!(MESOS_MASTER.default_value(), None);
        assert_eq!(PIPELINE_MAX_PARALLELISM.default_value(), -1);
        assert!(MESOS_RESOURCEMANAGER_TASKS_URIS.default_value().is_empty());
    }

    #[test]
    fn registers_every_mesos_option_of_the_reference() {
        let keys: HashSet<&str> = all_options().map(OptionSpec::key).collect();
        for key in [
            "mesos.master",
            "mesos.failover-timeout",
            "mesos.resourcemanager.framework.name",
            "mesos.resourcemanager.framework.role",
            "mesos.resourcemanager.framework.principal",
            "mesos.resourcemanager.framework.secret",
            "mesos.resourcemanager.framework.user",
            "mesos.resourcemanager.artifactserver.port",
            "mesos.resourcemanager.artifactserver.ssl.enabled",
            "mesos.resourcemanager.declined-offer-refuse-duration",
            "mesos.resourcemanager.unused-offer-expiration",
            "mesos.resourcemanager.tasks.port-assignments",
            "mesos.resourcemanager.tasks.cpus",
            "mesos.resourcemanager.tasks.gpus",
            "mesos.resourcemanager.tasks.disk",
            "mesos.resourcemanager.tasks.network.bandwidth",
            "mesos.resourcemanager.network.resource.name",
            "mesos.resourcemanager.tasks.container.type",
            "mesos.resourcemanager.tasks.container.image.name",
            "mesos.resourcemanager.tasks.container.docker.force-pull-image",
            "mesos.resourcemanager.tasks.container.docker.parameters",
            "mesos.resourcemanager.tasks.container.volumes",
            "mesos.constraints.hard.hostattribute",
            "mesos.resourcemanager.tasks.bootstrap-cmd",
            "mesos.resourcemanager.tasks.taskmanager-cmd",
            "mesos.resourcemanager.tasks.uris",
            "mesos.resourcemanager.tasks.hostname",
            "mesos.resourcemanager.tasks.user",
            "mesos.resourcemanager.tasks.labels",
        ] {
            assert!(keys.contains(key), "{key} is not registered");
        }
    }

    #[test]
    fn lookup_resolves_fallbacks_prefixes_and_removed_keys() {
        assert!(
            matches!(lookup("high-availability"), KeyMatch::Option(s) if s.key == "high-availability.type")
        );
        assert!(
            matches!(lookup("jobmanager.rpc.address"), KeyMatch::Option(s) if s.key == "jobmanager.rpc.address")
        );
        assert!(matches!(
            lookup("containerized.taskmanager.env.FOO"),
            KeyMatch::Prefix
        ));
        assert!(matches!(
            lookup("containerized.taskmanager.env."),
            KeyMatch::Unknown
        ));
        assert!(matches!(
            lookup("metrics.reporter.prom.port"),
            KeyMatch::Option(_)
        ));
        assert!(matches!(
            lookup("metrics.reporter.prom.factory.class"),
            KeyMatch::Prefix
        ));
        assert!(matches!(
            lookup("mesos.initial-tasks"),
            KeyMatch::Removed(_)
        ));
        assert!(matches!(lookup("rest.prot"), KeyMatch::Unknown));
    }

    #[test]
    fn suggests_only_close_keys() {
        assert_eq!(closest_key("rest.prot"), Some("rest.port"));
        assert_eq!(closest_key("mesos.mastr"), Some("mesos.master"));
        assert_eq!(
            closest_key("taskmanager.numberOfTaskSlot"),
            Some("taskmanager.numberOfTaskSlots")
        );
        assert_eq!(closest_key("env.java.opts"), None);
        assert_eq!(closest_key("completely.different.thing"), None);
    }
}
