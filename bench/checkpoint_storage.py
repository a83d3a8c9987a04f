#!/usr/bin/env python3
"""Checkpoints on local disk against an S3-compatible object store, side by side.

One SQL job with about 100 MB of keyed state runs with `state.checkpoints.dir` on local disk
and on the SeaweedFS S3 server that `scripts/services.sh start s3` starts (on the same machine
and disk), alternately (local, s3, then s3, local, ...), on one `strom local` cluster of 2
TaskManagers (1 slot each) with the s3.* settings as -D flags, at parallelism 2. The job reads
an unbounded `datagen` table (`id` a sequence, `s` a random STRING of --length characters) at
--rate rows/s and writes `COUNT(*), MAX(s)` per `id % --keys` into a `blackhole` table: once
--keys rows have been read every key exists, and the state no longer grows. Each run:

- checkpoints: `end_to_end_duration` and `state_size` of the first --checkpoints checkpoints
  triggered after the state is full (`/jobs/:id/checkpoints`), and the slowest subtask's own
  part of each, "subtask": `max_sync_ms` of the JobManager's "checkpoint complete" log line (the
  REST API does not give it), which despite its name runs from the subtask's snapshot to its
  file written (snapshot, encoding, checksum, the local write or the S3 PUT); "other" is the
  duration minus that part (barriers reaching the subtasks, acknowledging, `_metadata`);
- restores, --kills times: `kill -9` of a TaskManager that runs subtasks (pid from
  `/taskmanagers`), right after a checkpoint completed (or halfway through the next one, with
  --kill-when in-flight); then, polling the REST API every 20 ms: kill -> every subtask RUNNING
  again with `counts.restored` incremented (a subtask reports RUNNING once its state is read and
  restored), split at `latest.restored.restore_timestamp` into kill -> restore (failure
  detected, restart delay --restart-delay, a replacement TaskManager registered, the
  checkpoint's files verified by the JobManager) and restore -> RUNNING (deployment, state
  download, decoding); and kill -> the next checkpoint completed (bounded below by the interval);
- left over: what is under the job's checkpoint folder (a local folder listing, or an S3
  ListObjectsV2 of its prefix) --settle seconds after the job is cancelled, besides the
  retained checkpoint (`state.checkpoints.num-retained` = 1): files of failed, aborted or
  subsumed checkpoints that were not deleted.

Usage: bench/checkpoint_storage.py [--keys K] [--length L] [--rate R] [--interval "10 s"]
    [--checkpoints C] [--kills N] [--kill-when completed|in-flight] [--repeat R] [--quick]
    [--bin PATH] [--keep]
Prints one line per run and the runs as JSON on stderr, then two tables (checkpoints, restores)
of medians per storage and the S3 / local ratio. The defaults (200,000 keys: 100.6 MB) take
about 10 minutes on a release build; --quick is a smoke test of under a minute.
"""
import argparse, datetime, hashlib, hmac, json, os, re, shutil, signal, statistics, subprocess, sys
import tempfile, time, urllib.parse, urllib.request, uuid, xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness.procs import free_port  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = "/var/tmp/strom-release-target/release/strom"
DEFAULT_BIN = os.environ.get("STROM_BIN") or (RELEASE if os.path.exists(RELEASE) else os.path.join(
    os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "strom"))
SERVICES = os.path.join(ROOT, "scripts", "services.sh")

SCRIPT = """
SET 'parallelism.default' = '2';
SET 'execution.checkpointing.interval' = '{interval}';
SET 'state.checkpoints.dir' = '{dir}';
SET 'restart-strategy.type' = 'fixed-delay';
SET 'restart-strategy.fixed-delay.attempts' = '1000';
SET 'restart-strategy.fixed-delay.delay' = '{restart_delay}';
CREATE TABLE src (id BIGINT, s STRING) WITH ('connector' = 'datagen', 'rows-per-second' = '{rate}',
  'seed' = '7', 'fields.id.kind' = 'sequence', 'fields.id.start' = '0', 'fields.s.length' = '{length}');
CREATE TABLE sink (k BIGINT, n BIGINT, m STRING) WITH ('connector' = 'blackhole');
INSERT INTO sink SELECT id % {keys}, COUNT(*), MAX(s) FROM src GROUP BY id % {keys};
"""


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.load(r)
    except Exception:
        return None


