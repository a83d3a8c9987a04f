#!/usr/bin/env python3
"""The Nexmark suite on strom and on Apache Flink 2.3 over the same events, results compared row
by row.

usage: bench/nexmark_check.py [--nexmark-events M] [-p P[,P]] [--tps T] [--out DIR]
                              [--strom PATH] [QUERY ...]      (default: q0 ... q23 but q14)

strom runs the suite's files as a user brings them (bench/nexmark/queries/): `ddl_gen.sql` +
`ddl_views.sql` + `qN.sql`, with only the `${...}` variables filled in (`events.num` = M,
`first-event.rate` = T) and qN's `blackhole` sink replaced by a CSV `filesystem` sink, at
parallelism P, with `strom local --taskmanagers 2 --run`.

Flink gets the same events: one strom job (the same ddl_gen + ddl_views) writes the views
person, auction and bid to CSV files, at parallelism P, so each table is one file at P = 1 and
one file per source subtask at P = 2, each in event-time order (checked here); Flink's readers
take whole files, so each reader's watermark follows its data as strom's source subtasks do.
Flink declares `person`, `auction`, `bid` as CSV `filesystem` tables with the views' columns and
`WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND`, then runs qN.sql unchanged but for
the same sink replacement, on a standalone cluster of the kit in ../shared/bench/flink
(setup.sh once), through bench/harness/flink_nexmark.py. Flink's file sink refuses updating
results; those queries' SELECT is collected to the client instead, its changelog applied to a
table (as Table.to_pandas() does). strom's file sink materializes an updating result itself
(docs/sql.md).

Compared: the multiset of rows (an append-only result: every row; an updating one: the final
table), timestamps of both spellings as epoch milliseconds. A difference is also checked with
numbers compared as numbers, to tell DECIMAL or float rendering from a different value, and for
q9 with Flink's rows taken as the upsert stream they are (FLINK_UPSERT_KEY below), and for q19
without the row number of tied rows (ORDER_OF_TIES). The
processing-time queries (q12, q13) are compared by invariants only (see invariants()). Prints a
table per P; exits 1 if any query differs (or its invariants do not hold).
"""
import argparse, collections, csv, datetime, decimal, glob, json, os, re, shutil, subprocess, sys, time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import flink_runner, procs  # noqa: E402

QUERY_DIR = os.path.join(HERE, "nexmark", "queries")
ALL = [f"q{i}" for i in range(24) if i != 14]  # q14 needs user-defined functions
PROCESSING_TIME = {"q12", "q13"}
COLUMNS = {  # the columns of ddl_views.sql's views
    "person": "id BIGINT, name STRING, emailAddress STRING, creditCard STRING, city STRING, "
              "state STRING, `dateTime` TIMESTAMP(3), extra STRING",
    "auction": "id BIGINT, itemName STRING, description STRING, initialBid BIGINT, reserve BIGINT, "
               "`dateTime` TIMESTAMP(3), expires TIMESTAMP(3), seller BIGINT, category BIGINT, extra STRING",
    "bid": "auction BIGINT, bidder BIGINT, price BIGINT, channel STRING, url STRING, "
           "`dateTime` TIMESTAMP(3), extra STRING",
}
DATETIME_COLUMN = {"person": 6, "auction": 5, "bid": 5}
WATERMARK = "WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '4' SECOND"
# The one change Flink needs: q23 spells `A.dateTime` unquoted, and DATETIME is reserved in Flink
# 2.3's parser ("Encountered \". dateTime\"").
FLINK_ADAPTATIONS = {"q23": [("A.dateTime AS", "A.`dateTime` AS")]}
# Results whose rows Flink writes as an upsert stream on a key though it declares them
# insert-only: q9's Top-1 per auction (ORDER BY price DESC, dateTime ASC) is planned with
# changelogMode [I] by Flink 2.3 (FLINK-39966: a Top-1 not ordered on a time attribute only is
# taken for a deduplication), so its file sink takes every new top-1 of an auction as another row.
# Also compared: Flink's rows upserted on that key (the last per key), against strom's.
FLINK_UPSERT_KEY = {"q9": 0}
# Top-N results that depend on the arrival order of rows tied in the ORDER BY: q19's ROW_NUMBER
# over PARTITION BY auction ORDER BY price DESC numbers the bids of one price in arrival order, and
# of bids tied at the 10th place keeps the first to arrive; at p > 1 the arrival order interleaves
# two source subtasks, on both systems. Also compared: the rows' partition and order columns only
# (auction, price): the top prices of every auction.
ORDER_OF_TIES = {"q19": (0, 2)}


