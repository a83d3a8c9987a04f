"""Nexmark (d): q0, q1, q2, q5 and q8 over the same events on both systems.

strom reads the events from its `nexmark` connector (generated in the source, as the issue asks);
Flink reads the same events from CSV files that strom's `nexmark` connector wrote once through
its `filesystem` sink (`prepare`): one file per table for p=1, two time-ordered part files per
table for p=2 (Flink gives each reader whole files). Event time advances `EVENT_RATE` events per
second, so the windows of q5 (HOP 2 s / 10 s) and q8 (TUMBLE 10 s) see many panes. The
watermark is `dateTime - 4 s` on both, as in the Nexmark DDL. The records of a query are the
rows its sources read: the bids for q0-q5, the people and auctions for q8.
"""
import os
from pathlib import Path

from . import procs
from .strom_runner import StromCluster

EVENT_RATE = 100_000
COLUMNS = {
    "person": "id BIGINT, name STRING, emailAddress STRING, creditCard STRING, city STRING, "
              "state STRING, dateTime TIMESTAMP(3), extra STRING",
    "auction": "id BIGINT, itemName STRING, description STRING, initialBid BIGINT, reserve BIGINT, "
               "dateTime TIMESTAMP(3), expires TIMESTAMP(3), seller BIGINT, category BIGINT, extra STRING",
    "bid": "auction BIGINT, bidder BIGINT, price BIGINT, channel STRING, url STRING, "
           "dateTime TIMESTAMP(3), extra STRING",
}
WATERMARK = "WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND"

QUERIES = {
    "q0": ("bid", """
CREATE TABLE sink (auction BIGINT, bidder BIGINT, price BIGINT, dateTime TIMESTAMP(3), extra STRING)
  WITH ('connector' = 'blackhole');
INSERT INTO sink SELECT auction, bidder, price, dateTime, extra FROM bid;
"""),
    "q1": ("bid", """
CREATE TABLE sink (auction BIGINT, bidder BIGINT, price DECIMAL(23, 3), dateTime TIMESTAMP(3), extra STRING)
  WITH ('connector' = 'blackhole');
INSERT INTO sink SELECT auction, bidder, 0.908 * price AS price, dateTime, extra FROM bid;
"""),
    "q2": ("bid", """
CREATE TABLE sink (auction BIGINT, price BIGINT) WITH ('connector' = 'blackhole');
INSERT INTO sink SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0;
"""),
    # q5 and q8 are kept as files, which strom's tests compile too (crates/strom-sql, crates/strom).
    "q5": ("bid", None),
    "q8": ("person,auction", None),
}
QUERY_DIR = Path(__file__).resolve().parent.parent / "strom"


def _query_file(name):
    """The text of bench/strom/nexmark-<name>.sql without its comment lines."""
    text = (QUERY_DIR / f"nexmark-{name}.sql").read_text()
    return "\n" + "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("--")) + "\n"


for _name, (_tables, _text) in list(QUERIES.items()):
    if _text is None:
        QUERIES[_name] = (_tables, _query_file(_name))

SHARE = {"person": 1, "auction": 3, "bid": 46}  # of every 50 events


def _nexmark_options(table, events):
    return (f"'connector' = 'nexmark', 'nexmark.table' = '{table}', 'max-events' = '{events}', "
            f"'first-event-rate' = '{EVENT_RATE}'")


def folder(ctx, p):
    return os.path.join(ctx.data, f"nexmark_{ctx.nexmark_events}_p{p}")


def prepare(ctx):
    """Writes the events as CSV (once per event count) for Flink, with strom's nexmark source."""
    for p in (1, 2):
        out = folder(ctx, p)
        if os.path.exists(os.path.join(out, "_done")):
            continue
        lines = [f"SET 'parallelism.default' = '{p}';"]
        for table, columns in COLUMNS.items():
            lines.append(f"CREATE TABLE {table} ({columns}) WITH ({_nexmark_options(table, ctx.nexmark_events)});")
            lines.append(f"CREATE TABLE {table}_file ({columns}) WITH ('connector' = 'filesystem', "
                         f"'path' = '{out}/{table}', 'format' = 'csv');")
        for table in COLUMNS:
            lines.append(f"INSERT INTO {table}_file SELECT * FROM {table};")
        script = os.path.join(ctx.out, f"nexmark-export-p{p}.sql")
        with open(script, "w") as f:
            f.write("\n".join(lines) + "\n")
        with StromCluster(ctx.strom, 1, 2, os.path.join(ctx.out, "logs", f"nexmark-export-p{p}.log")) as c:
            result = c.run(script)
        if not result.get("ok"):
            raise RuntimeError(f"nexmark export failed: {result.get('error')}")
        open(os.path.join(out, "_done"), "w").close()


class NexmarkWorkload:
    baseline = None

    def __init__(self, query):
        self.query = query
        self.name = f"nexmark-{query}"
        self.java = ("ours", lambda v, name=self.name: ["--query", name, "--input", v["INPUT"]])
        self.tables = QUERIES[query][0].split(",")
        self.strom_sql = self.flink_sql = None  # written per run: see scripts()

    def records(self, ctx):
        return sum(ctx.nexmark_events * SHARE[t] // 50 for t in self.tables)

    def variables(self, ctx, p):
        return {"P": str(p), "INPUT": folder(ctx, p)}

    def scripts(self, ctx, p):
        """(strom script, Flink script) for parallelism p, written into the output folder."""
        query = QUERIES[self.query][1]
        strom = [f"SET 'parallelism.default' = '{p}';"]
        flink = ["SET 'execution.runtime-mode' = 'streaming';", f"SET 'parallelism.default' = '{p}';"]
        for t in self.tables:
            strom.append(f"CREATE TABLE {t} ({COLUMNS[t]}, {WATERMARK}) WITH "
                         f"({_nexmark_options(t, ctx.nexmark_events)});")
            flink.append(f"CREATE TEMPORARY TABLE {t} ({COLUMNS[t]}, {WATERMARK}) WITH ('connector' = "
                         f"'filesystem', 'path' = '{folder(ctx, p)}/{t}', 'format' = 'csv');")
        paths = []
        for system, ddl in (("strom", strom), ("flink", flink)):
            path = os.path.join(ctx.out, f"{system}-{self.name}-p{p}.sql")
            text = "\n".join(ddl) + "\n" + query
            if system == "strom":
                # DataFusion, under strom's SQL, has `%` but no MOD function
                text = text.replace("MOD(auction, 123)", "auction % 123")
            if system == "flink":
                # DATETIME is a keyword in Flink SQL: Nexmark's DDL quotes the column
                text = text.replace("CREATE TABLE sink", "CREATE TEMPORARY TABLE sink").replace("dateTime", "`dateTime`")
            with open(path, "w") as f:
                f.write(text)
            paths.append(path)
        return paths


def workloads():
    return [NexmarkWorkload(q) for q in QUERIES]
