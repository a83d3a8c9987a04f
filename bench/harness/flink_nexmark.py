#!/usr/bin/env python3
"""Runs one Nexmark script on a Flink cluster through PyFlink (the kit's venv), for
bench/nexmark_check.py.

usage: flink_nexmark.py SCRIPT.sql --rest-port PORT --collect-to FILE [-V NAME=VALUE ...]

The script's statements run as they are; the last INSERT is submitted and waited for. When
Flink refuses it because its sink cannot take an updating result (a `filesystem` sink after a
GROUP BY, a Top-N or a join of updating inputs), the INSERT's query runs instead, cast to the
sink's column types as INSERT would, and is collected to the client the way Table.to_pandas()
collects: its changelog (+I, -U, +U, -D) is applied to a table in the JVM, and the final rows
are written to `--collect-to` as CSV. Prints one line `RESULT {json}`: "mode" is "insert" or "collect", or "error" with
Flink's message.
"""
import argparse, collections, csv, datetime, decimal, json, os, re, sys, time

os.environ.setdefault("_python_worker_execution_mode", "process")  # no gRPC server (no UDFs)
from pyflink.common import Configuration  # noqa: E402
from pyflink.table import EnvironmentSettings, TableEnvironment  # noqa: E402
from pyflink.table.expressions import col  # noqa: E402


def statements(text):
    """Split on ';' at the end of a line (as the kit's run_sql.py); comment lines dropped."""
    out = []
    for s in re.split(r";[ \t]*(?:\n|$)", text):
        s = "\n".join(l for l in s.splitlines() if not l.strip().startswith("--")).strip()
        if s.rstrip(";").strip():
            out.append(s.rstrip(";"))
    return out


def render(v):
    """A collected value as Flink's CSV format writes it."""
    if v is None:
        return ""
    if isinstance(v, datetime.datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, decimal.Decimal):
        return format(v, "f")
    return str(v)


def materialized(t_env, table):
    """The final rows of `table`'s changelog: what Table.to_pandas() does (Flink's
    ArrowUtils.collectAsPandasDataFrame applies every -U/-D to the +I/+U rows before them, in the
    JVM), kept as Arrow rows so that NULLs stay None and BIGINTs ints. Row by row collect() through
    py4j takes milliseconds a change."""
    from pyflink.java_gateway import get_gateway
    from pyflink.table.serializers import ArrowSerializer
    from pyflink.table.types import create_arrow_schema
    import pyarrow as pa, pytz
    t_env._before_execute()
    gateway = get_gateway()
    j_table = table._j_table
    size = j_table.getTableEnvironment().getConfig().get(
        gateway.jvm.org.apache.flink.python.PythonOptions.MAX_ARROW_BATCH_SIZE)
    batches = gateway.jvm.org.apache.flink.table.runtime.arrow.ArrowUtils.collectAsPandasDataFrame(j_table, size)
    if not batches.hasNext():
        return []
    schema = table.get_schema()
    serializer = ArrowSerializer(create_arrow_schema(schema.get_field_names(), schema.get_field_data_types()),
                                 schema.to_row_data_type(), pytz.timezone("UTC"))
    arrow = pa.Table.from_batches(serializer.load_from_iterator(batches))
    return [tuple(r.values()) for r in arrow.to_pylist()]


def flink_message(e):
    """Java's exception from py4j in one line: the top exception and, when another, the root cause."""
    text = str(e)
    found = [m.group(2).strip() for m in re.finditer(
        r"^\s*(Caused by: )?((?:[a-z_$][\w$]*\.)+[\w$]*(?:Exception|Error): .+)$", text, re.M)]
    if not found:
        return (text.strip().splitlines() or [repr(e)])[0][:600]
    message = found[0] if len(found) == 1 or found[-1] in found[0] else f"{found[0]} (cause: {found[-1]})"
    return message[:600]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("script")
    ap.add_argument("--rest-port", type=int, required=True)
    ap.add_argument("--collect-to", required=True)
    ap.add_argument("-V", action="append", default=[])
    a = ap.parse_args()
    with open(a.script) as f:
        text = f.read()
    for kv in a.V:
        k, v = kv.split("=", 1)
        text = text.replace("${" + k + "}", v)
    stmts = statements(text)
    conf = {"execution.target": "remote", "rest.address": "127.0.0.1", "rest.port": str(a.rest_port)}
    for s in stmts:
        m = re.match(r"SET\s+'([^']+)'\s*=\s*'([^']*)'", s, re.I)
        if m:
            conf[m.group(1)] = m.group(2)
    c = Configuration()
    for k, v in conf.items():
        c.set_string(k, v)
    t_env = TableEnvironment.create(EnvironmentSettings.new_instance().with_configuration(c)
                                    .in_streaming_mode().build())
    result = {"conf": conf}
    t0 = time.time()
    try:
        insert = None
        for s in stmts:
            if re.match(r"SET\s", s, re.I):
                continue
            if re.match(r"INSERT\s", s, re.I):
                insert = s
            else:
                t_env.execute_sql(s)
        if insert is None:
            raise RuntimeError("no INSERT statement")
        try:
            job = t_env.execute_sql(insert)
            mode = "insert"
        except Exception as e:  # noqa: BLE001 - py4j wraps Java's exceptions
            if "update changes" not in str(e) and "update and delete changes" not in str(e):
                raise
            mode = "collect"
            result["insert_refused"] = flink_message(e)
        result["mode"] = mode
        if mode == "insert":
            jc = job.get_job_client()
            result["job_id"] = str(jc.get_job_id())
            jc.get_job_execution_result().result()
        else:
            m = re.match(r"INSERT\s+INTO\s+(`[^`]+`|\S+)\s+(.*)$", insert, re.I | re.S)
            sink, query = m.group(1).strip("`"), m.group(2)
            schema = t_env.from_path(sink).get_schema()
            names, types = schema.get_field_names(), schema.get_field_data_types()
            table = t_env.sql_query(query)
            temp = [f"c{i}" for i in range(len(names))]
            table = table.alias(*temp).select(*[col(t).cast(ty).alias(n) for t, ty, n in zip(temp, types, names)])
            rows = collections.Counter()
            for row in materialized(t_env, table):
                rows[tuple(render(v) for v in row)] += 1
            with open(a.collect_to, "w", newline="") as f:
                w = csv.writer(f, lineterminator="\n")
                for key, n in sorted(rows.items()):
                    for _ in range(n):
                        w.writerow(key)
        result["ok"] = True
    except Exception as e:  # noqa: BLE001
        result["ok"] = False
        result["error"] = flink_message(e)
    result["seconds"] = round(time.time() - t0, 2)
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
