//! Offer matching at scale without a cluster: feeds the real [`LaunchCoordinator`] a synthetic
//! stream of offers from 10,000 agents while 1,000 TaskManagers are pending, and prints a table
//! of the matching time per offers event (p50 / p99 / max), the coordinator time to place every
//! TaskManager, the most offers held at once and the peak RSS.
//!
//! Each scenario runs in a child process of its own so that its peak RSS (`VmHWM`) is its own.
//! Offers are built outside the timed section, just before they are fed, so the RSS growth is
//! mostly the coordinator's held offers.
//!
//! Run: `cargo bench -p strom-mesos-scheduler --bench offer_matching [-- --agents N --workers N]`

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use strom_config::Configuration;
use strom_mesos::types::{Attribute, Offer, Resource, Text, ValueType};
use strom_mesos::{AgentId, FrameworkId, OfferId, TaskId};
use strom_mesos_scheduler::{LaunchCoordinator, LaunchRequest, TaskManagerParameters};

/// Racks the agents are spread over (attribute `rack`).
const RACKS: usize = 10;

#[derive(Debug, Clone, Copy)]
enum Scenario {
    /// Every agent has room for one TaskManager.
    AllFit,
    /// One agent in ten has room; the others offer too little memory and are held.
    OneInTenFits,
    /// Every agent has room, but the TaskManagers must run on `rack:r0` (one agent in ten).
    Constrained,
    /// As [`Scenario::OneInTenFits`], in events of 100 offers (a master's allocation cycle).
    OneInTenFitsBatched,
}

impl Scenario {
    const ALL: [Scenario; 4] = [
        Scenario::AllFit,
        Scenario::OneInTenFits,
        Scenario::Constrained,
        Scenario::OneInTenFitsBatched,
    ];

