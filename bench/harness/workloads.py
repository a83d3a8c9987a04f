"""The workloads: what each system runs, over which input, and how many records that is.

(a)-(c) read the peer kit's CSV files (gen_data.py: `word,ts_ms`, 10,000 words), the
identical bytes for every system: the single file at p=1, the 2-part folder at p=2. Flink runs
the kit's SQL and StreamBench jar for wc/win and bench/flink/ for the others; strom runs
bench/strom/*.sql. (d) is Nexmark: strom generates the events with its `nexmark` connector and
Flink reads the same events from CSV files strom exported (see nexmark.py). (e) is every query of
the Nexmark suite's own files, the same way (see nexmark_suite.py).
"""
import os

from . import nexmark, nexmark_suite

BENCH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tag(n):
    return f"{n // 1_000_000}m" if n % 1_000_000 == 0 else f"{n // 1000}k" if n % 1000 == 0 else str(n)


class Workload:
    """name; strom SQL file; Flink SQL file (kit's or ours); Flink Java (jar key + args)."""

    def __init__(self, name, strom_sql, flink_sql, java, baseline=None):
        self.name, self.strom_sql, self.flink_sql, self.java, self.baseline = (
            name, strom_sql, flink_sql, java, baseline)

    def variables(self, ctx, p):
        n = ctx.records
        data = ctx.data
        path = os.path.join(data, f"words_{tag(n)}.csv") if p == 1 else os.path.join(data, f"words_{tag(n)}_2parts")
        return {"P": str(p), "N": str(n), "INPUT": path, "SINK": "'connector' = 'blackhole'"}

    def records(self, ctx):
        return ctx.records

    def scripts(self, ctx, p):
        """(strom script, Flink SQL script and its variables) for parallelism p."""
        variables = self.variables(ctx, p)
        strom = substitute(self.strom_sql, variables, os.path.join(ctx.out, f"strom-{self.name}-p{p}.sql"))
        return strom, self.flink_sql


def substitute(path, variables, out_path):
    with open(path) as f:
        text = f.read()
    for k, v in variables.items():
        text = text.replace("${" + k + "}", v)
    with open(out_path, "w") as f:
        f.write(text)
    return out_path


def _csv(name, kit_sql, java, baseline=None):
    strom = os.path.join(BENCH, "strom", f"{name}.sql")
    return Workload(name, strom, kit_sql, java, baseline)


def all_workloads(kit):
    csv = [
        _csv("filter", os.path.join(BENCH, "flink", "sql", "filter.sql"),
             ("ours", lambda v: ["--query", "filter", "--input", v["INPUT"]])),
        _csv("wc", os.path.join(kit, "sql", "wc_file.sql"),
             ("kit", lambda v: ["--query", "wc", "--source", "file", "--input", v["INPUT"]]), "wc"),
        _csv("win", os.path.join(kit, "sql", "win_file.sql"),
             ("kit", lambda v: ["--query", "win", "--source", "file", "--input", v["INPUT"]]), "win"),
    ]
    return {w.name: w for w in csv + nexmark.workloads() + nexmark_suite.workloads()}
