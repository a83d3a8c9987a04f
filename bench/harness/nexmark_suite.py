"""(e) The Nexmark suite's own files (bench/nexmark/queries/: ddl_gen.sql + ddl_views.sql + qN.sql,
q0-q23 but q14) for throughput: workloads `suite-q0` ... `suite-q23` (`suite` = all of them).

strom runs the files as they are, `${...}` filled in (`events.num` = --nexmark-events,
`first-event.rate` = SUITE_TPS), with their `blackhole` sinks; its `nexmark` source generates the
events. Flink reads the same events from CSV files (person, auction, bid) that one strom job wrote
once per event count and parallelism, with bench/nexmark_check.py's export (one time-ordered file
per table and source subtask; Flink gives each reader whole files), declared with the views'
columns and the `dateTime - 4 s` watermark, then runs qN.sql with its blackhole sink (blackhole
takes updating results), through the kit's run_sql.py. The records of a query are the events:
strom's source generates all of them whatever the query reads, Flink reads the tables it needs.
q6 (Flink refuses its text) and the processing-time queries q12 and q13 run on strom only.
"""
import os, sys

BENCH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if BENCH not in sys.path:
    sys.path.insert(0, BENCH)
import nexmark_check as nc  # noqa: E402

SUITE_TPS = 10_000  # Nexmark's default first-event rate: 1 M events are 100 s of event time
STROM_ONLY = {"q6": "Flink refuses the file (`Column 'rownum' not found in any table`)",
              "q12": "processing time", "q13": "processing time"}


def folder(ctx, p):
    return os.path.join(ctx.data, f"nexmark_suite_{ctx.nexmark_events}_tps{SUITE_TPS}", f"events-p{p}")


class _ExportContext:
    def __init__(self, ctx, base):
        self.strom, self.out = ctx.strom, base
        self.variables = variables(ctx)


def variables(ctx):
    return {"NEXMARK_TABLE": "datagen", "TPS": str(SUITE_TPS), "EVENTS_NUM": str(ctx.nexmark_events),
            "PERSON_PROPORTION": "1", "AUCTION_PROPORTION": "3", "BID_PROPORTION": "46"}


def prepare(ctx, pars):
    """The events as CSV for Flink, once per event count and parallelism."""
    for p in pars:
        out = folder(ctx, p)
        if os.path.exists(os.path.join(out, "_done")):
            continue
        base = os.path.dirname(out)
        os.makedirs(os.path.join(base, "logs"), exist_ok=True)
        _, counts = nc.export_events(_ExportContext(ctx, base), p)
        with open(os.path.join(out, "_done"), "w") as f:
            f.write(repr(counts) + "\n")


class SuiteWorkload:
    baseline = None
    java = None

    def __init__(self, query):
        self.query = query
        self.name = f"suite-{query}"
        self.strom_only = STROM_ONLY.get(query)

    def records(self, ctx):
        return ctx.nexmark_events

    def query_variables(self, ctx, system, p):
        """qN's variables: q10's output folder, q13's side input (10,000 keys)."""
        home = os.path.join(ctx.out, "side-input")
        side = os.path.join(home, "data", "side_input.txt")
        if not os.path.exists(side):
            os.makedirs(os.path.dirname(side), exist_ok=True)
            nc.write(side, "".join(f"{k},value-{k}\n" for k in range(10_000)))
        return dict(variables(ctx), NEXMARK_DIR=os.path.join(ctx.out, f"{system}-{self.name}-p{p}-out"),
                    SUBMIT_TIME="0", FLINK_HOME=home)

    def variables(self, ctx, p):
        return {}

    def scripts(self, ctx, p):
        """(strom script, Flink script) for parallelism p, written into the output folder."""
        v = self.query_variables(ctx, "strom", p)
        strom = (f"SET 'parallelism.default' = '{p}';\n" + nc.ends(nc.fill(nc.read("ddl_gen.sql"), v)) + "\n" +
                 nc.ends(nc.fill(nc.read("ddl_views.sql"), v)) + "\n" + nc.fill(nc.read(f"{self.query}.sql"), v) + "\n")
        strom_path = nc.write(os.path.join(ctx.out, f"strom-{self.name}-p{p}.sql"), strom)
        if self.strom_only:
            return strom_path, None
        ddl = ["SET 'execution.runtime-mode' = 'streaming';", f"SET 'parallelism.default' = '{p}';"]
        for table, columns in nc.COLUMNS.items():
            ddl.append(f"CREATE TABLE {table} ({columns}, {nc.WATERMARK}) WITH ('connector' = 'filesystem', "
                       f"'path' = '{folder(ctx, p)}/{table}', 'format' = 'csv');")
        text = nc.fill(nc.read(f"{self.query}.sql"), self.query_variables(ctx, "flink", p))
        for old, new in nc.FLINK_ADAPTATIONS.get(self.query, []):
            text = text.replace(old, new)
        flink_path = nc.write(os.path.join(ctx.out, f"flink-{self.name}-p{p}.sql"), "\n".join(ddl) + "\n" + text + "\n")
        return strom_path, flink_path


def workloads():
    return [SuiteWorkload(q) for q in nc.ALL]