def default_strom():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(os.path.dirname(HERE), "target"))
    release = os.path.join(target, "release", "strom")
    return release if os.path.exists(release) else os.path.join(target, "debug", "strom")


def read(name):
    with open(os.path.join(QUERY_DIR, name)) as f:
        return f.read().rstrip()


def ends(text):
    return text if text.endswith(";") else text + ";"


def fill(text, variables):
    for k, v in variables.items():
        text = text.replace("${" + k + "}", v)
    left = sorted(set(re.findall(r"\$\{(\w+)\}", text)))
    if left:
        raise SystemExit(f"no value for {', '.join(left)}")
    return text


def with_file_sink(text, folder):
    return text.replace("'connector' = 'blackhole'",
                        f"'connector' = 'filesystem', 'path' = '{folder}', 'format' = 'csv'")


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


# ---------------------------------------------------------------- strom

def strom_run(binary, script, log_path, timeout_s):
    """`strom local --taskmanagers 2 --run script`: (ok, message, refused at compile time)."""
    with open(log_path, "w") as log:
        proc = subprocess.Popen([binary, "local", "--taskmanagers", "2", "-Drest.port=0",
                                 "-Drest.bind-address=127.0.0.1", "--run", script],
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            rc = proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            procs.stop(proc, 10)
            return False, f"timed out after {timeout_s} s", False
    if rc == 0:
        return True, "", False
    with open(log_path, errors="replace") as f:
        lines = [l.rstrip() for l in f if l.strip()]
    at = next((i for i, l in enumerate(lines) if l.startswith("error")), None)
    message = " ".join(lines[at:at + 3]) if at is not None else (lines[-1] if lines else f"exit {rc}")
    refused = "cannot compile" in message
    message = re.sub(r"cannot compile \S+: ", "", message)  # the script's path
    return False, re.sub(r"\s+", " ", message)[:400], refused


def export_events(ctx, p):
    """The views person, auction, bid written to CSV by strom at parallelism p; checks that every
    file is in event-time order. Returns the folder and the rows per table."""
    folder = os.path.join(ctx.out, f"events-p{p}")
    shutil.rmtree(folder, ignore_errors=True)
    lines = [f"SET 'parallelism.default' = '{p}';", ends(fill(read("ddl_gen.sql"), ctx.variables)),
             ends(fill(read("ddl_views.sql"), ctx.variables))]
    for table, columns in COLUMNS.items():
        lines.append(f"CREATE TABLE {table}_file ({columns}) WITH ('connector' = 'filesystem', "
                     f"'path' = '{folder}/{table}', 'format' = 'csv');")
    for table in COLUMNS:
        lines.append(f"INSERT INTO {table}_file SELECT * FROM {table};")
    script = write(os.path.join(ctx.out, f"export-p{p}.sql"), "\n".join(lines) + "\n")
    ok, message, _ = strom_run(ctx.strom, script, os.path.join(ctx.out, "logs", f"export-p{p}.log"), 600)
    if not ok:
        raise SystemExit(f"strom could not export the events: {message}")
    counts = {}
    for table, column in DATETIME_COLUMN.items():
        files = sorted(f for f in glob.glob(os.path.join(folder, table, "*")) if os.path.isfile(f))
        counts[table] = 0
        for path in files:
            last = ""
            with open(path, newline="") as f:
                for row in csv.reader(f):
                    counts[table] += 1
                    if row[column] < last:
                        raise SystemExit(f"{path}: not in event-time order ({row[column]} after {last})")
                    last = row[column]
        # whole files go to Flink's readers: one per reader keeps per-reader watermarks valid
        if len(files) != p:
            print(f"note: {table} has {len(files)} files at p={p}", file=sys.stderr)
    return folder, counts


# ---------------------------------------------------------------- Flink

def flink_script(ctx, query, folder, p, sink_folder):
    ddl = [f"SET 'parallelism.default' = '{p}';"]
    for table, columns in COLUMNS.items():
        ddl.append(f"CREATE TABLE {table} ({columns}, {WATERMARK}) WITH ('connector' = 'filesystem', "
                   f"'path' = '{folder}/{table}', 'format' = 'csv');")
    text = with_file_sink(fill(read(f"{query}.sql"), ctx.query_variables(query, "flink", p)), sink_folder)
    for old, new in FLINK_ADAPTATIONS.get(query, []):
        text = text.replace(old, new)
    text = "\n".join(ddl) + "\n" + text + "\n"
    return write(os.path.join(ctx.out, f"flink-{query}-p{p}.sql"), text)


def flink_run(cluster, script, collect_to, log_path, timeout_s):
    env = cluster.env
    cmd = [env["FLINK_PEER_PYTHON"], os.path.join(HERE, "harness", "flink_nexmark.py"), script,
           "--rest-port", str(cluster.rest_port), "--collect-to", collect_to]
    with open(log_path, "w") as log:
        client = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, cwd=flink_runner.HOME)
        try:
            client.wait(timeout_s)
        except subprocess.TimeoutExpired:
            procs.stop(client, 10)
            return {"ok": False, "error": f"timed out after {timeout_s} s"}
    with open(log_path, errors="replace") as f:
        for line in f:
            if line.startswith("RESULT "):
                return json.loads(line[len("RESULT "):])
    return {"ok": False, "error": f"no result; see {log_path}"}


