#!/usr/bin/env python3
"""strom against Apache Flink, side by side in one run on one machine.

usage: bench/compare.py [--records N] [-p 1,2] [-r REPS] [--systems strom,flink-sql,flink-java,baseline]
                        [--nexmark-events M] [--timeout S] [--one-cluster] [--out DIR] [WORKLOAD ...]

Workloads (default: all but the suite): filter wc win nexmark-q0 nexmark-q1 nexmark-q2 nexmark-q5
nexmark-q8; suite-q0 ... suite-q23 (not q14), or `suite` for all of them: the Nexmark suite's own
files (bench/nexmark/queries/) on strom and Flink SQL over the same --nexmark-events events (see
harness/nexmark_suite.py), tabulated side by side (DIR/suite.md).
The input is generated once by the Flink peer kit (../shared/bench/flink/setup.sh: N records of
`word,ts_ms`, deterministic), so both systems read the identical bytes. For each workload and
parallelism the systems run in turn, each on its own fresh cluster (or, with --one-cluster, on one
cluster per system and parallelism kept for all workloads) (strom: `strom local` with
one TaskManager of 2 slots; Flink: one JobManager and one TaskManager of 2 slots), REPS times;
the hand-written baseline (bench/baseline) runs wc and win single-threaded. Prints one JSON line
per run (also in DIR/results.jsonl) and the table (DIR/table.md): medians of Flink's net
runtime and of strom's JobManager job duration, records/s, records/s per core (= per slot used),
the peak RSS of all the system's processes, strom/Flink (the faster of Flink SQL and Java) and
strom/baseline (per core).
"""
import argparse, contextlib, datetime, json, os, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import flink_runner, nexmark, nexmark_suite, procs, table, workloads  # noqa: E402
from harness.strom_runner import StromCluster  # noqa: E402

ROOT = os.path.dirname(HERE)
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
STROM = os.environ.get("STROM_BIN", os.path.join(TARGET, "release", "strom"))
BASELINE = os.path.join(TARGET, "release", "strom-baseline")
SYSTEMS = ["strom", "flink-sql", "flink-java", "baseline"]


class Context:
    def __init__(self, args, data, out):
        self.records, self.data, self.out = args.records, data, out
        self.nexmark_events = args.nexmark_events
        self.strom = STROM
        self.timeout = args.timeout
        self.clusters = {} if args.one_cluster else None  # (system, p) -> a cluster kept for all workloads
        self.stack = contextlib.ExitStack()


@contextlib.contextmanager
def cluster_for(ctx, key, make):
    """A fresh cluster, or with --one-cluster the one of (system, p), started on first use."""
    if ctx.clusters is None:
        with make() as cluster:
            yield cluster
    else:
        if key not in ctx.clusters:
            ctx.clusters[key] = ctx.stack.enter_context(make())
        yield ctx.clusters[key]


def emit(results, out, row):
    results.append(row)
    line = json.dumps(row)
    print(line, flush=True)
    with open(os.path.join(out, "results.jsonl"), "a") as f:
        f.write(line + "\n")


def log(msg):
    print(f"[compare] {msg}", file=sys.stderr, flush=True)


def run_strom(ctx, wl, p, reps, emit_row):
    script, _ = wl.scripts(ctx, p)
    name = "all" if ctx.clusters is not None else wl.name
    with cluster_for(ctx, ("strom", p), lambda: StromCluster(
            STROM, 1, 2, os.path.join(ctx.out, "logs", f"strom-{name}-p{p}.log"))) as cluster:
        for rep in range(1, reps + 1):
            log(f"strom {wl.name} p={p} rep {rep}/{reps}")
            emit_row("strom", rep, cluster.run(script, ctx.timeout))


def run_flink(ctx, env, jars, wl, p, reps, system, emit_row):
    variables = wl.variables(ctx, p)
    _, flink_sql = wl.scripts(ctx, p)
    logs = os.path.join(ctx.out, "logs")
    name = "all" if ctx.clusters is not None else wl.name
    with cluster_for(ctx, (system, p), lambda: flink_runner.FlinkCluster(
            env, os.path.join(ctx.out, "flink-log", f"{system}-{name}-p{p}"))) as cluster:
        for rep in range(1, reps + 1):
            log(f"{system} {wl.name} p={p} rep {rep}/{reps}")
            log_path = os.path.join(logs, f"{system}-{wl.name}-p{p}-r{rep}.log")
            if system == "flink-sql":
                row = cluster.run_sql(flink_sql, variables, log_path, ctx.timeout)
            else:
                jar_key, java_args = wl.java
                row = cluster.run_java(jars[jar_key], p, java_args(variables), log_path, ctx.timeout)
            emit_row(system, rep, row)


