"""The result table: one row per (workload, system, parallelism), medians over repetitions."""
import statistics


def _m(x):
    return f"{x / 1e6:.2f} M" if x else "-"


def rows(results):
    groups = {}
    for r in results:
        groups.setdefault((r["workload"], r["system"], r["parallelism"]), []).append(r)
    out = []
    for (workload, system, p), rs in groups.items():
        good = [r for r in rs if r.get("ok")]
        secs = statistics.median([r["net_runtime_s"] for r in good]) if good else None
        n = rs[0]["records"]
        out.append({"workload": workload, "system": system, "parallelism": p, "records": n,
                    "runs": f"{len(good)}/{len(rs)}", "seconds": secs,
                    "rate": n / secs if secs else None,
                    "per_core": n / secs / p if secs else None,
                    "rss": max((r["peak_rss_mib"] for r in good), default=None)})
    return out


def flink_best(table, workload, p):
    """Flink's faster implementation (SQL or Java) for (workload, p)."""
    rates = [r for r in table if r["workload"] == workload and r["parallelism"] == p
             and r["system"].startswith("flink") and r["rate"]]
    return max(rates, key=lambda r: r["rate"], default=None)


def render(results):
    table = rows(results)
    lines = ["| workload | system | p | records | runs ok | net s (median) | records/s | records/s per core "
             "| peak RSS MiB (all processes) | strom / Flink best | strom / baseline |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in table:
        vs_flink = vs_base = "-"
        if r["system"] == "strom" and r["rate"]:
            best = flink_best(table, r["workload"], r["parallelism"])
            if best:
                vs_flink = f"{r['rate'] / best['rate']:.1f}× ({best['system']})"
            base = next((b for b in table if b["workload"] == r["workload"] and b["system"] == "baseline"
                         and b["rate"]), None)
            if base:
                vs_base = f"{r['per_core'] / base['rate']:.2f}"
        lines.append(
            f"| {r['workload']} | {r['system']} | {r['parallelism']} | {r['records']:,} | {r['runs']} "
            f"| {r['seconds']:.2f} | {_m(r['rate'])} | {_m(r['per_core'])} | {r['rss'] or '-'} "
            f"| {vs_flink} | {vs_base} |" if r["seconds"] else
            f"| {r['workload']} | {r['system']} | {r['parallelism']} | {r['records']:,} | {r['runs']} "
            f"| - | - | - | - | - | - |")
    return "\n".join(lines)


def render_suite(results, strom_only):
    """The Nexmark suite: one line per (query, p), strom and Flink SQL side by side."""
    table = {(r["workload"], r["system"], r["parallelism"]): r for r in rows(results)}
    errors = {}
    for r in results:
        if not r.get("ok") and r.get("error"):
            errors.setdefault((r["workload"], r["system"], r["parallelism"]), r["error"])
    keys = sorted({(w, p) for (w, _, p) in table}, key=lambda k: (int(k[0].split("-q")[1]), k[1]))
    lines = ["| query | p | events | strom s | strom events/s | strom peak RSS MiB | Flink s | Flink events/s "
             "| Flink peak RSS MiB | strom / Flink |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for w, p in keys:
        s, f = table.get((w, "strom", p)), table.get((w, "flink-sql", p))
        n = (s or f)["records"]
        cells = []
        for system, r in (("strom", s), ("flink-sql", f)):
            if r and r["seconds"]:
                cells += [f"{r['seconds']:.2f}", f"{r['rate'] / 1e6:.3f} M", f"{r['rss']}"]
            else:
                cells += ["-", "-", "-"]
        q = w.split("-", 1)[1]
        if s and f and s["rate"] and f["rate"]:
            ratio = f"{s['rate'] / f['rate']:.1f}×"
        elif q in strom_only:
            ratio = f"strom only ({strom_only[q]})"
        else:
            failed = [f"{sys_}: {errors[(w, sys_, p)]}" for sys_ in ("strom", "flink-sql") if (w, sys_, p) in errors]
            ratio = "; ".join(failed).replace("|", "/") or "-"
        lines.append(f"| {q} | {p} | {n:,} | " + " | ".join(cells) + f" | {ratio} |")
    return "\n".join(lines)
