#!/usr/bin/env python3
"""Throughput of strom's Kafka connector against a real Kafka-protocol broker, side by side with
the limit of the broker and of a plain librdkafka client, in one run.

A broker is started with `scripts/services.sh start kafka` (noida-db; its instance folder under
/var/tmp/strom-kafka-bench-services, and only that instance is stopped at the end, so brokers of
other users of services.sh are left alone) unless --bootstrap names one.
N JSON records (`{"id", "k", "v", "ts"}`, ~75 bytes each) are generated once and produced into a
topic `in-<random>` ("in" below) of --partitions partitions, created with confluent-kafka's
AdminClient and deleted at the end, by kcat.

strom: for each parallelism P a local cluster of P TaskManagers (1 slot each) is started
(`strom local`) and each workload is submitted as a SQL script with `strom run --detached`:

  read             kafka -> blackhole                        (bounded: `scan.bounded.mode` =
  read+write a-l-o kafka -> kafka, at-least-once               'latest-offset', so each job
  read+write e-o   kafka -> kafka, exactly-once (transactions)  reads `in` to its end and ends)

Both kafka -> kafka workloads checkpoint every --checkpoint-interval (the at-least-once sink
flushes at each checkpoint, the exactly-once sink commits a transaction per checkpoint); every
run writes a fresh topic of --partitions partitions, deleted after the run. The job's seconds are
the JobManager's (`/jobs/:id` "duration": task deployment included, process start-up not).

Limit, same broker, same topic, same run, librdkafka through kcat (C, no per-record work):

  consumer   kcat -C -t in -e -o beginning -q > /dev/null           (compare: read)
  producer   kcat -P -t <fresh topic> -l <the N records' file>      (for reference)
  copy       kcat -C -t in ... | kcat -P -t <fresh topic>          (compare: both read+write)

The limit's seconds are the wall time of the kcat process(es), start-up included. The clients
differ in version: strom links librdkafka 2.12 (rdkafka-sys, bundled), Debian's kcat 1.7.1 2.0.2.

CPU seconds (user + sys, from /proc/<pid>/stat before and after the job) are those of strom's
TaskManager processes (the JobManager, `strom local` itself, and the submitting client are not
counted), and for the limit those of the kcat process(es) (from wait4). The broker's CPU seconds
over the same interval are shown apart (they are in neither figure). records/s per core =
records / CPU seconds. Seconds and CPU seconds are each the best of --repeat runs.

noida-db answers a fetch with everything up to the partition's end, whatever fetch.max.bytes and
max.partition.fetch.bytes say (a 2,000,000-record partition is one 165 MB response), so every
consumer here, strom's and kcat's, sets receive.message.max.bytes to 1,000,000,000 (librdkafka's
default, 100 MB, makes the consumer drop the connection and never reach the end).

Needs: the release binary (CARGO_TARGET_DIR=... cargo build --release --workspace --bins), kcat
(Debian: apt-get install -y kcat) and Python's confluent-kafka (if it cannot be imported the
script re-runs itself in the virtualenv $STROM_BENCH_VENV, default /var/tmp/strom-bench-venv,
created with `pip install confluent-kafka` on first use).

Usage: CARGO_TARGET_DIR=/var/tmp/strom-ci-target bench/kafka_throughput.py [--records N]
         [--partitions 4] [--repeat R] [--parallelism 1 2] [--bootstrap HOST:PORT]
         [--strom PATH] [--checkpoint-interval '1 s'] [--timeout S] [--verify] [--keep]
Prints a table: workload, system, parallelism, records, seconds, records/s, CPU seconds,
records/s per core, broker CPU seconds, and strom's records/s and records/s per core as ratios
to the limit's (consumer for read, copy for read+write).
"""
import argparse, os, shutil, subprocess, sys, tempfile, time, uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "strom")
sys.path.insert(0, os.path.join(ROOT, "bench"))
from harness import procs  # noqa: E402
from harness.strom_runner import StromCluster  # noqa: E402

try:
    from confluent_kafka import Consumer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic
except ImportError:
    venv = os.environ.get("STROM_BENCH_VENV", "/var/tmp/strom-bench-venv")
    python = os.path.join(venv, "bin", "python")
    if os.environ.get("STROM_BENCH_REEXEC"):
        sys.exit(f"confluent-kafka is not importable in {python} either")
    if not os.path.exists(python):
        print(f"creating {venv} with confluent-kafka", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "confluent-kafka"], check=True)
    os.environ["STROM_BENCH_REEXEC"] = "1"
    os.execv(python, [python, os.path.abspath(__file__)] + sys.argv[1:])

# noida-db ignores the fetch size limits (see above): a fetch brings a partition to its end.
RECEIVE = "1000000000"
# The broker's instance folders (scripts/services.sh's $STROM_SERVICES_DIR), apart from those of
# the script's other users (its default is ${TMPDIR:-/tmp}/strom-services).
SERVICES = "/var/tmp/strom-kafka-bench-services"
IN = f"in-{uuid.uuid4().hex[:8]}"  # the input topic
TICK = os.sysconf("SC_CLK_TCK")


def log(message):
    print(message, file=sys.stderr, flush=True)


# --- CPU seconds -------------------------------------------------------------------------------

def cpu_ticks(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return None


def snapshot(pids):
    return {p: t for p in pids if (t := cpu_ticks(p)) is not None}


def cpu_seconds(before, after):
    """CPU seconds spent between two snapshots (a process new in `after` counts from 0)."""
    return sum(t - before.get(p, 0) for p, t in after.items()) / TICK


def run_measured(commands):
    """Runs a pipeline of commands (each a list); returns (wall seconds, CPU seconds of all)."""
    started = time.perf_counter()
    children, previous = [], None
    for i, command in enumerate(commands):
        last = i == len(commands) - 1
        errors = tempfile.TemporaryFile()
        child = subprocess.Popen(command, stdin=previous, stderr=errors,
                                 stdout=subprocess.DEVNULL if last else subprocess.PIPE)
        if previous is not None:
            previous.close()
        previous = child.stdout
        children.append((child, errors))
    cpu, failed = 0.0, []
    for child, errors in children:
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        cpu += usage.ru_utime + usage.ru_stime
        if child.returncode != 0:
            errors.seek(0)
            failed.append(f"{' '.join(child.args[:2])}: exit {child.returncode}: "
                          f"{errors.read().decode(errors='replace').strip()[-400:]}")
        errors.close()
    wall = time.perf_counter() - started
    if failed:
        raise RuntimeError("; ".join(failed))
    return wall, cpu


# --- the broker --------------------------------------------------------------------------------

class Broker:
    """`scripts/services.sh start kafka` in a services folder of our own, or a given broker."""

    def __init__(self, bootstrap):
        self.folder = None
        self.pid = None
        if bootstrap:
            self.bootstrap = bootstrap
            return
        # With the owner set, the instance also stops if this script dies without stopping it.
        env = dict(os.environ, STROM_SERVICES_DIR=SERVICES, STROM_SERVICES_OWNER=str(os.getpid()))
        out = subprocess.run([os.path.join(ROOT, "scripts", "services.sh"), "start", "kafka"],
                             env=env, capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"services.sh start kafka failed: {out.stderr.strip()[-1000:]}")
        self.bootstrap = out.stdout.strip().splitlines()[-1].split("=", 1)[1]
        # stderr names the instance's folder: "services: kafka in DIR".
        self.folder = out.stderr.strip().splitlines()[-1].rsplit(" in ", 1)[1]
        self.pid = int(open(os.path.join(self.folder, "pid")).read().strip())

    def stop(self):
        """Stops our instance only (a bare `services.sh stop` stops every instance of its folder)."""
        if self.folder:
            subprocess.run([os.path.join(ROOT, "scripts", "services.sh"), "stop", self.folder],
                           env=dict(os.environ, STROM_SERVICES_DIR=SERVICES),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def cpu(self):
        return cpu_ticks(self.pid) / TICK if self.pid else None


class Topics:
    def __init__(self, bootstrap, partitions):
        self.bootstrap = bootstrap
        self.partitions = partitions
        self.admin = AdminClient({"bootstrap.servers": bootstrap})

    def create(self, name):
        for topic, future in self.admin.create_topics([NewTopic(name, self.partitions, 1)],
                                                      operation_timeout=30).items():
            future.result()

    def delete(self, name):
        try:
            for topic, future in self.admin.delete_topics([name], operation_timeout=30).items():
                future.result()
        except Exception as e:  # the figures stand without it; the broker just keeps the data
            log(f"could not delete topic {name}: {e}")

    def end_offsets(self, name):
        """Sum of the partitions' high watermarks (transaction markers included)."""
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "strom-bench-offsets"})
        try:
            meta = consumer.list_topics(name, timeout=30).topics[name]
            return sum(consumer.get_watermark_offsets(TopicPartition(name, p), timeout=30)[1]
                       for p in meta.partitions)
        finally:
            consumer.close()