# ---------------------------------------------------------------- rows

def value(field):
    """A CSV field normalized: timestamps (both systems' spellings) to epoch milliseconds."""
    if len(field) >= 19 and field[4:5] == "-" and field[10:11] in (" ", "T"):
        for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S"):
            try:
                t = datetime.datetime.strptime(field, fmt).replace(tzinfo=datetime.timezone.utc)
                return str(round(t.timestamp() * 1000))
            except ValueError:
                pass
    return field


def rows(folder):
    """Every row of every file under `folder` (Flink's in-progress files too), normalized, with the
    values of partition folders (`k=v`) appended."""
    return collections.Counter(rows_in_order(folder))


def upserted(found_in_order, key):
    """The last row per value of column `key`: an upsert stream written as rows, materialized."""
    last = {}
    for row in found_in_order:
        last[row[key]] = row
    return collections.Counter(last.values())


def rows_in_order(folder):
    """The rows of rows(), in each file's order."""
    found = []
    if not os.path.isdir(folder):
        return found
    for path in sorted(set(glob.glob(os.path.join(folder, "**", "*"), recursive=True) +
                           glob.glob(os.path.join(folder, "**", ".*"), recursive=True))):
        name = os.path.basename(path)
        if not os.path.isfile(path) or name.endswith(".crc") or name.startswith("_"):
            continue
        parts = [urllib.parse.unquote(d.split("=", 1)[1]) for d in os.path.relpath(path, folder).split(os.sep)[:-1]
                 if "=" in d]
        with open(path, newline="") as f:
            for row in csv.reader(f):
                if row:
                    found.append(tuple(value(x) for x in row + parts))
    return found


def as_numbers(counter):
    """Rows with every number-like field as a canonical number (DECIMAL and float rendering)."""
    out = collections.Counter()
    for row, n in counter.items():
        key = []
        for x in row:
            try:
                d = decimal.Decimal(x)
                key.append(str(d.normalize()) if d.is_finite() else x)
            except decimal.InvalidOperation:
                key.append(x)
        out[tuple(key)] += n
    return out


def project(counter, columns):
    out = collections.Counter()
    for row, n in counter.items():
        out[tuple(row[i] for i in columns)] += n
    return out


def size(counter):
    return sum(counter.values())


def invariants(query, found, bids):
    """What a processing-time query must give whatever the timing: (values, whether they hold).
    q12 counts bids per bidder and 10 s processing-time window: the counts add up to at most the
    bids (Flink drops the windows still open when a bounded input ends). q13 joins every bid with
    the side input's row of key auction % 10000 (all 10,000 keys are there): one row per bid."""
    if query == "q12":
        total = sum(int(r[1]) * n for r, n in found.items())
        return {"rows": size(found), "sum of bid_count": total}, total <= bids
    return {"rows": size(found)}, size(found) == bids


# ---------------------------------------------------------------- main

class Context:
    def __init__(self, args, out):
        self.strom, self.out, self.events, self.tps = args.strom, out, args.nexmark_events, args.tps
        self.variables = {"NEXMARK_TABLE": "datagen", "TPS": str(args.tps), "EVENTS_NUM": str(args.nexmark_events),
                          "PERSON_PROPORTION": "1", "AUCTION_PROPORTION": "3", "BID_PROPORTION": "46"}

    def query_variables(self, query, system, p):
        """The variables of qN: q10's output folder, q13's side input (a file of 10,000 keys)."""
        base = os.path.join(self.out, f"{system}-{query}-p{p}")
        home = os.path.join(self.out, "side-input")
        side = os.path.join(home, "data", "side_input.txt")
        if not os.path.exists(side):
            os.makedirs(os.path.dirname(side), exist_ok=True)
            write(side, "".join(f"{k},value-{k}\n" for k in range(10_000)))
        return dict(self.variables, NEXMARK_DIR=base, SUBMIT_TIME="0", FLINK_HOME=home)


