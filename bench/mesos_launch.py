#!/usr/bin/env python3
"""Scheduler figures on the real Mesos 1.11 from ../shared/mesos.

For N TaskManagers (1 slot, 1 cpu, 256 MiB each) it starts a Mesos master with enough agents,
starts `strom mesos-appmaster` (release build), submits a job of parallelism N at once, and
reports:
  * AM start -> N TaskManagers registered (wall clock, seconds);
  * per TaskManager, offer accepted ("launching taskmanager" log line) -> registered;
  * resident memory of the AM and of one idle TaskManager.
Usage: bench/mesos_launch.py [N ...]   (default: 2 8)
"""
import json, os, re, shutil, socket, subprocess, sys, tempfile, time, urllib.request
from datetime import datetime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MESOS_SH = os.path.join(ROOT, "..", "shared", "mesos", "mesos.sh")
PREFIX = os.environ.get("STROM_MESOS_PREFIX", os.path.join(tempfile.gettempdir(), "strom-mesos-prefix"))
BIN = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "strom")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None


def stamp(line):
    m = re.match(r"(\S+Z)", line)
    return datetime.fromisoformat(m.group(1).replace("Z", "+00:00")).timestamp() if m else None


def run(n):
    # One agent big enough for N TaskManagers: agents of the local Mesos share one IP address and
    # one port range, so TaskManagers on two of them could be offered the same port.
    agents = 1
    home = tempfile.mkdtemp(prefix="strom-bench-mesos-")
    mport = free_port()
    env = dict(os.environ, PREFIX=PREFIX, MESOS_HOME=home, MESOS_PORT=str(mport), NUM_AGENTS=str(agents), SKIP_APT="1",
               AGENT_RESOURCES=f"cpus:{max(4, n)};mem:{max(4096, 512 * n)};disk:8192;ports:[31000-32000]")
    subprocess.run(["bash", MESOS_SH, "start"], env=env, check=True, capture_output=True)
    rest = free_port()
    log = open(os.path.join(home, "am.log"), "w+")
    job = json.load(open(os.path.join(ROOT, "examples", "unbounded-count.json")))
    job["job"]["config"]["parallelism.default"] = str(n)
    job_file = os.path.join(home, "job.json")
    json.dump(job, open(job_file, "w"))
    t0 = time.time()
    am = subprocess.Popen([BIN, "mesos-appmaster", f"-Dmesos.master=127.0.0.1:{mport}", "-Djobmanager.rpc.address=127.0.0.1",
                           "-Djobmanager.rpc.port=0", f"-Drest.port={rest}", "-Dtaskmanager.numberOfTaskSlots=1",
                           "-Dmesos.resourcemanager.tasks.cpus=1", "-Dtaskmanager.memory.process.size=256m"],
                          stdout=subprocess.DEVNULL, stderr=log, env=dict(os.environ, RUST_LOG="info", NO_COLOR="1"))
    try:
        while True:
            try:
                get(f"http://127.0.0.1:{rest}/overview")
                break
            except OSError:
                time.sleep(0.01)
        subprocess.run([BIN, "run", job_file, "-m", f"127.0.0.1:{rest}", "--detached"], check=True, capture_output=True)
        deadline = time.time() + 120
        while get(f"http://127.0.0.1:{rest}/overview")["taskmanagers"] < n:
            if time.time() > deadline:
                log.flush(); log.seek(0)
                raise SystemExit(f"N={n}: TaskManagers did not register in 120 s\n" + log.read()[-3000:])
            time.sleep(0.01)
        registered = time.time() - t0
        am_rss = rss_kib(am.pid)
        tms = get(f"http://127.0.0.1:{rest}/taskmanagers")["taskmanagers"]
        log.flush(); log.seek(0)
        text = re.sub(r"\x1b\[[0-9;]*m", "", log.read())
        launched, joined = {}, {}
        for line in text.splitlines():
            m = re.search(r"launching taskmanager task=(taskmanager-\d+)", line)
            if m: launched[m.group(1)] = stamp(line)
            m = re.search(r"taskmanager registered taskmanager=(taskmanager-\d+)", line)
            if m: joined[m.group(1)] = stamp(line)
        latencies = sorted(joined[t] - launched[t] for t in joined if t in launched)
        # Idle TaskManager memory: cancel the job, let them idle a moment.
        jobs = get(f"http://127.0.0.1:{rest}/jobs")["jobs"]
        for j in jobs:
            urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{rest}/jobs/{j['id']}?mode=cancel", method="PATCH"))
        time.sleep(1)
        tm_rss = rss_kib(tms[0]["pid"])
        return dict(n=n, agents=agents, registered=registered, lat_min=latencies[0], lat_med=latencies[len(latencies) // 2],
                    lat_max=latencies[-1], am_rss=am_rss, tm_rss=tm_rss)
    finally:
        am.terminate()
        try:
            am.wait(30)
        except subprocess.TimeoutExpired:
            am.kill()
        subprocess.run(["bash", MESOS_SH, "stop"], env=env, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def main():
    ns = [int(a) for a in sys.argv[1:]] or [2, 8]
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "strom"], cwd=ROOT, check=True)
    print(f"machine: {os.cpu_count()} cores; Mesos 1.11 local master+agents; TaskManager = 1 cpu, 256 MiB, 1 slot")
    print(f"{'N':>3} {'agents':>6} {'AM start -> N registered':>25} {'offer->registered min/med/max':>32} {'AM RSS':>9} {'idle TM RSS':>12}")
    for n in ns:
        r = run(n)
        print(f"{r['n']:>3} {r['agents']:>6} {r['registered']:>24.2f}s {r['lat_min']:>13.3f}/{r['lat_med']:.3f}/{r['lat_max']:.3f} s "
              f"{(r['am_rss'] or 0) / 1024:>7.1f}M {(r['tm_rss'] or 0) / 1024:>10.1f}M")


if __name__ == "__main__":
    main()