def count_committed(bootstrap, topic):
    """Records of `topic` a read_committed consumer sees (kcat, to the end)."""
    out = subprocess.run(f"kcat -C -b {bootstrap} -t {topic} -e -o beginning -q "
                         f"-X receive.message.max.bytes={RECEIVE} -X isolation.level=read_committed "
                         "| wc -l", shell=True, capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


# --- the input ---------------------------------------------------------------------------------

def generate(path, records):
    base = 1_704_067_200_000  # 2024-01-01, one record a millisecond
    with open(path, "w") as f:
        lines = []
        for i in range(records):
            s, ms = divmod(base + i, 1000)
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(s))
            lines.append(f'{{"id":{i},"k":{i % 1000},"v":"value-{i * 7919 % 100_000_000:08d}",'
                         f'"ts":"{stamp}.{ms:03d}"}}')
            if len(lines) == 100_000:
                f.write("\n".join(lines) + "\n")
                lines = []
        if lines:
            f.write("\n".join(lines) + "\n")


# --- strom -------------------------------------------------------------------------------------

COLUMNS = "id BIGINT, k INT, v STRING, ts TIMESTAMP(3)"

WORKLOADS = {
    # name: (sink options or None for blackhole, needs checkpointing)
    "read: kafka -> blackhole": None,
    "read+write: kafka -> kafka at-least-once": "'sink.delivery-guarantee' = 'at-least-once'",
    "read+write: kafka -> kafka exactly-once":
        "'sink.delivery-guarantee' = 'exactly-once', 'sink.transactional-id-prefix' = 'bench-{tag}'",
}


def script(name, p, bootstrap, out_topic, tag, interval):
    sink = WORKLOADS[name]
    lines = [f"SET 'parallelism.default' = '{p}';"]
    if sink:
        lines.append(f"SET 'execution.checkpointing.interval' = '{interval}';")
    lines.append(
        f"CREATE TABLE src ({COLUMNS}) WITH ('connector' = 'kafka', 'topic' = '{IN}', "
        f"'properties.bootstrap.servers' = '{bootstrap}', 'properties.group.id' = 'bench-{tag}', "
        f"'properties.receive.message.max.bytes' = '{RECEIVE}', "
        "'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset', "
        "'format' = 'json');")
    if sink:
        lines.append(
            f"CREATE TABLE snk ({COLUMNS}) WITH ('connector' = 'kafka', 'topic' = '{out_topic}', "
            f"'properties.bootstrap.servers' = '{bootstrap}', 'format' = 'json', "
            f"{sink.format(tag=tag)});")
    else:
        lines.append(f"CREATE TABLE snk ({COLUMNS}) WITH ('connector' = 'blackhole');")
    lines.append("INSERT INTO snk SELECT id, k, v, ts FROM src;")
    return "\n".join(lines) + "\n"


def taskmanagers(cluster):
    return procs.tree([cluster.proc.pid]) - {cluster.proc.pid}