def check(ctx, query, p, folder, bids, cluster):
    """One query at parallelism p on both systems: a result line for the table. Verdicts: equal;
    equal as numbers (only the rendering of numbers differs); equal as an upsert stream (see
    FLINK_UPSERT_KEY); equal but for the order of ties (see ORDER_OF_TIES); differs; invariants hold / differ (processing time); strom refused /
    failed; Flink failed."""
    line = {"query": query, "p": p}
    strom_out = os.path.join(ctx.out, f"strom-{query}-p{p}")
    flink_out = os.path.join(ctx.out, f"flink-{query}-p{p}")
    variables = ctx.query_variables(query, "strom", p)
    text = (f"SET 'parallelism.default' = '{p}';\n" + ends(fill(read("ddl_gen.sql"), variables)) + "\n" +
            ends(fill(read("ddl_views.sql"), variables)) + "\n" +
            with_file_sink(fill(read(f"{query}.sql"), variables), strom_out) + "\n")
    script = write(os.path.join(ctx.out, f"strom-{query}-p{p}.sql"), text)
    t = time.time()
    ok, message, refused = strom_run(ctx.strom, script, os.path.join(ctx.out, "logs", f"strom-{query}-p{p}.log"), 900)
    line["strom_s"] = round(time.time() - t, 1)
    if not ok:
        line["strom_error"] = message
    os.makedirs(flink_out, exist_ok=True)
    collected = os.path.join(flink_out, "collected.csv")
    t = time.time()
    result = flink_run(cluster, flink_script(ctx, query, folder, p, flink_out), collected,
                       os.path.join(ctx.out, "logs", f"flink-{query}-p{p}.log"), 900)
    line["flink_s"] = round(time.time() - t, 1)
    line["flink_mode"] = result.get("mode")
    if result.get("changelog"):
        line["flink_changelog"] = result["changelog"]
    if not result.get("ok"):
        line["flink_error"] = result.get("error")
    if ok:
        found_strom = rows(strom_out)
        line["strom_rows"] = size(found_strom)
    if result.get("ok"):
        in_order = rows_in_order(flink_out)
        found_flink = collections.Counter(in_order)
        line["flink_rows"] = size(found_flink)
    if not ok:
        line["verdict"] = "strom refused" if refused else "strom failed"
        return line, None
    if not result.get("ok"):
        line["verdict"] = "Flink failed"
        return line, None
    if query in PROCESSING_TIME:
        (a, a_ok), (b, b_ok) = invariants(query, found_strom, bids), invariants(query, found_flink, bids)
        line["invariants"] = {"strom": a, "flink": b}
        line["verdict"] = "invariants hold" if a_ok and b_ok else "invariants differ"
        return line, None
    only_strom, only_flink = found_strom - found_flink, found_flink - found_strom
    line["only_strom"], line["only_flink"] = size(only_strom), size(only_flink)
    if not only_strom and not only_flink:
        line["verdict"] = "equal"
    elif as_numbers(found_strom) == as_numbers(found_flink):
        line["verdict"] = "equal as numbers"
    else:
        line["verdict"] = "differs"
    if line["verdict"] == "differs" and query in ORDER_OF_TIES:
        if project(found_strom, ORDER_OF_TIES[query]) == project(found_flink, ORDER_OF_TIES[query]):
            line["verdict"] = "equal but for the order of ties"
    if line["verdict"] == "differs" and query in FLINK_UPSERT_KEY:
        latest = upserted(in_order, FLINK_UPSERT_KEY[query])
        line["flink_upserted_rows"] = size(latest)
        if latest == found_strom:
            line["verdict"] = "equal as an upsert stream"
    return line, (only_strom, only_flink)