def run_baseline(ctx, wl, reps, emit_row):
    path = wl.variables(ctx, 1)["INPUT"]
    for rep in range(1, reps + 1):
        log(f"baseline {wl.name} rep {rep}/{reps}")
        with procs.PeakRss() as rss:
            proc = subprocess.Popen([BASELINE, wl.baseline, path], stdout=subprocess.PIPE, text=True)
            rss.add(proc.pid)
            out, _ = proc.communicate()
        if proc.returncode != 0:
            emit_row("baseline", rep, {"ok": False, "error": f"exit status {proc.returncode}"})
            continue
        res = json.loads(out.strip().splitlines()[-1])
        emit_row("baseline", rep, {"ok": res["count_sum"] <= res["records"], "net_runtime_s": res["seconds"],
                                   "peak_rss_mib": rss.peak_mib, "result_rows": res["result_rows"],
                                   "count_sum": res["count_sum"]})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", "-n", type=int, default=20_000_000)
    ap.add_argument("-p", default="1,2")
    ap.add_argument("-r", type=int, default=1, dest="reps")
    ap.add_argument("--systems", default=",".join(SYSTEMS))
    ap.add_argument("--nexmark-events", type=int, default=10_000_000)
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per run")
    ap.add_argument("--one-cluster", action="store_true",
                    help="one cluster per system and parallelism for all workloads (p outermost), not one each")
    ap.add_argument("--out")
    ap.add_argument("workloads", nargs="*")
    args = ap.parse_args()
    pars = [int(p) for p in args.p.split(",")]
    systems = args.systems.split(",")
    all_wl = workloads.all_workloads(flink_runner.KIT)
    chosen = []
    for name in args.workloads or [w for w in all_wl if not w.startswith("suite-")]:
        chosen += [w for w in all_wl if w.startswith("suite-")] if name == "suite" else [name]
    for name in chosen:
        if name not in all_wl:
            sys.exit(f"unknown workload '{name}'; one of: {' '.join(all_wl)}")
    if "strom" in systems and not os.path.exists(STROM):
        sys.exit(f"no {STROM}: run `cargo build --release -p strom` (with CARGO_TARGET_DIR={TARGET})")
    if "baseline" in systems and not os.path.exists(BASELINE):
        subprocess.run(["cargo", "build", "--release", "-p", "strom-bench-baseline"], cwd=ROOT, check=True)
    out = args.out or os.path.join(flink_runner.HOME, "compare", datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
    os.makedirs(os.path.join(out, "logs"), exist_ok=True)
    log(f"results in {out}")
    log(f"Flink kit setup for {args.records:,} records (idempotent)")
    flink_runner.setup(args.records)
    env = flink_runner.environment()
    ctx = Context(args, flink_runner.data_folder(), out)
    jars = {"kit": env["FLINK_PEER_JAR"]}
    if "flink-java" in systems:
        jars["ours"] = flink_runner.build_our_jar(env)
    if any(all_wl[w].name.startswith("nexmark") for w in chosen):
        nexmark.prepare(ctx)
    if any(w.startswith("suite-") for w in chosen):
        log(f"Nexmark suite: exporting {args.nexmark_events:,} events for Flink (once per count and p)")
        nexmark_suite.prepare(ctx, pars)
    results = []
    order = ([(name, p) for p in pars for name in chosen] if args.one_cluster
             else [(name, p) for name in chosen for p in pars])
    for i, (name, p) in enumerate(order):
        if args.one_cluster and i and p != order[i - 1][1]:
            ctx.stack.close()  # the previous parallelism's clusters
            ctx.clusters.clear()
        wl = all_wl[name]
        def emit_row(system, rep, row):
            emit(results, out, {"workload": wl.name, "system": system, "parallelism": p if system != "baseline" else 1,
                                "rep": rep, "records": wl.records(ctx), **row})
        for system in systems:
            try:
                if system == "strom":
                    run_strom(ctx, wl, p, args.reps, emit_row)
                elif system in ("flink-sql", "flink-java"):
                    if system == "flink-java" and wl.java is None:
                        continue
                    if system == "flink-sql" and getattr(wl, "strom_only", None):
                        continue
                    run_flink(ctx, env, jars, wl, p, args.reps, system, emit_row)
                elif system == "baseline" and wl.baseline and p == pars[0]:
                    run_baseline(ctx, wl, args.reps, emit_row)
            except Exception as e:  # one failed configuration does not end the comparison
                log(f"{system} {wl.name} p={p} failed: {e}")
                emit_row(system, 0, {"ok": False, "error": str(e)})
    ctx.stack.close()
    main_rows = [r for r in results if not r["workload"].startswith("suite-")]
    if main_rows:
        rendered = table.render(main_rows)
        with open(os.path.join(out, "table.md"), "w") as f:
            f.write(rendered + "\n")
        print()
        print(rendered)
    suite = [r for r in results if r["workload"].startswith("suite-")]
    if suite:
        rendered = table.render_suite(suite, nexmark_suite.STROM_ONLY)
        with open(os.path.join(out, "suite.md"), "w") as f:
            f.write(rendered + "\n")
        print()
        print(rendered)


if __name__ == "__main__":
    main()
