#!/usr/bin/env python3
"""Application master failover on the real Mesos 1.11 with ZooKeeper high availability.

Starts a real ZooKeeper and a Mesos master, an HA `strom mesos-appmaster` (release build), and a job
of parallelism P (P TaskManager tasks of 1 slot) that runs until cancelled; once it is RUNNING:
  * restart: `kill -9` the leader and start a new application master on the same REST port (as
    Marathon or systemd restart a master in place); time from the kill to the job and all its subtasks RUNNING again on
    the new master, with the same framework and the same TaskManagers (no extra Mesos task);
  * standby: a second application master on another port waits as standby; `kill -9` the leader;
    time from the kill to the job RUNNING on the standby, which first waits for the dead leader's
    ZooKeeper session to expire (`--session-timeout`).
Each mode is repeated `--runs` times on the same cluster (each new master is the next one killed).
Usage: bench/mesos_failover.py [--runs R] [--parallelism P] [--session-timeout "4 s"] [--mode restart|standby|both]
STROM_BIN names the strom binary (default: $CARGO_TARGET_DIR/release/strom).
"""
import argparse, os, shutil, statistics, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mesos_common import (AppMaster, Mesos, ZooKeeper, check_release_build, free_port, job_file, redirects, rss_kib,
                          wait_for)


def ha_options(zookeeper, storage, session_timeout):
    return ["-Dhigh-availability.type=zookeeper", "-Dhigh-availability.cluster-id=bench-failover",
            f"-Dhigh-availability.zookeeper.quorum={zookeeper.connect_string}",
            f"-Dhigh-availability.storageDir={storage}",
            f"-Dhigh-availability.zookeeper.client.session-timeout={session_timeout}"]


def running_tasks(mesos):
    return [t for f in mesos.state()["frameworks"] for t in f["tasks"] if t["state"] == "TASK_RUNNING"]


def job_running(am, job):
    """The job RUNNING with every subtask RUNNING (deployed again on the TaskManagers)."""
    state = am.get(f"/jobs/{job}")
    if state is None or state.get("state") != "RUNNING":
        return False
    counts = state.get("status-counts") or {}
    return counts.get("RUNNING", 0) > 0 and counts.get("RUNNING", 0) == sum(counts.values())


def wait_job_running(am, job, what, limit=60):
    try:
        wait_for(what, lambda: job_running(am, job), limit)
    except TimeoutError as e:
        raise SystemExit(f"{e}\n{am.log_text()[-3000:]}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--parallelism", type=int, default=2)
    parser.add_argument("--session-timeout", default="4 s")
    parser.add_argument("--mode", choices=["restart", "standby", "both"], default="both")
    args = parser.parse_args()
    check_release_build()
    home = tempfile.mkdtemp(prefix="strom-bench-failover-")
    storage = os.path.join(home, "ha")
    os.makedirs(storage)
    zookeeper = ZooKeeper()
    p = args.parallelism
    mesos = Mesos(1, f"cpus:{max(4, p)};mem:{max(2048, 320 * p)};disk:8192;ports:[31000-32000]")
    masters = []
    count = 0

    def start(port):
        nonlocal count
        count += 1
        am = AppMaster(mesos, port, os.path.join(home, f"am-{count}.log"),
                       ha_options(zookeeper, storage, args.session_timeout))
        masters.append(am)
        return am

    results = {"restart": [], "standby": []}
    try:
        port = free_port()
        leader = start(port)
        leader.wait_rest()
        job = leader.submit(job_file(home, p))
        wait_job_running(leader, job, "the job to run")
        framework = mesos.state()["frameworks"][0]["id"]
        tasks = sorted(t["id"] for t in running_tasks(mesos))
        am_rss = rss_kib(leader.child.pid)
        modes = ["restart", "standby"] if args.mode == "both" else [args.mode]
        for mode in modes:
            for _ in range(args.runs):
                if mode == "restart":
                    leader.kill9()
                    killed = time.time()
                    leader = start(port)
                else:
                    standby = start(free_port())
                    wait_for("the standby to redirect to the leader", lambda: redirects(f"http://{standby.rest}/overview"), 30)
                    leader.kill9()
                    killed = time.time()
                    leader = standby
                wait_job_running(leader, job, f"{mode}: the job to run again")
                results[mode].append(time.time() - killed)
                after = sorted(t["id"] for t in running_tasks(mesos))
                frameworks = [f["id"] for f in mesos.state()["frameworks"]]
                if frameworks != [framework] or after != tasks:
                    raise SystemExit(f"{mode}: framework {frameworks} / tasks {after}, expected [{framework}] / {tasks}")
        print(f"machine: {os.cpu_count()} cores; Mesos 1.11 local master + 1 agent; ZooKeeper 3.8 standalone; "
              f"job parallelism {p} (TaskManagers of 1 slot); session timeout {args.session_timeout}; "
              f"AM RSS with the job running {am_rss / 1024:.1f} MiB")
        print("| failover | runs | kill -9 → job RUNNING (min / median / max) |")
        print("|----------|-----:|-------------------------------------------:|")
        for mode in modes:
            t = sorted(results[mode])
            print(f"| {mode:<8} | {len(t):>4} | {t[0]:.2f} / {statistics.median(t):.2f} / {t[-1]:.2f} s |")
    finally:
        for am in masters:
            am.stop()
        mesos.stop()
        zookeeper.stop()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
