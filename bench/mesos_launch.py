#!/usr/bin/env python3
"""Scheduler figures on the real Mesos 1.11 from ../shared/mesos.

For each N (TaskManagers of 1 slot, 1 cpu, 256 MiB) it starts a Mesos master with `--agents`
agents sized so the N TaskManagers spread over them, starts `strom mesos-appmaster` (release
build), submits a job of parallelism N as soon as the REST API answers, and reports:
  * AM start -> N TaskManagers registered (wall clock);
  * per TaskManager, offer accepted ("launching taskmanager" log line) -> registered
    (min / median / max);
  * resident memory of the AM with N TaskManagers, and of one TaskManager idle after the job
    is cancelled.
Usage: bench/mesos_launch.py [--agents A] [--runs R] [N ...]   (default: --agents 1, N = 1 4 16)
STROM_BIN names the strom binary (default: $CARGO_TARGET_DIR/release/strom).
"""
import argparse, math, os, re, statistics, sys, tempfile, time, shutil, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mesos_common import AppMaster, Mesos, check_release_build, free_port, job_file, rss_kib, stamp, wait_for


def agent_resources(n, agents):
    # Each agent fits ceil(N / agents) TaskManagers, so the coordinator (which fills an agent
    # before the next) spreads them over ceil(N / per_agent) agents.
    per_agent = math.ceil(n / agents)
    return f"cpus:{per_agent};mem:{max(1024, 320 * per_agent)};disk:8192;ports:[31000-32000]"


def run(n, agents):
    mesos = Mesos(agents, agent_resources(n, agents))
    home = tempfile.mkdtemp(prefix="strom-bench-launch-")
    am = AppMaster(mesos, free_port(), os.path.join(home, "am.log"))
    try:
        am.wait_rest()
        am.submit(job_file(home, n))
        try:
            wait_for(f"N={n}: {n} TaskManagers to register",
                     lambda: (am.get("/overview") or {}).get("taskmanagers", 0) >= n, 120)
        except TimeoutError as e:
            raise SystemExit(f"{e}\n{am.log_text()[-3000:]}")
        registered = time.time() - am.started
        am_rss = rss_kib(am.child.pid)
        tms = am.get("/taskmanagers")["taskmanagers"]
        text = am.log_text()
        launched, joined = {}, {}
        for line in text.splitlines():
            m = re.search(r"launching taskmanager task=(taskmanager-\d+)", line)
            if m:
                launched[m.group(1)] = stamp(line)
            m = re.search(r"taskmanager registered taskmanager=(taskmanager-\d+)", line)
            if m:
                joined[m.group(1)] = stamp(line)
        latencies = sorted(joined[t] - launched[t] for t in joined if t in launched)
        used_agents = len({t.get("slave_id") for t in mesos.state()["frameworks"][0]["tasks"]
                           if t["state"] == "TASK_RUNNING"})
        # Idle TaskManager memory: cancel the job and wait until no slot is taken.
        for j in am.get("/jobs")["jobs"]:
            urllib.request.urlopen(urllib.request.Request(f"http://{am.rest}/jobs/{j['id']}?mode=cancel",
                                                          method="PATCH"), timeout=5)
        wait_for("the slots to be freed", lambda: (am.get("/overview") or {}).get("slots-available") == n, 30)
        tm_rss = [r for r in (rss_kib(t["pid"]) for t in tms if t.get("pid")) if r]
        return dict(n=n, agents=agents, used_agents=used_agents, registered=registered, latencies=latencies,
                    am_rss=am_rss, tm_rss=max(tm_rss) if tm_rss else None)
    finally:
        am.stop()
        mesos.stop()
        shutil.rmtree(home, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1, help="Mesos agents (1..10)")
    parser.add_argument("--runs", type=int, default=1, help="runs per N; the table shows the median run")
    parser.add_argument("n", type=int, nargs="*", default=[1, 4, 16])
    args = parser.parse_args()
    if not 1 <= args.agents <= 10:
        parser.error(f"--agents {args.agents}: must be 1..10")
    check_release_build()
    print(f"machine: {os.cpu_count()} cores; Mesos 1.11 local master + {args.agents} agent(s); "
          "TaskManager = 1 cpu, 256 MiB, 1 slot")
    print("|  N | agents used | AM start → N registered | offer accepted → registered (min / median / max) "
          "| AM RSS | idle TaskManager RSS (max) |")
    print("|---:|------------:|------------------------:|--------------------------------------------------:"
          "|-------:|---------------------------:|")
    for n in args.n:
        runs = sorted((run(n, args.agents) for _ in range(args.runs)), key=lambda r: r["registered"])
        r = runs[len(runs) // 2]
        lat = r["latencies"]
        print(f"| {r['n']:>2} | {r['used_agents']:>2} of {r['agents']:<2} | {r['registered']:>21.2f} s "
              f"| {lat[0]:.2f} / {statistics.median(lat):.2f} / {lat[-1]:.2f} s "
              f"| {(r['am_rss'] or 0) / 1024:.1f} MiB | {(r['tm_rss'] or 0) / 1024:.1f} MiB |", flush=True)


if __name__ == "__main__":
    main()
