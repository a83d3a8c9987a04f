//! The text pages of Flink's dashboard, for the JobManager and each TaskManager: the log
//! (`/jobmanager/log`, `/taskmanagers/:id/log`), the log list and its one file (`.../logs`,
//! `.../logs/:name`), standard output (`.../stdout`) and the thread dump (`.../thread-dump`).
//!
//! Flink answers log files from disk; strom processes keep their newest log lines in memory
//! (TaskManagers send theirs over their connection when asked) and list them as one file,
//! `jobmanager.log` or `taskmanager.log`. Standard output and threads come from the process
//! itself ([`strom_metrics::introspect`]). Profiling (`/profiler`) is not offered: the
//! dashboard then says, as for a Flink cluster without `rest.profiling.enabled`, how to turn it
//! on, which strom does not have.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde_json::{Value, json};
use strom_metrics::introspect;
use strom_rpc::TextKind;
use strom_runtime::JobManagerHandle;

use crate::RestOptions;
use crate::error::ApiError;

/// How long a TaskManager has to send a text.
const ASK_TIMEOUT: Duration = Duration::from_secs(5);

const JOBMANAGER_LOG: &str = "jobmanager.log";
const TASKMANAGER_LOG: &str = "taskmanager.log";

fn text(body: String) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body)
}

fn lines_text(lines: &[String]) -> String {
    let mut text = lines.join("\n");
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// Flink's log list: one file, its size and (the log being live) the time now.
fn log_list(name: &str, size: usize) -> Json<Value> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    Json(json!({ "logs": [{ "name": name, "size": size, "mtime": now }] }))
}

/// Flink's thread-dump answer.
fn thread_dump(entries: Vec<String>) -> Json<Value> {
    let infos: Vec<Value> = entries
        .into_iter()
        .map(|info| {
            let name = info
                .strip_prefix('"')
                .and_then(|rest| rest.split_once("\" Id="))
                .map_or("", |(name, _)| name)
                .to_owned();
            json!({ "threadName": name, "stringifiedThreadInfo": info })
        })
        .collect();
    Json(json!({ "threadInfos": infos }))
}

async fn ask(jm: &JobManagerHandle, id: &str, kind: TextKind) -> Result<Vec<String>, ApiError> {
    jm.taskmanager_text(id.to_owned(), kind, ASK_TIMEOUT)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("TaskManager {id} not found")))
}

fn jobmanager_lines(rest: &RestOptions) -> Vec<String> {
    match &rest.log {
        Some(log) => log(),
        None => vec!["(this JobManager keeps no log in memory: see its standard error)".into()],
    }
}

pub(crate) async fn jobmanager_log(Extension(rest): Extension<RestOptions>) -> impl IntoResponse {
    text(lines_text(&jobmanager_lines(&rest)))
}

pub(crate) async fn jobmanager_logs(Extension(rest): Extension<RestOptions>) -> Json<Value> {
    log_list(JOBMANAGER_LOG, lines_text(&jobmanager_lines(&rest)).len())
}

pub(crate) async fn jobmanager_log_file(
    Extension(rest): Extension<RestOptions>,
    Path(name): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    if name != JOBMANAGER_LOG {
        return Err(ApiError::not_found(format!(
            "no log file `{name}`; the JobManager has `{JOBMANAGER_LOG}`"
        )));
    }
    Ok(text(lines_text(&jobmanager_lines(&rest))))
}

pub(crate) async fn jobmanager_stdout() -> impl IntoResponse {
    text(introspect::stdout_tail(introspect::STDOUT_TAIL_BYTES))
}

pub(crate) async fn jobmanager_thread_dump() -> Json<Value> {
    thread_dump(
        introspect::threads()
            .iter()
            .map(introspect::ThreadInfo::stringified)
            .collect(),
    )
}

/// `/taskmanagers/:id/log`: the TaskManager's newest log lines, as text.
pub(crate) async fn taskmanager_log(
    State(jm): State<JobManagerHandle>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(text(lines_text(&ask(&jm, &id, TextKind::Log).await?)))
}

pub(crate) async fn taskmanager_logs(
    State(jm): State<JobManagerHandle>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let lines = ask(&jm, &id, TextKind::Log).await?;
    Ok(log_list(TASKMANAGER_LOG, lines_text(&lines).len()))
}

pub(crate) async fn taskmanager_log_file(
    State(jm): State<JobManagerHandle>,
    Path((id, name)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    if name != TASKMANAGER_LOG {
        return Err(ApiError::not_found(format!(
            "no log file `{name}`; TaskManagers have `{TASKMANAGER_LOG}`"
        )));
    }
    Ok(text(lines_text(&ask(&jm, &id, TextKind::Log).await?)))
}

pub(crate) async fn taskmanager_stdout(
    State(jm): State<JobManagerHandle>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(text(ask(&jm, &id, TextKind::Stdout).await?.concat()))
}

pub(crate) async fn taskmanager_thread_dump(
    State(jm): State<JobManagerHandle>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(thread_dump(ask(&jm, &id, TextKind::ThreadDump).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_dumps_name_each_thread() {
        let Json(dump) = thread_dump(vec![
            "\"main\" Id=7 RUNNABLE\n\tcpu time: 3 ticks\n\n".into(),
            "odd".into(),
        ]);
        assert_eq!(dump["threadInfos"][0]["threadName"], "main");
        assert_eq!(dump["threadInfos"][1]["threadName"], "");
        assert_eq!(lines_text(&["a".into(), "b".into()]), "a\nb\n");
        assert_eq!(lines_text(&[]), "");
    }
}
