//! Job and cluster clients over the REST API: `strom run`, `list`, `info`, `cancel`,
//! `savepoint`, `cluster stop`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, anyhow};
use serde_json::Value;
use strom_config::{Configuration, options};

use crate::cli::{CancelArgs, ClusterArgs, JobArgs, RunArgs};
use crate::cluster::{describe_sinks, load_job, report_outcome};
use crate::progress::{self, Progress};

/// A client of the cluster's REST API.
#[derive(Clone)]
pub(crate) struct Rest {
    pub(crate) base: String,
    pub(crate) http: reqwest::Client,
    token: Option<String>,
}

/// How long a client waits for a starting JobManager (503) before giving up.
const STARTING_WAIT: Duration = Duration::from_secs(30);

impl Rest {
    pub(crate) fn new(config: &Configuration, args: &ClusterArgs) -> anyhow::Result<Self> {
        let address = match &args.jobmanager {
            Some(address) => address.clone(),
            None => format!(
                "{}:{}",
                config
                    .get(&options::REST_ADDRESS)
                    .unwrap_or_else(|| "localhost".into()),
                config.get(&options::REST_PORT)
            ),
        };
        let base = if address.starts_with("http://") || address.starts_with("https://") {
            address.trim_end_matches('/').to_owned()
        } else {
            format!("{}://{address}", crate::tls::rest_scheme(config))
        };
        let http = crate::tls::rest_client(config)?;
        let token = config
            .get(&options::REST_AUTH_TOKEN)
            .filter(|t| !t.is_empty());
        Ok(Self { base, http, token })
    }