def wait(what, check, timeout=300, every=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value is not None:
            return value
        time.sleep(every)
    sys.exit(f"timed out waiting for {what}")


class S3:
    """The few S3 calls the bench needs (list and delete under a prefix), signed with SigV4."""

    def __init__(self, endpoint, access, secret, bucket):
        self.endpoint, self.access, self.secret, self.bucket = endpoint.rstrip("/"), access, secret, bucket

    def request(self, method, key="", query=None):
        query = query or {}
        now = datetime.datetime.now(datetime.timezone.utc)
        stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
        host = urllib.parse.urlparse(self.endpoint).netloc
        path = urllib.parse.quote(f"/{self.bucket}/{key}" if key else f"/{self.bucket}", safe="/-_.~")
        q = "&".join(f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
                     for k, v in sorted(query.items()))
        empty = hashlib.sha256(b"").hexdigest()
        headers = f"host:{host}\nx-amz-content-sha256:{empty}\nx-amz-date:{stamp}\n"
        signed = "host;x-amz-content-sha256;x-amz-date"
        canonical = "\n".join([method, path, q, headers, signed, empty])
        scope = f"{day}/us-east-1/s3/aws4_request"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
        key_ = ("AWS4" + self.secret).encode()
        for part in (day, "us-east-1", "s3", "aws4_request"):
            key_ = hmac.new(key_, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(key_, to_sign.encode(), hashlib.sha256).hexdigest()
        request = urllib.request.Request(f"{self.endpoint}{path}" + (f"?{q}" if q else ""), method=method, headers={
            "x-amz-date": stamp, "x-amz-content-sha256": empty,
            "Authorization": f"AWS4-HMAC-SHA256 Credential={self.access}/{scope}, "
                             f"SignedHeaders={signed}, Signature={signature}"})
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.read()

    def list(self, prefix):
        """(key, size) of every object under prefix."""
        objects, token = [], None
        while True:
            query = {"list-type": "2", "prefix": prefix}
            if token:
                query["continuation-token"] = token
            root = ET.fromstring(self.request("GET", query=query))
            ns = {"s": root.tag[1:].split("}")[0]} if root.tag.startswith("{") else {"s": ""}
            find = (lambda e, t: e.find(f"s:{t}", ns)) if ns["s"] else (lambda e, t: e.find(t))
            for item in (root.findall("s:Contents", ns) if ns["s"] else root.findall("Contents")):
                objects.append((find(item, "Key").text, int(find(item, "Size").text)))
            truncated = find(root, "IsTruncated")
            token = find(root, "NextContinuationToken")
            if truncated is None or truncated.text != "true" or token is None:
                return objects
            token = token.text

    def delete_prefix(self, prefix):
        for key, _ in self.list(prefix):
            self.request("DELETE", key)


def start_s3(folder):
    """Starts SeaweedFS with scripts/services.sh; returns (settings, its folder)."""
    log = os.path.join(folder, "services.err")
    with open(log, "w") as err:
        out = subprocess.run(["bash", SERVICES, "start", "s3"], stdout=subprocess.PIPE, stderr=err, text=True,
                             env=dict(os.environ, STROM_SERVICES_OWNER=str(os.getpid())))
    text = open(log).read()
    where = re.findall(r"services: s3 in (\S+)", text)
    if out.returncode != 0 or not where:
        sys.exit(f"scripts/services.sh start s3 failed:\n{text}")
    settings = dict(line.split("=", 1) for line in out.stdout.strip().splitlines()[-4:])
    return settings, where[-1]


class Cluster:
    def __init__(self, binary, folder, s3):
        self.binary, self.port = binary, free_port()
        self.rest = f"http://127.0.0.1:{self.port}"
        command = [binary, "local", "--taskmanagers", "2", f"-Drest.port={self.port}",
                   "-Dtaskmanager.numberOfTaskSlots=1", f"-Ds3.endpoint={s3['S3_ENDPOINT']}",
                   f"-Ds3.access-key={s3['S3_ACCESS_KEY']}", f"-Ds3.secret-key={s3['S3_SECRET_KEY']}",
                   "-Ds3.path.style.access=true"]
        self.log = open(os.path.join(folder, "cluster.log"), "w")
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)
        wait("the local cluster", lambda: True if (get(f"{self.rest}/overview") or {}).get("taskmanagers") == 2
             else (sys.exit("the local cluster exited") if self.process.poll() is not None else None), 120)

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def subtasks(detail):
    return [s["status"] for v in (detail or {}).get("vertices", []) for s in v.get("subtasks", [])]


def source_rows(detail):
    vertices = (detail or {}).get("vertices") or [{}]
    return vertices[0].get("metrics", {}).get("write-records", 0)


def completed_after(checkpoints, after_ms, above_id=0):
    """Completed checkpoints (oldest first) triggered at or after after_ms with an id above above_id."""
    return sorted((h for h in checkpoints.get("history", []) if h.get("status") == "COMPLETED"
                   and not h.get("is_savepoint") and h["trigger_timestamp"] >= after_ms and h["id"] > above_id),
                  key=lambda h: h["id"])


def run_variant(cluster, args, mode, location, folder, tag):
    """One job on `location`: checkpoint durations once the state is full, then --kills restores."""
    rest = cluster.rest
    script = os.path.join(folder, f"job-{tag}.sql")
    with open(script, "w") as f:
        f.write(SCRIPT.format(interval=args.interval, dir=location, restart_delay=args.restart_delay,
                              rate=args.rate, length=args.length, keys=args.keys))
    job = subprocess.run([cluster.binary, "run", script, "-m", f"127.0.0.1:{cluster.port}", "--detached"],
                         capture_output=True, text=True, check=True).stdout.strip().split()[-1]
    job_url = f"{rest}/jobs/{job}"

    def failed_job():
        detail = get(job_url) or {}
        if detail.get("state") in ("FAILED", "CANCELED", "FINISHED"):
            sys.exit(f"job {job} ({mode}) ended {detail['state']}: {json.dumps(detail.get('failure-cause'))}")
        return detail

    wait("the job to run", lambda: True if (s := subtasks(failed_job())) and all(x == "RUNNING" for x in s) else None)
    # Full: every key has been read (`id % keys` over the sequence), from this moment on.
    wait(f"{args.keys:,} rows", lambda: True if source_rows(failed_job()) >= args.keys else None,
         timeout=args.keys / args.rate * 10 + 120, every=0.5)
    full_ms = int(time.time() * 1000)
    measured = wait(f"{args.checkpoints} checkpoints after the state is full",
                    lambda: (c if len(c := completed_after(get(f"{job_url}/checkpoints") or {}, full_ms))
                             >= args.checkpoints else (failed_job() and None)),
                    timeout=args.checkpoints * (parse_seconds(args.interval) + 120) + 60, every=0.2)
    measured = measured[:args.checkpoints]
    result = {"mode": mode, "job": job, "ids": [h["id"] for h in measured],
              "durations": [h["end_to_end_duration"] for h in measured],
              "sizes": [h["state_size"] for h in measured], "restores": []}
    for kill in range(args.kills):
        before = get(f"{job_url}/checkpoints") or {}
        last = ((before.get("latest") or {}).get("completed") or {}).get("id", 0)
        restored_before = before.get("counts", {}).get("restored", 0)
        # Right after a checkpoint completes.
        latest = wait("a new checkpoint", lambda: (i if (i := (((get(f"{job_url}/checkpoints") or {})
                      .get("latest") or {}).get("completed") or {}).get("id", 0)) > last else None),
                      timeout=parse_seconds(args.interval) * 3 + 300, every=0.02)
        in_flight = None
        while args.kill_when == "in-flight" and in_flight is None:
            # Halfway through the next checkpoint (by the measured median duration), if it is
            # still in flight then; else through the one after it.
            def pending(after):
                for h in (get(f"{job_url}/checkpoints") or {}).get("history", []):
                    if h.get("status") == "IN_PROGRESS" and h["id"] > after:
                        return h["id"]
            candidate = wait("a checkpoint in flight", lambda: pending(latest),
                             timeout=parse_seconds(args.interval) * 3 + 300, every=0.02)
            time.sleep(statistics.median(result["durations"]) / 2000.0)
            if pending(candidate - 1) == candidate:
                in_flight = candidate
            else:
                latest = candidate
        tms = [t for t in (get(f"{rest}/taskmanagers") or {}).get("taskmanagers", [])
               if t.get("freeSlots", 0) < t.get("slotsNumber", 0) and t.get("pid")]
        if not tms:
            sys.exit("no TaskManager with subtasks to kill")
        pid = tms[kill % len(tms)]["pid"]
        killed = time.time()
        os.kill(pid, signal.SIGKILL)
        decided = running = None
        restored_id = None
        while time.time() - killed < args.restore_timeout:
            detail = failed_job()
            checkpoints = get(f"{job_url}/checkpoints") or {}
            counts = checkpoints.get("counts", {})
            if decided is None and counts.get("restored", 0) > restored_before:
                info = (checkpoints.get("latest") or {}).get("restored") or {}
                decided = info.get("restore_timestamp", 0) / 1000.0
                restored_id = info.get("id")
            states = subtasks(detail)
            if running is None and decided is not None and states and all(s == "RUNNING" for s in states):
                running = time.time()
            if running is not None:
                after = completed_after(checkpoints, 0, above_id=max(restored_id or 0, latest))
                if after:
                    next_done = after[0]["latest_ack_timestamp"] / 1000.0
                    break
            time.sleep(0.02)
        else:
            sys.exit(f"job {job} ({mode}): no restore and checkpoint within {args.restore_timeout} s of the kill")
        restore = {"pid": pid, "restored_id": restored_id, "killed_after": latest, "killed_during": in_flight,
                   "to_running": running - killed, "to_decided": decided - killed,
                   "decided_to_running": running - decided, "to_next_checkpoint": next_done - killed,
                   "next_duration": after[0]["end_to_end_duration"], "next_size": after[0]["state_size"]}
        result["restores"].append(restore)
    final = get(f"{job_url}/checkpoints") or {}
    result["failed_checkpoints"] = final.get("counts", {}).get("failed", 0)
    result["failures"] = [f"chk-{h['id']}: {h.get('failure_message')}" for h in final.get("history", [])
                          if h.get("status") == "FAILED"]
    result["completed_checkpoints"] = final.get("counts", {}).get("completed", 0)
    retained = ((final.get("latest") or {}).get("completed") or {})
    subprocess.run([cluster.binary, "cancel", job, "-m", f"127.0.0.1:{cluster.port}"],
                   capture_output=True, text=True, check=True)
    wait("the job to be cancelled", lambda: True if (get(job_url) or {}).get("state") in
         ("CANCELED", "FAILED", "FINISHED") else None, 120)
    time.sleep(args.settle)  # deletions of subsumed checkpoints still under way
    final = get(f"{job_url}/checkpoints") or {}
    retained = ((final.get("latest") or {}).get("completed") or {}) or retained
    result["retained"] = f"chk-{retained.get('id')}"
    return result


def sync_times(log, job):
    """max_sync_ms of each completed checkpoint of job, from the JobManager's log line
    `checkpoint complete job=... checkpoint=N ... max_sync_ms=M` (the REST API does not give it).
    It is the slowest subtask's time from its snapshot to its file written, not only the
    synchronous snapshot (crates/strom-taskmanager/src/snapshots.rs, `sync_ms`)."""
    found = {}
    pattern = re.compile(rf"checkpoint complete job={job} checkpoint=(\d+) .*?max_sync_ms=(\d+)")
    with open(log, errors="replace") as f:
        for line in f:
            m = pattern.search(re.sub(r"\x1b\[[0-9;]*m", "", line))
            if m:
                found[int(m.group(1))] = int(m.group(2))
    return found


def parse_seconds(text):
    number, unit = re.fullmatch(r"\s*([\d.]+)\s*([a-z]*)\s*", text).groups()
    return float(number) * {"": 0.001, "ms": 0.001, "s": 1, "sec": 1, "min": 60}[unit]


def leftovers(files, retained):
    """Files and bytes under the job folder outside the retained checkpoint's chk-N folder, the
    folders they are in, and the bytes of the retained checkpoint."""
    extra = [(name, size) for name, size in files if f"/{retained}/" not in f"/{name}"]
    kept = sum(size for name, size in files if f"/{retained}/" in f"/{name}")
    return len(extra), sum(size for _, size in extra), sorted({n.split("/")[0] for n, _ in extra}), kept


def local_files(base):
    out = []
    for dirpath, _, names in os.walk(base):
        for n in names:
            path = os.path.join(dirpath, n)
            out.append((os.path.relpath(path, base), os.path.getsize(path)))
    return out


def median(values):
    return statistics.median(values) if values else float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keys", type=int, default=200_000,
                        help="distinct GROUP BY keys (about 500 B of checkpointed state each with --length 40)")
    parser.add_argument("--length", type=int, default=40, help="characters of the STRING column")
    parser.add_argument("--rate", type=int, default=20_000, help="rows per second over both source subtasks")
    parser.add_argument("--interval", default="10 s", help="execution.checkpointing.interval")
    parser.add_argument("--checkpoints", type=int, default=5, help="checkpoints measured per run, state full")
    parser.add_argument("--kills", type=int, default=2, help="TaskManager kills (restores) per run")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each storage, alternating")
    parser.add_argument("--kill-when", choices=("completed", "in-flight"), default="completed",
                        help="kill right after a checkpoint completed, or halfway through the next one "
                             "(leaves an aborted checkpoint: shows whether its files are deleted)")
    parser.add_argument("--restart-delay", default="100 ms", help="restart-strategy.fixed-delay.delay")
    parser.add_argument("--restore-timeout", type=float, default=300)
    parser.add_argument("--settle", type=float, default=3, help="seconds after cancel before listing leftovers")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test (under a minute): 20,000 keys (10 MB), 2 s interval, 2 checkpoints, "
                             "1 kill, 1 run each")
    parser.add_argument("--bin", default=DEFAULT_BIN, help=f"strom binary (default {DEFAULT_BIN})")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (job scripts, cluster.log)")
    if parser.parse_args().quick:  # new defaults; options given explicitly still win
        parser.set_defaults(keys=20_000, interval="2 s", checkpoints=2, kills=1, repeat=1)
    args = parser.parse_args()
    if not os.path.exists(args.bin):
        sys.exit(f"{args.bin} does not exist: build it (cargo build --release --workspace --bins) or pass --bin")
    started = time.time()
    folder = tempfile.mkdtemp(prefix="strom-checkpoint-storage-")
    print(f"binary {args.bin}; work folder {folder}", file=sys.stderr)
    s3_folder = cluster = None
    runs, finished = [], False
    try:
        settings, s3_folder = start_s3(folder)
        s3 = S3(settings["S3_ENDPOINT"], settings["S3_ACCESS_KEY"], settings["S3_SECRET_KEY"], settings["S3_BUCKET"])
        print(f"S3 server {settings['S3_ENDPOINT']} (bucket {settings['S3_BUCKET']}) in {s3_folder}", file=sys.stderr)
        cluster = Cluster(args.bin, folder, settings)
        prefix = f"checkpoint-storage-{uuid.uuid4().hex[:8]}"
        for run in range(args.repeat):
            for mode in (("local", "s3") if run % 2 == 0 else ("s3", "local")):
                tag = f"{mode}-{run}"
                if mode == "local":
                    location = os.path.join(folder, tag, "checkpoints")
                else:
                    location = f"s3://{settings['S3_BUCKET']}/{prefix}/{tag}/checkpoints"
                result = run_variant(cluster, args, mode, location, folder, tag)
                if mode == "local":
                    files = local_files(os.path.join(location, result["job"]))
                else:
                    key_prefix = f"{prefix}/{tag}/checkpoints/{result['job']}/"
                    files = [(k[len(key_prefix):], size) for k, size in s3.list(key_prefix)]
                result["leftover"] = leftovers(files, result["retained"])
                syncs = sync_times(os.path.join(folder, "cluster.log"), result["job"])
                result["sync"] = [syncs.get(i) for i in result["ids"]]
                runs.append(result)
                r = result["restores"]
                print(f"{time.time() - started:7.1f} s  run {run + 1} {mode:<5}: state "
                      f"{median(result['sizes']) / 1e6:.1f} MB, checkpoints {result['durations']} ms "
                      f"(slowest subtask: snapshot to file written {result['sync']} ms), "
                      f"kill -> RUNNING {[round(x['to_running'], 2) for x in r]} s "
                      f"(restore decided -> RUNNING {[round(x['decided_to_running'], 2) for x in r]} s), "
                      f"kill -> next checkpoint {[round(x['to_next_checkpoint'], 2) for x in r]} s, "
                      f"failed checkpoints {result['failures']}, left over: {result['leftover'][0]} "
                      f"files {result['leftover'][1] / 1e6:.1f} MB {result['leftover'][2]} (retained "
                      f"{result['retained']}: {result['leftover'][3] / 1e6:.1f} MB)", file=sys.stderr)
                # The next variant starts from an equally empty store and disk.
                if mode == "local":
                    shutil.rmtree(os.path.join(folder, tag), ignore_errors=True)
                else:
                    s3.delete_prefix(f"{prefix}/{tag}/")
        finished = True
    finally:
        if cluster:
            cluster.stop()
        if s3_folder:
            subprocess.run(["bash", SERVICES, "stop", s3_folder])
        if finished and not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            print(f"work folder kept: {folder} (cluster.log)", file=sys.stderr)
    elapsed = time.time() - started
    print(json.dumps({"args": vars(args), "elapsed_s": round(elapsed, 1), "runs": runs}), file=sys.stderr)
    t = {}
    for mode in ("local", "s3"):
        mine = [r for r in runs if r["mode"] == mode]
        restores = [x for r in mine for x in r["restores"]]
        durations = [d for r in mine for d in r["durations"]]
        pairs = [(d, y) for r in mine for d, y in zip(r["durations"], r["sync"]) if y is not None]
        t[mode] = {
            "runs": len(mine), "state": median([s for r in mine for s in r["sizes"]]) / 1e6,
            "n": len(durations), "p50": median(durations), "min": min(durations, default=float("nan")),
            "max": max(durations, default=float("nan")), "sync": median([y for _, y in pairs]),
            "rest": median([d - y for d, y in pairs]),
            "failed": sum(r["failed_checkpoints"] for r in mine),
            "kills": len(restores), "running": median([x["to_running"] for x in restores]),
            "running_min": min([x["to_running"] for x in restores], default=float("nan")),
            "running_max": max([x["to_running"] for x in restores], default=float("nan")),
            "decided": median([x["to_decided"] for x in restores]),
            "load": median([x["decided_to_running"] for x in restores]),
            "next": median([x["to_next_checkpoint"] for x in restores]),
            "left": f"{sum(r['leftover'][0] for r in mine)} / {sum(r['leftover'][1] for r in mine) / 1e6:.1f} MB",
        }

    def ratio(key):
        return t["s3"][key] / t["local"][key] if t["local"][key] else float("nan")

    print(f"\n{args.keys:,} keys, STRING of {args.length}, {args.rate:,} rows/s, a checkpoint every "
          f"{args.interval}; {args.checkpoints} checkpoints and {args.kills} kills ({args.kill_when}) per run, "
          f"{args.repeat} runs of each, alternating; {elapsed / 60:.1f} min in all")
    print(f"\n{'storage':<8} {'runs':>4} {'state MB':>8} {'checkpoints':>11} {'p50 ms':>7} {'min ms':>7} "
          f"{'max ms':>7} {'subtask p50 ms':>14} {'other p50 ms':>12} {'failed':>6}")
    for mode, m in t.items():
        print(f"{mode:<8} {m['runs']:>4} {m['state']:>8.1f} {m['n']:>11} {m['p50']:>7.0f} {m['min']:>7.0f} "
              f"{m['max']:>7.0f} {m['sync']:>14.0f} {m['rest']:>12.0f} {m['failed']:>6}")
    print(f"{'s3/local':<8} {'':>4} {'':>8} {'':>11} {ratio('p50'):>7.2f} {ratio('min'):>7.2f} "
          f"{ratio('max'):>7.2f} {ratio('sync'):>14.2f} {ratio('rest'):>12.2f}")
    print(f"\n{'storage':<8} {'kills':>5} {'kill->RUNNING p50 (min-max) s':>29} {'kill->restore s':>15} "
          f"{'restore->RUNNING s':>18} {'kill->next checkpoint s':>23} {'left over':>13}")
    for mode, m in t.items():
        span = f"{m['running']:.2f} ({m['running_min']:.2f}-{m['running_max']:.2f})"
        print(f"{mode:<8} {m['kills']:>5} {span:>29} {m['decided']:>15.2f} {m['load']:>18.2f} "
              f"{m['next']:>23.2f} {m['left']:>13}")
    print(f"{'s3/local':<8} {'':>5} {ratio('running'):>29.2f} {ratio('decided'):>15.2f} {ratio('load'):>18.2f} "
          f"{ratio('next'):>23.2f}")


if __name__ == "__main__":
    main()
