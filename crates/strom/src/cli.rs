//! Command-line arguments and the dispatch to each subcommand.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::{client, cluster, mesos, settings};

/// strom: distributed stream processing, deployable on Apache Mesos like Flink was.
#[derive(Debug, Parser)]
#[command(name = "strom", version, about)]
pub(crate) struct Cli {
    /// Configuration file (default: `$STROM_CONF_DIR/strom.yaml` or `$FLINK_CONF_DIR/flink-conf.yaml`, else `conf/strom.yaml`).
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Configuration override `key=value` (repeatable; highest precedence).
    #[arg(short = 'D', global = true, value_name = "KEY=VALUE")]
    pub(crate) dynamic: Vec<String>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Start a JobManager and TaskManagers on this machine; optionally run one job.
    Local(LocalArgs),
    /// Start a JobManager (session cluster; TaskManagers are started as local processes on demand).
    Jobmanager,
    /// Start a TaskManager that registers with `jobmanager.rpc.address`:`jobmanager.rpc.port`.
    Taskmanager,
    /// Submit a job (job-graph file or SQL script) to a running cluster.
    Run(RunArgs),
    /// Compile a SQL script into a job-graph file (for `internal.jobgraph-path`), or show its plan.
    Compile(CompileArgs),
    /// List the jobs of a cluster.
    List(ClusterArgs),
    /// Show a job's state and vertices.
    Info(JobArgs),
    /// Cancel a job (with `--with-savepoint`, after taking a savepoint).
    Cancel(CancelArgs),
    /// Take a savepoint of a running job and print its folder.
    Savepoint(SavepointArgs),
    /// The SQL client (Flink's `sql-client.sh`): an interactive session, or `-f SCRIPT`.
    Sql(crate::sql_client::SqlArgs),
    /// Print the effective configuration (secrets masked), or the reference with `--docs`.
    Config(ConfigArgs),
    /// Operate on a whole cluster (`strom cluster stop`).
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Mesos session cluster: JobManager, REST API, artifact server and the Mesos scheduler.
    MesosAppmaster,
    /// Mesos job cluster: runs the job graph in `internal.jobgraph-path`, then tears down.
    MesosAppmasterJob,
    /// The TaskManager command Mesos runs in each task's sandbox.
    MesosTaskmanager,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ClusterCommand {
    /// End the cluster (`DELETE /cluster`): cancel its jobs, stop its TaskManagers, tear the
    /// Mesos framework down and remove its high-availability data.
    Stop(ClusterArgs),
}

#[derive(Debug, Args)]
pub(crate) struct LocalArgs {
    /// Number of TaskManager processes to start (`local.number-taskmanager`).
    #[arg(long, value_name = "N")]
    pub(crate) taskmanagers: Option<u32>,
    /// Run this job (job-graph file or `.sql` script), wait for it to end, then stop the cluster.
    #[arg(long, value_name = "JOB")]
    pub(crate) run: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct ClusterArgs {
    /// REST address of the cluster (`host:port`); default `rest.address`:`rest.port`.
    #[arg(short = 'm', long = "jobmanager", value_name = "HOST:PORT")]
    pub(crate) jobmanager: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The job-graph file or SQL script (`.sql`).
    pub(crate) job: PathBuf,
    #[command(flatten)]
    pub(crate) cluster: ClusterArgs,
    /// Return after submission instead of following the job.
    #[arg(long, short = 'd')]
    pub(crate) detached: bool,
    /// Restore the job's state from this savepoint or retained checkpoint (its folder or its
    /// `_metadata` file); sets `execution.savepoint.path`.
    #[arg(long = "from-savepoint", short = 's', value_name = "PATH")]
    pub(crate) from_savepoint: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct CompileArgs {
    /// The SQL script.
    pub(crate) script: PathBuf,
    /// Where to write the job graph (JSON); standard output when absent.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
    /// Print the plan (vertices, parallelism, partitioning) instead of the job graph.
    #[arg(long)]
    pub(crate) explain: bool,
}

#[derive(Debug, Args)]
pub(crate) struct JobArgs {
    /// The job id (32 hex digits).
    pub(crate) job_id: String,
    #[command(flatten)]
    pub(crate) cluster: ClusterArgs,
}

#[derive(Debug, Args)]
pub(crate) struct CancelArgs {
    #[command(flatten)]
    pub(crate) job: JobArgs,
    /// Take a savepoint first, into DIR or `state.savepoints.dir`; cancel once it is complete.
    #[arg(long = "with-savepoint", short = 's', value_name = "DIR", num_args = 0..=1, default_missing_value = "")]
    pub(crate) with_savepoint: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct SavepointArgs {
    #[command(flatten)]
    pub(crate) job: JobArgs,
    /// Target folder (default: `state.savepoints.dir`).
    pub(crate) dir: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ConfigArgs {
    /// Print the configuration reference (Markdown) instead.
    #[arg(long)]
    pub(crate) docs: bool,
}

pub(crate) async fn dispatch(
    cli: Cli,
    log_tail: Option<strom_taskmanager::LogTail>,
) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Config(args) if args.docs => {
            print!("{}", strom_config::render_docs_markdown());
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let config = settings::load(&cli)?;
    match cli.command {
        Command::Local(args) => cluster::local(config, args).await,
        Command::Jobmanager => cluster::jobmanager(config).await,
        Command::Taskmanager => cluster::taskmanager(config, log_tail).await,
        Command::Run(args) => client::run(&config, args, &cli.dynamic).await,
        Command::Compile(args) => compile(&config, args).await,
        Command::List(args) => client::list(&config, args).await,
        Command::Info(args) => client::info(&config, args).await,
        Command::Cancel(args) => client::cancel(&config, args).await,
        Command::Savepoint(args) => {
            client::savepoint(&config, &args.job, args.dir.clone(), false).await
        }
        Command::Cluster(ClusterCommand::Stop(args)) => client::stop_cluster(&config, args).await,
        Command::Sql(args) => crate::sql_client::run(&config, args).await,
        Command::MesosAppmaster => mesos::appmaster(config, false).await,
        Command::MesosAppmasterJob => mesos::appmaster(config, true).await,
        Command::MesosTaskmanager => mesos::taskmanager(config, log_tail).await,
        Command::Config(_) => {
            for (key, value) in config.masked() {
                println!("{key}: {value}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `strom compile SCRIPT [-o FILE] [--explain]`.
async fn compile(
    config: &strom_config::Configuration,
    args: CompileArgs,
) -> anyhow::Result<ExitCode> {
    use anyhow::Context as _;
    let compiled = strom_sql::compile_file(&args.script)
        .await
        .with_context(|| format!("cannot compile {}", args.script.display()))?;
    if args.explain || compiled.explain {
        let default = config.get(&strom_config::options::PARALLELISM_DEFAULT);
        let default = compiled
            .graph
            .config
            .get("parallelism.default")
            .and_then(|p| p.parse().ok())
            .or(Some(default));
        print!("{}", strom_sql::explain(&compiled.graph, default));
        if args.output.is_none() {
            return Ok(ExitCode::SUCCESS);
        }
    }
    let json = strom_jobgraph::to_json(&compiled.graph);
    match &args.output {
        Some(path) => {
            std::fs::write(path, json)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("job graph written to {}", path.display());
        }
        None => println!("{json}"),
    }
    Ok(ExitCode::SUCCESS)
}
