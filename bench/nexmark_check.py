#!/usr/bin/env python3
"""strom's Nexmark results against Apache Flink's, row for row, on the same events.

usage: bench/nexmark_check.py [--nexmark-events M] [-p P] [--out DIR] [QUERY ...]   (default: q5 q8)

The queries and inputs are those of `bench/compare.py` (bench/harness/nexmark.py: strom reads its
`nexmark` connector, Flink the same events as CSV files strom exported), with the blackhole sink
replaced by a CSV `filesystem` sink on both systems. Prints, per query, the rows of each system,
how many rows only one of them has (a multiset difference), and exits 1 on any difference.
Needs the release build (`cargo build --release -p strom`) and the Flink kit (setup.sh).
"""
import argparse, collections, csv, datetime, glob, os, sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import flink_runner, nexmark  # noqa: E402
from harness.strom_runner import StromCluster  # noqa: E402

TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(os.path.dirname(HERE), "target"))
STROM = os.path.join(TARGET, "release", "strom")


class Context:
    def __init__(self, events, data, out):
        self.nexmark_events, self.data, self.out, self.strom = events, data, out, STROM


def with_file_sink(path, folder):
    """The script at `path` writing CSV into `folder` instead of discarding."""
    with open(path) as f:
        text = f.read()
    text = text.replace("'connector' = 'blackhole'",
                        f"'connector' = 'filesystem', 'path' = '{folder}', 'format' = 'csv'")
    out = path.replace(".sql", "-check.sql")
    with open(out, "w") as f:
        f.write(text)
    return out


def value(field):
    """A CSV field normalized: timestamps (both systems' spellings) to epoch milliseconds."""
    for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S"):
        try:
            t = datetime.datetime.strptime(field, fmt).replace(tzinfo=datetime.timezone.utc)
            return str(int(t.timestamp() * 1000))
        except ValueError:
            pass
    return field


def rows(folder):
    """Every row of every file under `folder` (Flink's in-progress files too), normalized."""
    found = collections.Counter()
    for path in glob.glob(os.path.join(folder, "**", "*"), recursive=True) + \
            glob.glob(os.path.join(folder, "**", ".*"), recursive=True):
        if os.path.isfile(path) and not path.endswith((".crc", "_SUCCESS")):
            with open(path, newline="") as f:
                for row in csv.reader(f):
                    if row:
                        found[tuple(value(x) for x in row)] += 1
    return found


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nexmark-events", type=int, default=2_000_000)
    ap.add_argument("-p", type=int, default=1)
    ap.add_argument("--out")
    ap.add_argument("queries", nargs="*", default=["q5", "q8"])
    args = ap.parse_args()
    out = args.out or os.path.join(flink_runner.HOME, "nexmark-check",
                                   datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
    os.makedirs(os.path.join(out, "logs"), exist_ok=True)
    env = flink_runner.environment()
    ctx = Context(args.nexmark_events, flink_runner.data_folder(), out)
    nexmark.prepare(ctx)
    same = True
    for query in args.queries:
        wl = nexmark.NexmarkWorkload(query)
        strom_sql, flink_sql = wl.scripts(ctx, args.p)
        results = {}
        strom_out, flink_out = os.path.join(out, f"strom-{query}"), os.path.join(out, f"flink-{query}")
        with StromCluster(STROM, 1, 2, os.path.join(out, "logs", f"strom-{query}.log")) as cluster:
            run = cluster.run(with_file_sink(strom_sql, strom_out))
        if not run.get("ok"):
            sys.exit(f"strom {query}: {run.get('error')}")
        results["strom"] = rows(strom_out)
        with flink_runner.FlinkCluster(env, os.path.join(out, "flink-log", query)) as cluster:
            run = cluster.run_sql(with_file_sink(flink_sql, flink_out), wl.variables(ctx, args.p),
                                  os.path.join(out, "logs", f"flink-{query}.log"))
        if not run.get("ok"):
            sys.exit(f"flink {query}: {run.get('error')}")
        results["flink"] = rows(flink_out)
        only_strom = results["strom"] - results["flink"]
        only_flink = results["flink"] - results["strom"]
        print(f"{query}: {args.nexmark_events:,} events, p={args.p}: strom {sum(results['strom'].values()):,} rows, "
              f"Flink {sum(results['flink'].values()):,} rows; only strom {sum(only_strom.values())}, "
              f"only Flink {sum(only_flink.values())}", flush=True)
        for label, diff in (("only strom", only_strom), ("only Flink", only_flink)):
            for row, n in list(diff.items())[:5]:
                print(f"  {label}: {','.join(row)} x{n}")
        same &= not only_strom and not only_flink
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