    /// Sends `request`; while the JobManager answers 503 (it is starting, or a standby that
    /// knows no leader yet) the request is sent again, for up to [`STARTING_WAIT`].
    pub(crate) async fn send(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> anyhow::Result<Value> {
        let request = match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        let deadline = tokio::time::Instant::now() + STARTING_WAIT;
        let (status, body) = loop {
            let attempt = request
                .try_clone()
                .ok_or_else(|| anyhow!("{what}: the request cannot be sent again"))?;
            let response = attempt
                .send()
                .await
                .with_context(|| format!("cannot reach the cluster at {}", self.base))?;
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            if status != reqwest::StatusCode::SERVICE_UNAVAILABLE
                || tokio::time::Instant::now() >= deadline
            {
                break (status, body);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        if status.is_success() {
            return Ok(body);
        }
        let errors = body["errors"]
            .as_array()
            .map(|e| {
                e.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default();
        Err(anyhow!("{what} failed ({status}): {errors}"))
    }

    pub(crate) async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(
            self.http.get(format!("{}{path}", self.base)),
            &format!("GET {path}"),
        )
        .await
    }
}

/// `strom run JOB`.
pub(crate) async fn run(
    config: &Configuration,
    args: RunArgs,
    dynamic: &[String],
) -> anyhow::Result<ExitCode> {
    let Some(mut job) = load_job(&args.job).await? else {
        return Ok(ExitCode::SUCCESS);
    };
    for flag in dynamic {
        let (key, value) = strom_config::parse_dynamic_flag(flag)?;
        // Client credentials such as `rest.auth.token` are not job options.
        if !strom_config::is_sensitive(key) {
            job.config.insert(key.to_owned(), value.to_owned());
        }
    }
    if let Some(path) = &args.from_savepoint {
        let path = std::path::absolute(path)
            .with_context(|| format!("bad savepoint path {}", path.display()))?;
        job.config.insert(
            options::EXECUTION_SAVEPOINT_PATH.key().to_owned(),
            path.to_string_lossy().into_owned(),
        );
    }
    let sinks = describe_sinks(&job);
    let rest = Rest::new(config, &args.cluster)?;
    let body = strom_jobgraph::to_json(&job);
    let request = rest
        .http
        .post(format!("{}/jobs", rest.base))
        .header("content-type", "application/json")
        .body(body);
    let answer = rest.send(request, "job submission").await?;
    let id = answer["jobid"]
        .as_str()
        .ok_or_else(|| anyhow!("the cluster answered without a job id"))?
        .to_owned();
    println!("{id}");
    if args.detached {
        return Ok(ExitCode::SUCCESS);
    }
    let path = format!("/jobs/{id}");
    let progress = progress::follow(|| async {
        let job = rest.get(&path).await?;
        let records = job["vertices"]
            .as_array()
            .map(|vertices| {
                vertices
                    .iter()
                    .filter(|v| {
                        matches!(v["operator"].as_str(), Some("generator" | "file-source"))
                            || v["name"].as_str().is_some_and(|n| n.starts_with("Source:"))
                    })
                    .filter_map(|v| v["metrics"]["write-records"].as_u64())
                    .sum()
            })
            .unwrap_or(0);
        Ok(Progress {
            state: job["state"].as_str().unwrap_or("UNKNOWN").to_owned(),
            records,
            failure: job["failure-cause"]["message"].as_str().map(str::to_owned),
        })
    })
    .await?;
    report_outcome(&id, &progress, &sinks)
}

/// `strom list`.
pub(crate) async fn list(config: &Configuration, args: ClusterArgs) -> anyhow::Result<ExitCode> {
    let jobs = Rest::new(config, &args)?.get("/jobs/overview").await?;
    println!("{:<32}  {:<10}  {:>9}  NAME", "JOB ID", "STATE", "DURATION");
    for job in jobs["jobs"].as_array().into_iter().flatten() {
        println!(
            "{:<32}  {:<10}  {:>8.1}s  {}",
            job["jid"].as_str().unwrap_or(""),
            job["state"].as_str().unwrap_or(""),
            job["duration"].as_i64().unwrap_or(0) as f64 / 1000.0,
            job["name"].as_str().unwrap_or("")
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn check_id(id: &str) -> anyhow::Result<()> {
    id.parse::<strom_jobgraph::JobId>()
        .map(|_| ())
        .map_err(Into::into)
}

/// `strom info JOBID`.
pub(crate) async fn info(config: &Configuration, args: JobArgs) -> anyhow::Result<ExitCode> {
    check_id(&args.job_id)?;
    let job = Rest::new(config, &args.cluster)?
        .get(&format!("/jobs/{}", args.job_id))
        .await?;
    println!(
        "job {} ({})",
        job["jid"].as_str().unwrap_or(""),
        job["name"].as_str().unwrap_or("")
    );
    println!("state: {}", job["state"].as_str().unwrap_or(""));
    if let Some(cause) = job["failure-cause"]["message"].as_str() {
        println!("failure: {cause}");
    }
    println!(
        "{:<16} {:<12} {:>11} {:>10} {:>14} {:>14}",
        "VERTEX", "OPERATOR", "PARALLELISM", "STATE", "RECORDS IN", "RECORDS OUT"
    );
    for v in job["vertices"].as_array().into_iter().flatten() {
        println!(
            "{:<16} {:<12} {:>11} {:>10} {:>14} {:>14}",
            v["id"].as_str().unwrap_or(""),
            v["operator"].as_str().unwrap_or(""),
            v["parallelism"].as_u64().unwrap_or(0),
            v["status"].as_str().unwrap_or(""),
            v["metrics"]["read-records"].as_u64().unwrap_or(0),
            v["metrics"]["write-records"].as_u64().unwrap_or(0)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `strom savepoint JOBID [DIR]` and `strom cancel --with-savepoint`: triggers a savepoint, waits
/// for it and prints its folder.
pub(crate) async fn savepoint(
    config: &Configuration,
    args: &JobArgs,
    dir: Option<String>,
    cancel: bool,
) -> anyhow::Result<ExitCode> {
    check_id(&args.job_id)?;
    let rest = Rest::new(config, &args.cluster)?;
    let mut body = serde_json::json!({ "cancel-job": cancel });
    if let Some(dir) = dir.filter(|d| !d.is_empty()) {
        // A local folder is the client's: made absolute here. A URL (`s3://...`) is kept.
        let dir = match strom_storage::StorageUri::parse(&dir) {
            Ok(strom_storage::StorageUri::Local(path)) => path.display().to_string(),
            _ => dir,
        };
        body["target-directory"] = Value::String(dir);
    }
    let request = rest
        .http
        .post(format!("{}/jobs/{}/savepoints", rest.base, args.job_id))
        .json(&body);
    let answer = rest.send(request, "savepoint").await?;
    let trigger = answer["request-id"]
        .as_str()
        .ok_or_else(|| anyhow!("the cluster answered without a request id"))?
        .to_owned();
    eprintln!("triggered savepoint of job {} ({trigger})", args.job_id);
    let location = await_savepoint(&rest, &args.job_id, &trigger).await?;
    println!("{location}");
    if cancel {
        eprintln!("savepoint complete; job {} is being cancelled", args.job_id);
    }
    Ok(ExitCode::SUCCESS)
}

/// Waits for savepoint `trigger` of job `id` (an hour at most) and returns its location.
pub(crate) async fn await_savepoint(
    rest: &Rest,
    id: &str,
    trigger: &str,
) -> anyhow::Result<String> {
    let path = format!("/jobs/{id}/savepoints/{trigger}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3600);
    loop {
        let status = rest.get(&path).await?;
        if status["status"]["id"] == "COMPLETED" {
            if let Some(location) = status["operation"]["location"].as_str() {
                return Ok(location.to_owned());
            }
            return Err(anyhow!(
                "savepoint of job {id} completed without a location: {status}"
            ));
        }
        if std::time::Instant::now() > deadline {
            return Err(anyhow!(
                "savepoint of job {id} did not complete within an hour"
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// `strom cancel JOBID [--with-savepoint [DIR]]`.
pub(crate) async fn cancel(config: &Configuration, args: CancelArgs) -> anyhow::Result<ExitCode> {
    if let Some(dir) = args.with_savepoint {
        return savepoint(config, &args.job, Some(dir), true).await;
    }
    let args = args.job;
    check_id(&args.job_id)?;
    let rest = Rest::new(config, &args.cluster)?;
    let url = format!("{}/jobs/{}?mode=cancel", rest.base, args.job_id);
    rest.send(rest.http.patch(url), "cancel").await?;
    eprintln!("cancelling job {}", args.job_id);
    Ok(ExitCode::SUCCESS)
}

/// `strom cluster stop`: ends the whole cluster (`DELETE /cluster`), unlike a SIGTERM to a highly
/// available master, which stops that master only.
pub(crate) async fn stop_cluster(
    config: &Configuration,
    args: ClusterArgs,
) -> anyhow::Result<ExitCode> {
    let rest = Rest::new(config, &args)?;
    rest.send(
        rest.http.delete(format!("{}/cluster", rest.base)),
        "cluster shutdown",
    )
    .await?;
    eprintln!("cluster at {} is shutting down", rest.base);
    Ok(ExitCode::SUCCESS)
}
