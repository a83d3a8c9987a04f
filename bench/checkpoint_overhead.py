#!/usr/bin/env python3
"""Checkpoint overhead: the same SQL job with checkpoints every second and without, side by side.

The job reads a deterministic bounded `datagen` table (unlimited rate). Its rows go to two
sinks: as they are, into the exactly-once filesystem sink (CSV), and as a 1 s tumbling-window
count per key, behind a hash shuffle, into a second one. Both runs go to one local cluster
of 2 TaskManagers (1 slot each) at parallelism 2. The runs alternate (off, on, off, on, ...)
so that machine noise hits both alike. Each run's duration is read from the JobManager
(`/jobs/:id` "duration") and checkpoint statistics from `/jobs/:id/checkpoints`. Without
checkpointing the sink writes plain part files, which is the baseline a user gives up.

Usage: bench/checkpoint_overhead.py [--rows N] [--repeat R] [--interval "1 s"]
Prints a table: mode, rows, best seconds, rows/s, ratio to no checkpoints, checkpoints,
median and max checkpoint duration, state size.
"""
import argparse, json, os, shutil, socket, statistics, subprocess, sys, tempfile, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "strom")

SCRIPT = """
SET 'parallelism.default' = '2';
{checkpointing}
CREATE TABLE src (id BIGINT, k INT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)
  WITH ('connector' = 'datagen', 'number-of-rows' = '{rows}', 'rows-per-second' = '0', 'seed' = '3',
        'fields.id.kind' = 'sequence', 'fields.id.start' = '0', 'fields.k.min' = '0', 'fields.k.max' = '999',
        'fields.ts.start' = '1700000000000', 'fields.ts.step' = '1', 'fields.ts.max-past' = '500');
CREATE TABLE ids (id BIGINT, k INT) WITH ('connector' = 'filesystem', 'path' = '{out}/ids', 'format' = 'csv');
CREATE TABLE windows (window_start TIMESTAMP(3), k INT, n BIGINT)
  WITH ('connector' = 'filesystem', 'path' = '{out}/windows', 'format' = 'csv');
INSERT INTO ids SELECT id, k FROM src;
INSERT INTO windows SELECT window_start, k, COUNT(*)
  FROM TABLE(TUMBLE(TABLE src, DESCRIPTOR(ts), INTERVAL '1' SECOND)) GROUP BY window_start, window_end, k;
"""


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


def run_job(address, script):
    out = subprocess.run([BIN, "run", script, "-m", address, "--detached"],
                         capture_output=True, text=True, check=True)
    job = out.stdout.strip()
    while True:
        detail = get(f"http://{address}/jobs/{job}")
        if detail and detail.get("state") in ("FINISHED", "FAILED", "CANCELED"):
            if detail["state"] != "FINISHED":
                sys.exit(f"job {job} ended {detail['state']}: {json.dumps(detail.get('failure-cause'))}")
            checkpoints = get(f"http://{address}/jobs/{job}/checkpoints") or {}
            return detail["duration"] / 1000.0, checkpoints
        time.sleep(0.05)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--interval", default="1 s")
    args = parser.parse_args()
    if not os.path.exists(BIN):
        subprocess.run(["cargo", "build", "--release", "-p", "strom"], cwd=ROOT, check=True)
    folder = tempfile.mkdtemp(prefix="strom-checkpoint-bench-")
    port = free_port()
    cluster = subprocess.Popen([BIN, "local", "--taskmanagers", "2", f"-Drest.port={port}",
                                "-Dtaskmanager.numberOfTaskSlots=1"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    address = f"127.0.0.1:{port}"
    results = {"off": [], "on": []}
    stats = []
    try:
        deadline = time.time() + 60
        while (get(f"http://{address}/overview") or {}).get("taskmanagers") != 2:
            if time.time() > deadline:
                sys.exit("the local cluster did not start")
            time.sleep(0.1)
        for run in range(args.repeat):
            for mode in ("off", "on"):
                out = os.path.join(folder, f"out-{mode}-{run}")
                checkpointing = "" if mode == "off" else (
                    f"SET 'execution.checkpointing.interval' = '{args.interval}';\n"
                    f"SET 'state.checkpoints.dir' = '{folder}/checkpoints';")
                script = os.path.join(folder, f"job-{mode}.sql")
                with open(script, "w") as f:
                    f.write(SCRIPT.format(rows=args.rows, out=out, checkpointing=checkpointing))
                seconds, checkpoints = run_job(address, script)
                results[mode].append(seconds)
                if mode == "on":
                    stats.append(checkpoints)
                shutil.rmtree(out, ignore_errors=True)
                print(f"run {run + 1} checkpoints {mode}: {seconds:.2f} s", file=sys.stderr)
    finally:
        cluster.terminate()
        cluster.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)
    best = {mode: min(times) for mode, times in results.items()}
    durations = [h["end_to_end_duration"] for c in stats for h in c.get("history", [])
                 if h.get("status") == "COMPLETED"]
    sizes = [h["state_size"] for c in stats for h in c.get("history", []) if h.get("status") == "COMPLETED"]
    completed = [c.get("counts", {}).get("completed", 0) for c in stats]
    print(f"\n{'mode':<24} {'rows':>12} {'best s':>8} {'rows/s':>12} {'vs off':>7} "
          f"{'checkpoints':>11} {'p50 ms':>7} {'max ms':>7} {'state B':>9}")
    for mode in ("off", "on"):
        rate = args.rows / best[mode]
        ratio = best["off"] / best[mode]
        label = "no checkpoints" if mode == "off" else f"every {args.interval}"
        if mode == "on" and durations:
            extra = (f"{statistics.median(completed):>11.0f} {statistics.median(durations):>7.0f} "
                     f"{max(durations):>7} {statistics.median(sizes):>9.0f}")
        else:
            extra = f"{'-':>11} {'-':>7} {'-':>7} {'-':>9}"
        print(f"{label:<24} {args.rows:>12,} {best[mode]:>8.2f} {rate:>12,.0f} {ratio:>7.3f} {extra}")
    print(f"\nthroughput loss with checkpoints: {100 * (1 - best['off'] / best['on']):.1f} %")


if __name__ == "__main__":
    main()