def run_strom(cluster, broker, topics, folder, name, p, n, args):
    tag = uuid.uuid4().hex[:8]
    out_topic = f"out-{tag}"
    path = os.path.join(folder, f"job-{tag}.sql")
    with open(path, "w") as f:
        f.write(script(name, p, broker.bootstrap, out_topic, tag, args.checkpoint_interval))
    if WORKLOADS[name]:
        topics.create(out_topic)
    try:
        tms = taskmanagers(cluster)
        before, broker_before = snapshot(tms), broker.cpu()
        result = cluster.run(path, timeout_s=args.timeout)
        after, broker_after = snapshot(tms | taskmanagers(cluster)), broker.cpu()
        if not result.get("ok"):
            raise RuntimeError(f"strom job failed: {result.get('error')}")
        if WORKLOADS[name]:
            written = topics.end_offsets(out_topic)
            if written < n:
                raise RuntimeError(f"{out_topic}: {written:,} offsets, expected {n:,} records at least")
            if args.verify:
                committed = count_committed(broker.bootstrap, out_topic)
                if committed < n or ("exactly" in name and committed != n):
                    raise RuntimeError(f"{out_topic}: {committed:,} committed records, expected {n:,}")
        return {"seconds": result["net_runtime_s"], "cpu": cpu_seconds(before, after),
                "broker_cpu": broker_after - broker_before if broker.pid else None}
    finally:
        if WORKLOADS[name]:
            topics.delete(out_topic)


# --- the limit ---------------------------------------------------------------------------------

def run_limit(kind, broker, topics, input_file, n):
    kcat = ["kcat", "-b", broker.bootstrap, "-X", f"receive.message.max.bytes={RECEIVE}"]
    read = kcat + ["-C", "-t", IN, "-e", "-o", "beginning", "-q"]
    out_topic = f"limit-{uuid.uuid4().hex[:8]}"
    write = kcat + ["-P", "-t", out_topic]
    if kind != "consumer":
        topics.create(out_topic)
    try:
        broker_before = broker.cpu()
        if kind == "consumer":
            wall, cpu = run_measured([read])
        elif kind == "producer":
            wall, cpu = run_measured([write + ["-l", input_file]])
        else:
            wall, cpu = run_measured([read, write])
        broker_after = broker.cpu()
        if kind != "consumer":
            written = topics.end_offsets(out_topic)
            if written != n:
                raise RuntimeError(f"{out_topic}: {written:,} records, expected {n:,}")
        return {"seconds": wall, "cpu": cpu,
                "broker_cpu": broker_after - broker_before if broker.pid else None}
    finally:
        if kind != "consumer":
            topics.delete(out_topic)


LIMITS = {
    "consumer": "read: librdkafka consumer (kcat -C)",
    "producer": "write: librdkafka producer (kcat -P)",
    "copy": "read+write: kcat -C | kcat -P",
}
COMPARE = {  # strom workload -> the limit it is compared with
    "read: kafka -> blackhole": "consumer",
    "read+write: kafka -> kafka at-least-once": "copy",
    "read+write: kafka -> kafka exactly-once": "copy",
}


def best(runs):
    broker = [r["broker_cpu"] for r in runs if r["broker_cpu"] is not None]
    return {"seconds": min(r["seconds"] for r in runs), "cpu": min(r["cpu"] for r in runs),
            "broker_cpu": min(broker) if broker else None}


