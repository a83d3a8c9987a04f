#!/usr/bin/env python3
"""Throughput of strom's SQL engine: word count and a 1 s tumbling window, parallelism 1 and 2.

The input is generated once, deterministically, into a temporary folder (CSV files). For each
parallelism P a local cluster of P TaskManagers (1 slot each) is started; each workload is
submitted with `strom run --detached` and its duration is read from the JobManager
(`/jobs/:id` "duration": first task start to job end, so process start-up is not counted). The
sink is `blackhole`, so the figures are the engine's: parsing the CSV, the expressions, the
shuffle (Arrow IPC between TaskManagers) and the aggregate. Best of --repeat runs.

Usage: bench/sql_throughput.py [--words N] [--events N] [--repeat R] [--parallelism 1 2]
Prints a table: workload, parallelism, records, seconds, records/s, records/s per core.
"""
import argparse, json, os, random, socket, subprocess, sys, tempfile, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "strom")


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


def generate(folder, words, events):
    rng = random.Random(42)
    vocabulary = [f"w{i:05d}" for i in range(10_000)]
    with open(os.path.join(folder, "words.csv"), "w") as f:
        chunk = []
        for i in range(words):
            chunk.append(vocabulary[int(rng.paretovariate(1.2)) % 10_000])
            if len(chunk) == 100_000:
                f.write("\n".join(chunk) + "\n")
                chunk = []
        if chunk:
            f.write("\n".join(chunk) + "\n")
    base = 1_704_067_200_000
    with open(os.path.join(folder, "events.csv"), "w") as f:
        lines = []
        for i in range(events):
            ts = base + i // 10 - rng.randrange(0, 1500)
            s, ms = divmod(ts, 1000)
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(s))
            lines.append(f"k{rng.randrange(1000)},{rng.randrange(100)},{stamp}.{ms:03d}")
            if len(lines) == 100_000:
                f.write("\n".join(lines) + "\n")
                lines = []
        if lines:
            f.write("\n".join(lines) + "\n")


SCRIPTS = {
    "word count (GROUP BY word)": """
SET 'parallelism.default' = '{p}';
CREATE TABLE words (word STRING) WITH ('connector' = 'filesystem', 'path' = '{dir}/words.csv', 'format' = 'csv');
CREATE TABLE sink (word STRING, n BIGINT) WITH ('connector' = 'blackhole');
INSERT INTO sink SELECT word, COUNT(*) FROM words GROUP BY word;
""",
    "tumbling window 1 s (COUNT, SUM per key)": """
SET 'parallelism.default' = '{p}';
CREATE TABLE events (k STRING, v BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '2' SECOND)
  WITH ('connector' = 'filesystem', 'path' = '{dir}/events.csv', 'format' = 'csv');
CREATE TABLE sink (k STRING, ws TIMESTAMP(3), n BIGINT, total BIGINT) WITH ('connector' = 'blackhole');
INSERT INTO sink SELECT k, window_start, COUNT(*), SUM(v)
FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), INTERVAL '1' SECOND))
GROUP BY k, window_start, window_end;
""",
}


def run_job(address, script):
    out = subprocess.run([BIN, "run", script, "-m", address, "--detached"],
                         capture_output=True, text=True, check=True)
    job = out.stdout.strip()
    while True:
        detail = get(f"http://{address}/jobs/{job}")
        if detail and detail.get("state") in ("FINISHED", "FAILED", "CANCELED"):
            if detail["state"] != "FINISHED":
                sys.exit(f"job {job} ended {detail['state']}: {json.dumps(detail.get('failure-cause'))}")
            return detail["duration"] / 1000.0
        time.sleep(0.05)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--words", type=int, default=5_000_000)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--parallelism", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    if not os.path.exists(BIN):
        subprocess.run(["cargo", "build", "--release", "-p", "strom"], cwd=ROOT, check=True)
    folder = tempfile.mkdtemp(prefix="strom-sql-bench-")
    print(f"generating {args.words:,} words and {args.events:,} events in {folder}", file=sys.stderr)
    generate(folder, args.words, args.events)
    records = {"word count (GROUP BY word)": args.words,
               "tumbling window 1 s (COUNT, SUM per key)": args.events}
    rows = []
    for p in args.parallelism:
        port = free_port()
        cluster = subprocess.Popen([BIN, "local", "--taskmanagers", str(p), f"-Drest.port={port}",
                                    "-Dtaskmanager.numberOfTaskSlots=1"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        address = f"127.0.0.1:{port}"
        try:
            deadline = time.time() + 60
            while (get(f"http://{address}/overview") or {}).get("taskmanagers") != p:
                if time.time() > deadline:
                    sys.exit("the local cluster did not start")
                time.sleep(0.1)
            for name, template in SCRIPTS.items():
                script = os.path.join(folder, f"job-{p}.sql")
                with open(script, "w") as f:
                    f.write(template.format(p=p, dir=folder))
                best = min(run_job(address, script) for _ in range(args.repeat))
                rate = records[name] / best
                rows.append((name, p, records[name], best, rate, rate / p))
        finally:
            cluster.terminate()
            cluster.wait(timeout=30)
    print(f"\n{'workload':<42} {'par':>3} {'records':>11} {'seconds':>8} {'records/s':>12} {'per core':>12}")
    for name, p, n, seconds, rate, per_core in rows:
        print(f"{name:<42} {p:>3} {n:>11,} {seconds:>8.3f} {rate:>12,.0f} {per_core:>12,.0f}")


if __name__ == "__main__":
    main()