def table(lines, args, p, counts):
    out = [f"Nexmark, {args.nexmark_events:,} events ({counts['person']:,} people, {counts['auction']:,} auctions, "
           f"{counts['bid']:,} bids), first-event.rate {args.tps}, p={p}:", "",
           "| query | strom rows | Flink rows | only strom | only Flink | verdict |",
           "|---|---|---|---|---|---|"]
    for l in lines:
        verdict = l["verdict"]
        if "strom_error" in l:
            verdict += f": {l['strom_error']}"
        elif "flink_error" in l:
            verdict += f": {l['flink_error']}"
        elif "invariants" in l:
            verdict += (f" (processing time, compared by invariants only: strom {json.dumps(l['invariants']['strom'])}, "
                        f"Flink {json.dumps(l['invariants']['flink'])})")
        if l.get("flink_mode") == "collect" and "flink_error" not in l:
            verdict += " (Flink: updating result, collected changelog)"
        if "flink_upserted_rows" in l:
            verdict += (f": Flink's rows, the last per value of column {FLINK_UPSERT_KEY[l['query']] + 1}, are "
                        f"{l['flink_upserted_rows']:,}" +
                        (", equal to strom's" if l["verdict"] == "equal as an upsert stream" else ", still different") +
                        " (Flink 2.3 declares this Top-1 insert-only, FLINK-39966, and writes each new top as a row)")
        if l["query"] in FLINK_ADAPTATIONS:
            verdict += " (Flink: " + ", ".join(f"`{a}` as `{b}`" for a, b in FLINK_ADAPTATIONS[l["query"]]) + \
                       ": DATETIME is reserved in Flink 2.3)"
        if l["verdict"] == "equal but for the order of ties":
            verdict += (f": columns {', '.join(str(i + 1) for i in ORDER_OF_TIES[l['query']])} (the partition and "
                        "order keys) are equal; which of the rows tied on price is kept and its number depend on "
                        "arrival order")
        if l["verdict"] == "equal as numbers":
            verdict += ": Flink's CSV writer drops a DECIMAL's trailing zeros (908.000 as 908, 90800.000 as 9.08E+4)"
        cell = lambda k: f"{l[k]:,}" if isinstance(l.get(k), int) else "-"  # noqa: E731
        out.append(f"| {l['query']} | {cell('strom_rows')} | {cell('flink_rows')} | {cell('only_strom')} | "
                   f"{cell('only_flink')} | {verdict.replace('|', '/')} |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nexmark-events", type=int, default=100_000)
    ap.add_argument("-p", default="1", help="parallelism: 1, 2 or 1,2")
    ap.add_argument("--tps", type=int, default=1000,
                    help="first-event.rate: events per second of event time (default 1000: 100 s for 100,000 events)")
    ap.add_argument("--out")
    ap.add_argument("--strom", default=default_strom())
    ap.add_argument("queries", nargs="*", default=ALL)
    args = ap.parse_args()
    if not os.path.exists(args.strom):
        raise SystemExit(f"{args.strom}: no strom binary (cargo build --workspace --bins, or --strom PATH)")
    out = os.path.abspath(args.out or os.path.join(flink_runner.HOME, "nexmark-check",
                                                   datetime.datetime.now().strftime("%Y%m%d-%H%M%S")))
    os.makedirs(os.path.join(out, "logs"), exist_ok=True)
    # others may rebuild the binary during the run: run one copy of it throughout
    binary = os.path.join(out, "strom")
    shutil.copy2(args.strom, binary)
    print(f"work folder: {out}; strom: {args.strom} (copied, modified "
          f"{datetime.datetime.fromtimestamp(os.path.getmtime(args.strom)):%Y-%m-%d %H:%M})", file=sys.stderr)
    args.strom = binary
    ctx = Context(args, out)
    env = flink_runner.environment()
    differs = False
    results = []
    for p in [int(x) for x in args.p.split(",")]:
        folder, counts = export_events(ctx, p)
        print(f"p={p}: events exported to {folder}: {counts}", file=sys.stderr)
        lines = []
        with flink_runner.FlinkCluster(env, os.path.join(out, "flink-log", f"p{p}")) as cluster:
            for query in args.queries:
                line, diff = check(ctx, query, p, folder, counts["bid"], cluster)
                lines.append(line)
                results.append(line)
                print(json.dumps(line), file=sys.stderr, flush=True)
                if diff:
                    for label, d in zip(("only strom", "only Flink"), diff):
                        for row, n in sorted(d.items())[:5]:
                            print(f"  {query} {label}: {','.join(row)[:300]} x{n}", file=sys.stderr)
                differs |= line["verdict"] in ("differs", "invariants differ")
        print(table(lines, args, p, counts) + "\n", flush=True)
    with open(os.path.join(out, "results.jsonl"), "w") as f:
        for line in results:
            f.write(json.dumps(line) + "\n")
    sys.exit(1 if differs else 0)


if __name__ == "__main__":
    main()
