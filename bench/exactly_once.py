#!/usr/bin/env python3
"""Exactly-once at scale: tens of millions of records, TaskManagers killed with SIGKILL.

A checkpointed SQL job reads a deterministic bounded `datagen` table (ids 0..N-1 in sequence)
and writes every row into the exactly-once filesystem sink, at parallelism 2. While it runs,
a TaskManager is killed with `kill -9` each time the job has completed a new checkpoint after
its last restore, --kills times. The committed output (visible part files only) is then
checked: the line count, ids seen twice, ids missing, and the sha256 of the sorted ids
against that of `seq 0 N-1`.

--mesos runs on the real Mesos from ../shared/mesos: it starts a master and agent
(`mesos.sh start`), then `strom mesos-appmaster`. The killed TaskManager's task fails, and the
scheduler launches a replacement task. Without --mesos, a `strom local` cluster is used.

Usage: bench/exactly_once.py [--rows N] [--rate R] [--kills K] [--interval "1 s"] [--mesos]
"""
import argparse, hashlib, json, os, signal, socket, subprocess, sys, tempfile, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "strom")
MESOS_SH = os.path.join(ROOT, "..", "shared", "mesos", "mesos.sh")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.load(r)
    except Exception:
        return None


def wait(what, check, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value is not None:
            return value
        time.sleep(0.1)
    sys.exit(f"timed out waiting for {what}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--interval", default="1 s")
    parser.add_argument("--rate", type=int, default=1_000_000,
                        help="rows per second over all subtasks, so that the kills land mid-job")
    parser.add_argument("--mesos", action="store_true")
    args = parser.parse_args()
    if not os.path.exists(BIN):
        subprocess.run(["cargo", "build", "--release", "-p", "strom"], cwd=ROOT, check=True)
    folder = tempfile.mkdtemp(prefix="strom-exactly-once-")
    out = os.path.join(folder, "out")
    script = os.path.join(folder, "job.sql")
    with open(script, "w") as f:
        f.write(f"""
SET 'parallelism.default' = '2';
SET 'execution.checkpointing.interval' = '{args.interval}';
SET 'state.checkpoints.dir' = '{folder}/checkpoints';
SET 'restart-strategy.type' = 'fixed-delay';
SET 'restart-strategy.fixed-delay.attempts' = '100';
SET 'restart-strategy.fixed-delay.delay' = '500 ms';
CREATE TABLE src (id BIGINT, payload STRING) WITH ('connector' = 'datagen',
  'number-of-rows' = '{args.rows}', 'rows-per-second' = '{args.rate}', 'seed' = '11',
  'fields.id.kind' = 'sequence', 'fields.id.start' = '0', 'fields.payload.length' = '8');
CREATE TABLE sink (id BIGINT, payload STRING) WITH ('connector' = 'filesystem', 'path' = '{out}', 'format' = 'csv');
INSERT INTO sink SELECT id, payload FROM src;
""")
    port = free_port()
    mesos_env = None
    if args.mesos:
        prefix = os.environ.get("STROM_MESOS_PREFIX", "/tmp/strom-mesos-prefix")
        mesos_env = dict(os.environ, PREFIX=prefix, MESOS_HOME=os.path.join(folder, "mesos"),
                         MESOS_PORT=str(free_port()))
        if not os.path.exists(os.path.join(prefix, "bin", "mesos-local")):
            subprocess.run(["bash", MESOS_SH, "build"], env=dict(mesos_env, MESOS_HOME=prefix), check=True)
        subprocess.run(["bash", MESOS_SH, "start"], env=mesos_env, check=True)
        command = [BIN, "mesos-appmaster", f"-Dmesos.master=127.0.0.1:{mesos_env['MESOS_PORT']}",
                   "-Djobmanager.rpc.address=127.0.0.1", "-Djobmanager.rpc.port=0",
                   "-Dtaskmanager.numberOfTaskSlots=1", "-Dmesos.resourcemanager.tasks.cpus=1",
                   "-Dtaskmanager.memory.process.size=512m", f"-Drest.port={port}"]
    else:
        command = [BIN, "local", "--taskmanagers", "2", f"-Drest.port={port}",
                   "-Dtaskmanager.numberOfTaskSlots=1"]
    cluster = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rest = f"http://127.0.0.1:{port}"
    try:
        wait("the cluster", lambda: get(f"{rest}/overview"), 120)
        started = time.time()
        job = subprocess.run([BIN, "run", script, "-m", f"127.0.0.1:{port}", "--detached"],
                             capture_output=True, text=True, check=True).stdout.strip()
        done, kills = 0, 0
        while kills < args.kills:
            def checkpointed():
                detail = get(f"{rest}/jobs/{job}") or {}
                if detail.get("state") in ("FINISHED", "FAILED", "CANCELED"):
                    return -1
                completed = ((get(f"{rest}/jobs/{job}/checkpoints") or {}).get("counts") or {}).get("completed", 0)
                return completed if detail.get("state") == "RUNNING" and completed > done else None
            done = wait("a new checkpoint", checkpointed)
            if done < 0:
                break
            tms = (get(f"{rest}/taskmanagers") or {}).get("taskmanagers") or []
            if not tms:
                continue
            pid = tms[kills % len(tms)]["pid"]
            os.kill(pid, signal.SIGKILL)
            kills += 1
            print(f"{time.time() - started:6.1f} s: killed TaskManager pid {pid} after checkpoint {done}", file=sys.stderr)
        state = wait("the job to end", lambda: (get(f"{rest}/jobs/{job}") or {}).get("state")
                     if (get(f"{rest}/jobs/{job}") or {}).get("state") in ("FINISHED", "FAILED", "CANCELED") else None, 1800)
        elapsed = time.time() - started
        checkpoints = get(f"{rest}/jobs/{job}/checkpoints") or {}
    finally:
        cluster.terminate()
        try:
            cluster.wait(timeout=60)
        except subprocess.TimeoutExpired:
            cluster.kill()
        if mesos_env:
            subprocess.run(["bash", MESOS_SH, "stop"], env=mesos_env)
    if state != "FINISHED":
        sys.exit(f"job ended {state}")
    parts = [os.path.join(out, p) for p in os.listdir(out) if p.startswith("part-")]
    ids = subprocess.run(f"cat {' '.join(parts)} | cut -d, -f1 | sort -n -S 1G", shell=True,
                         capture_output=True, check=True).stdout
    lines = ids.count(b"\n")
    duplicated = int(subprocess.run(f"cat {' '.join(parts)} | cut -d, -f1 | sort -n -S 1G | uniq -d | wc -l",
                                    shell=True, capture_output=True, text=True).stdout)
    unique = lines - duplicated
    expected = subprocess.run(f"seq 0 {args.rows - 1}", shell=True, capture_output=True, check=True).stdout
    same = hashlib.sha256(ids).hexdigest() == hashlib.sha256(expected).hexdigest()
    counts = checkpoints.get("counts", {})
    print(f"\n{'cluster':<8} {'rows':>12} {'kills':>5} {'restores':>8} {'checkpoints':>11} {'seconds':>8} "
          f"{'committed':>12} {'duplicated':>10} {'missing':>8} {'sha256 = seq':>12}")
    print(f"{'mesos' if args.mesos else 'local':<8} {args.rows:>12,} {kills:>5} {counts.get('restored', 0):>8} "
          f"{counts.get('completed', 0):>11} {elapsed:>8.1f} {lines:>12,} {duplicated:>10} "
          f"{args.rows - unique:>8} {str(same):>12}")
    subprocess.run(["rm", "-rf", folder])
    if not same:
        sys.exit("the committed output is not exactly the input")


if __name__ == "__main__":
    main()