    fn name(self) -> &'static str {
        match self {
            Scenario::AllFit => "all-fit",
            Scenario::OneInTenFits => "1-in-10-fits",
            Scenario::Constrained => "rack-constraint",
            Scenario::OneInTenFitsBatched => "1-in-10-fits-batched",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|scenario| scenario.name() == name)
    }

    fn batch(self) -> usize {
        match self {
            Scenario::OneInTenFitsBatched => 100,
            _ => 1,
        }
    }

    /// Whether agent `index` has room for a TaskManager.
    fn fits(self, index: usize) -> bool {
        match self {
            Scenario::AllFit | Scenario::Constrained => true,
            Scenario::OneInTenFits | Scenario::OneInTenFitsBatched => index % 10 == 9,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Size {
    agents: usize,
    workers: usize,
}

/// A TaskManager of 1 cpu and 1 GiB with the default two ports, from the real configuration.
fn parameters(scenario: Scenario) -> Result<(Configuration, TaskManagerParameters), String> {
    let mut config = Configuration::new();
    let mut set = |key: &str, value: &str| {
        config
            .set(key, value)
            .map_err(|error| format!("{key}: {error}"))
    };
    set("mesos.resourcemanager.tasks.cpus", "1")?;
    set("taskmanager.memory.process.size", "1024m")?;
    if let Scenario::Constrained = scenario {
        set("mesos.constraints.hard.hostattribute", "rack:r0")?;
    }
    let parameters = TaskManagerParameters::from_config(&config).map_err(|e| e.to_string())?;
    Ok((config, parameters))
}

fn offer(scenario: Scenario, index: usize) -> Offer {
    // An agent with room offers 1.5 TaskManagers' worth, a busy one half a TaskManager's memory.
    let mem = if scenario.fits(index) { 1536.0 } else { 512.0 };
    Offer {
        id: OfferId::new(format!("offer-{index}")),
        framework_id: FrameworkId::new("bench"),
        agent_id: AgentId::new(format!("agent-{index}")),
        hostname: format!("agent-{index}.bench"),
        url: None,
        allocation_info: None,
        resources: vec![
            Resource::scalar("cpus", 2.0),
            Resource::scalar("mem", mem),
            Resource::scalar("disk", 8192.0),
            Resource::ranges("ports", [(31000, 32000)]),
        ],
        attributes: vec![Attribute {
            name: "rack".into(),
            kind: ValueType::Text,
            scalar: None,
            ranges: None,
            set: None,
            text: Some(Text {
                value: format!("r{}", index % RACKS),
            }),
        }],
        executor_ids: Vec::new(),
    }
}

struct Outcome {
    events: Vec<Duration>,
    offers_fed: usize,
    placed: usize,
    declined: usize,
    max_held: usize,
    to_place_all: Option<Duration>,
}

fn run(scenario: Scenario, size: Size) -> Result<Outcome, String> {
    let (config, parameters) = parameters(scenario)?;
    let mut coordinator = LaunchCoordinator::from_config(&config).map_err(|e| e.to_string())?;
    let requirements = parameters.requirements();
    for worker in 0..size.workers {
        coordinator.add(LaunchRequest {
            task_id: TaskId::new(format!("taskmanager-{worker}")),
            requirements: requirements.clone(),
        });
    }
    let mut outcome = Outcome {
        events: Vec::new(),
        offers_fed: 0,
        placed: 0,
        declined: 0,
        max_held: 0,
        to_place_all: None,
    };
    let mut busy = Duration::ZERO;
    let now = Instant::now();
    let mut next = 0;
    while next < size.agents {
        let end = (next + scenario.batch()).min(size.agents);
        let offers: Vec<Offer> = (next..end).map(|index| offer(scenario, index)).collect();
        outcome.offers_fed += offers.len();
        next = end;
        let started = Instant::now();
        let decision = coordinator.on_offers(offers, now);
        let took = started.elapsed();
        busy += took;
        outcome.events.push(took);
        outcome.placed += decision
            .launches
            .iter()
            .map(|plan| plan.tasks.len())
            .sum::<usize>();
        outcome.declined += decision.decline.len();
        outcome.max_held = outcome.max_held.max(coordinator.held_offers());
        if outcome.to_place_all.is_none() && outcome.placed == size.workers {
            outcome.to_place_all = Some(busy);
        }
    }
    Ok(outcome)
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// `VmHWM` (peak resident set) of this process, in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

/// Runs one scenario and prints its table row.
fn child(scenario: Scenario, size: Size) -> Result<(), String> {
    let baseline = peak_rss_kib().unwrap_or(0);
    let outcome = run(scenario, size)?;
    let peak = peak_rss_kib().unwrap_or(0);
    let mut sorted = outcome.events.clone();
    sorted.sort();
    let place_all = outcome.to_place_all.map_or_else(
        || format!("{} placed", outcome.placed),
        |took| format!("{:.1} ms", took.as_secs_f64() * 1e3),
    );
    println!(
        "| {:<20} | {:>6} | {:>5} | {:>9.1} | {:>9.1} | {:>9.1} | {:>13} | {:>6} | {:>8} | {:>7.1} MiB | {:>7.1} MiB |",
        scenario.name(),
        outcome.offers_fed,
        scenario.batch(),
        micros(percentile(&sorted, 0.50)),
        micros(percentile(&sorted, 0.99)),
        micros(sorted.last().copied().unwrap_or_default()),
        place_all,
        outcome.max_held,
        outcome.declined,
        peak as f64 / 1024.0,
        peak.saturating_sub(baseline) as f64 / 1024.0,
    );
    Ok(())
}

fn value_of(args: &[String], flag: &str) -> Option<String> {
    args.iter()
        .position(|arg| arg == flag)
        .and_then(|at| args.get(at + 1))
        .cloned()
}

fn count(args: &[String], flag: &str, default: usize) -> Result<usize, String> {
    value_of(args, flag).map_or(Ok(default), |value| {
        value
            .parse()
            .map_err(|_| format!("{flag}: `{value}` is not a count"))
    })
}

fn main() -> ExitCode {
    match main_inner() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("offer_matching: {error}");
            ExitCode::FAILURE
        }
    }
}

fn main_inner() -> Result<(), String> {
    // Cargo passes `--bench`; unknown arguments are ignored.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let size = Size {
        agents: count(&args, "--agents", 10_000)?,
        workers: count(&args, "--workers", 1_000)?,
    };
    if let Some(name) = value_of(&args, "--scenario") {
        let scenario =
            Scenario::parse(&name).ok_or_else(|| format!("--scenario: unknown `{name}`"))?;
        return child(scenario, size);
    }
    println!(
        "{} agents, one offer each; {} pending TaskManagers (1 cpu, 1 GiB, 2 ports); times per offers event",
        size.agents, size.workers
    );
    println!(
        "| scenario             | offers | batch |   p50 µs |   p99 µs |   max µs | to place all  |   held | declined |   peak RSS  | RSS growth  |"
    );
    println!(
        "|----------------------|-------:|------:|---------:|---------:|---------:|--------------:|-------:|---------:|------------:|------------:|"
    );
    let exe = std::env::current_exe().map_err(|e| format!("current executable: {e}"))?;
    for scenario in Scenario::ALL {
        let status = Command::new(&exe)
            .args(["--scenario", scenario.name()])
            .args(["--agents", &size.agents.to_string()])
            .args(["--workers", &size.workers.to_string()])
            .status()
            .map_err(|e| format!("{}: {e}", exe.display()))?;
        if !status.success() {
            return Err(format!("scenario {} failed: {status}", scenario.name()));
        }
    }
    Ok(())
}
