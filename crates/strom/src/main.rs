//! `strom`: the command line of the strom stream processor.
//!
//! Cluster processes (`local`, `jobmanager`, `taskmanager`) and job clients (`run`, `list`,
//! `info`, `cancel`) share one binary, so a TaskManager is started — locally or by Mesos — from
//! the very file that runs the master. Errors reach the user through `anyhow` with context;
//! any failure exits with code 1.

mod cli;
mod client;
mod cluster;
mod job_results;
mod mesos;
mod progress;
mod settings;
mod sql_client;
mod tls;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    // TaskManagers are this binary: they run SQL vertices through the extension.
    strom_sql::register();
    let log_tail = settings::init_logging(&cli);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::dispatch(cli, log_tail)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