def main():
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--records", type=int, default=2_000_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--parallelism", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--bootstrap", help="use this broker instead of starting one")
    parser.add_argument("--strom", default=BIN, help=f"the strom binary (default {BIN})")
    parser.add_argument("--checkpoint-interval", default="1 s",
                        help="of the kafka -> kafka jobs (default '1 s')")
    parser.add_argument("--timeout", type=int, default=600, help="per strom job, seconds")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary folder (records, SQL scripts, strom's logs)")
    parser.add_argument("--verify", action="store_true",
                        help="also count each strom output topic with a read_committed consumer")
    args = parser.parse_args()
    n = args.records
    if not os.path.exists(args.strom):
        sys.exit(f"{args.strom} is missing: cd {ROOT} && CARGO_TARGET_DIR=... cargo build --release "
                 "--workspace --bins (and run with the same CARGO_TARGET_DIR)")
    if not shutil.which("kcat"):
        sys.exit("kcat is missing (Debian: apt-get install -y kcat)")

    folder = tempfile.mkdtemp(prefix="strom-kafka-bench-")
    broker = Broker(args.bootstrap)
    log(f"broker at {broker.bootstrap}" + (f" (pid {broker.pid})" if broker.pid else ""))
    results, topics = {}, None
    try:
        topics = Topics(broker.bootstrap, args.partitions)
        input_file = os.path.join(folder, "records.jsonl")
        log(f"generating {n:,} records in {input_file}")
        generate(input_file, n)
        topics.create(IN)
        wall, _ = run_measured([["kcat", "-P", "-b", broker.bootstrap, "-t", IN, "-l", input_file]])
        if topics.end_offsets(IN) != n:
            sys.exit(f"topic {IN} holds {topics.end_offsets(IN):,} records, expected {n:,}")
        log(f"produced {n:,} records into {IN} ({args.partitions} partitions) in {wall:.1f} s")

        for kind in LIMITS:
            runs = []
            for r in range(args.repeat):
                runs.append(run_limit(kind, broker, topics, input_file, n))
                log(f"limit {kind} #{r + 1}: {runs[-1]['seconds']:.2f} s, cpu {runs[-1]['cpu']:.2f} s")
            results[(LIMITS[kind], "kcat", 1)] = best(runs)

        for p in args.parallelism:
            log_path = os.path.join(folder, f"strom-local-{p}.log")
            with StromCluster(args.strom, p, 1, log_path) as cluster:
                for name in WORKLOADS:
                    runs = []
                    for r in range(args.repeat):
                        runs.append(run_strom(cluster, broker, topics, folder, name, p, n, args))
                        log(f"strom p={p} {name} #{r + 1}: {runs[-1]['seconds']:.2f} s, "
                            f"cpu {runs[-1]['cpu']:.2f} s")
                    results[(name, "strom", p)] = best(runs)
    finally:
        if topics and args.bootstrap:
            topics.delete(IN)
        del topics  # its client would log the broker's going away
        broker.stop()
        if sys.exc_info()[0]:
            log(f"the scripts and strom's logs are in {folder}")

    limit = {kind: results[(LIMITS[kind], "kcat", 1)] for kind in LIMITS}
    print(f"\nbroker: noida-db (Kafka protocol) at {broker.bootstrap}; {n:,} JSON records, "
          f"{args.partitions} partitions; best of {args.repeat}; "
          f"per core = records / CPU s (strom: TaskManager processes; kcat: its processes)")
    header = (f"{'workload':<42} {'system':<6} {'par':>3} {'records':>11} {'seconds':>8} "
              f"{'records/s':>11} {'cpu s':>7} {'per core':>11} {'broker cpu s':>12} "
              f"{'vs limit':>8} {'per core vs limit':>17}")
    print(header)
    for (name, system, p), r in results.items():
        rate, per_core = n / r["seconds"], n / r["cpu"] if r["cpu"] else float("inf")
        vs = vs_core = "-"
        if system == "strom":
            base = limit[COMPARE[name]]
            vs = f"{rate / (n / base['seconds']):.2f}"
            vs_core = f"{per_core / (n / base['cpu']):.2f}"
        broker_cpu = f"{r['broker_cpu']:.2f}" if r["broker_cpu"] is not None else "-"
        print(f"{name:<42} {system:<6} {p:>3} {n:>11,} {r['seconds']:>8.3f} {rate:>11,.0f} "
              f"{r['cpu']:>7.2f} {per_core:>11,.0f} {broker_cpu:>12} {vs:>8} {vs_core:>17}")
    if args.keep:
        log(f"the records, scripts and strom's logs are in {folder}")
    else:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
