"""Apache Flink's side, from the peer kit (../shared/bench/flink: setup.sh, run_sql.py, the
StreamBench jar) plus our own SQL and Java for the workloads the kit lacks (bench/flink/).

A cluster is what the kit's run.sh starts: a JobManager and one TaskManager with 2 slots on
127.0.0.1, `start-foreground` children of this process, stopped by PID. SQL goes through the
kit's run_sql.py (PyFlink TableEnvironment, remote target), Java through `flink run`. The
runtime is Flink's net runtime (JobExecutionResult.getNetRuntime(): job INITIALIZING to
FINISHED). The peak RSS is the largest sum, over 0.1 s samples, of the JobManager, the
TaskManager and the client's process tree.
"""
import json, os, re, subprocess, time, urllib.request

from . import procs

KIT = os.environ.get("FLINK_PEER_KIT", os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))),
    "shared", "bench", "flink"))
HOME = os.environ.get("FLINK_PEER_HOME", os.path.join(os.environ.get("TMPDIR", "/tmp"), "strom-flink-peer"))
OURS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "flink")


def setup(records):
    """The kit's setup.sh (idempotent): venv, configuration, StreamBench jar, data files."""
    subprocess.run([os.path.join(KIT, "setup.sh"), "--records", str(records)], check=True,
                   stdout=subprocess.DEVNULL)


def environment():
    """The variables of the kit's env.sh."""
    out = subprocess.run(["bash", "-c", f'. "{HOME}/env.sh" && env -0'], check=True,
                         capture_output=True).stdout
    env = dict(kv.split("=", 1) for kv in out.decode().split("\0") if "=" in kv)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def data_folder():
    return os.path.join(HOME, "data")


def build_our_jar(env):
    """Compiles bench/flink/java into $FLINK_PEER_HOME/strom-bench/strombench.jar when stale."""
    src = os.path.join(OURS, "java", "src", "bench", "StromPeer.java")
    work = os.path.join(HOME, "strom-bench")
    jar = os.path.join(work, "strombench.jar")
    if os.path.exists(jar) and os.path.getmtime(jar) > os.path.getmtime(src):
        return jar
    classes = os.path.join(work, "classes")
    subprocess.run(["rm", "-rf", classes], check=True)
    os.makedirs(classes, exist_ok=True)
    java_home, flink_home = env["JAVA_HOME"], env["FLINK_HOME"]
    subprocess.run([f"{java_home}/bin/javac", "-nowarn", "-d", classes, "-cp", f"{flink_home}/lib/*", src],
                   check=True)
    subprocess.run([f"{java_home}/bin/jar", "cfe", jar + ".tmp", "bench.StromPeer", "-C", classes, "."], check=True)
    os.replace(jar + ".tmp", jar)
    return jar


def _java_error(log_path):
    """The client's Java exception in one line: the top one and its root cause, if any."""
    found = []
    with open(log_path, errors="replace") as f:
        for line in f:
            m = re.match(r"^\s*(?::\s*)?(?:Caused by: )?((?:[a-z_$][\w$]*\.)+[\w$]*(?:Exception|Error): .+)$", line)
            if m and not m.group(1).startswith("py4j."):
                found.append(m.group(1).strip())
    if not found:
        return ""
    return (found[0] if len(found) == 1 or found[-1] in found[0] else f"{found[0]} (cause: {found[-1]})")[:600]


def cancel(base, job_id):
    try:
        urllib.request.urlopen(urllib.request.Request(f"{base}/jobs/{job_id}?mode=cancel", method="PATCH"),
                               timeout=10).close()
    except Exception:
        pass


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.load(r)
    except Exception:
        return None


class FlinkCluster:
    def __init__(self, env, log_dir):
        self.env = dict(env)
        self.rest_port = procs.free_port()
        self.rpc_port = procs.free_port()
        os.makedirs(log_dir, exist_ok=True)
        self.env["FLINK_LOG_DIR"] = log_dir
        self.env["STD_REDIRECT_TO_FILE"] = "true"
        flags = ["-D", f"rest.port={self.rest_port}", "-D", f"jobmanager.rpc.port={self.rpc_port}"]
        home = self.env["FLINK_HOME"]
        self.console = open(os.path.join(log_dir, "console.log"), "ab")
        self.jm = subprocess.Popen([f"{home}/bin/jobmanager.sh", "start-foreground", *flags],
                                   env=self.env, stdout=self.console, stderr=self.console,
                                   stdin=subprocess.DEVNULL, cwd=HOME)
        self.tm = subprocess.Popen([f"{home}/bin/taskmanager.sh", "start-foreground", *flags],
                                   env=self.env, stdout=self.console, stderr=self.console,
                                   stdin=subprocess.DEVNULL, cwd=HOME)

    def _ready(self):
        for p in (self.jm, self.tm):
            if p.poll() is not None:
                raise RuntimeError(f"a Flink process exited during start ({p.returncode})")
        o = _get(f"http://127.0.0.1:{self.rest_port}/overview") or {}
        return o.get("taskmanagers") == 1 and o.get("slots-total") == 2

    def __enter__(self):
        try:
            procs.wait_until(self._ready, 120, "Flink cluster start")
        except Exception:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        procs.stop(self.tm)
        procs.stop(self.jm)
        self.console.close()

    def run_sql(self, script, variables, log_path, timeout_s=1800):
        cmd = [self.env["FLINK_PEER_PYTHON"], os.path.join(KIT, "run_sql.py"), script,
               "--target", "remote", "--rest-port", str(self.rest_port)]
        for k, v in variables.items():
            cmd += ["-V", f"{k}={v}"]
        return self._client(cmd, log_path, timeout_s)

    def run_java(self, jar, parallelism, args, log_path, timeout_s=1800):
        cmd = [f"{self.env['FLINK_HOME']}/bin/flink", "run", "-m", f"127.0.0.1:{self.rest_port}",
               "-p", str(parallelism), jar, *args]
        return self._client(cmd, log_path, timeout_s)

    def _client(self, cmd, log_path, timeout_s):
        with open(log_path, "w") as log, procs.PeakRss(self.jm.pid, self.tm.pid) as rss:
            client = subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, cwd=HOME)
            rss.add(client.pid)
            try:
                rc = client.wait(timeout_s)
            except subprocess.TimeoutExpired:
                procs.stop(client, 10)
                rc = 124
        if rc == 124:  # the job would go on running on the cluster: cancel it
            with open(log_path, errors="replace") as f:
                for line in f:
                    if line.startswith("submitted job "):
                        cancel(f"http://127.0.0.1:{self.rest_port}", line.split()[-1])
        result = {}
        with open(log_path, errors="replace") as f:
            for line in f:
                for prefix in ("RESULT ", "JAVARESULT "):
                    if line.startswith(prefix):
                        result = json.loads(line[len(prefix):])
        net_ms = result.get("net_runtime_ms")
        if rc != 0 or not net_ms or net_ms <= 0:
            why = "timed out" if rc == 124 else _java_error(log_path)
            return {"ok": False, "error": f"exit status {rc}{': ' + why if why else ''}; see {log_path}"}
        out = {"ok": True, "job_id": result.get("job_id"), "net_runtime_s": net_ms / 1000.0,
               "peak_rss_mib": rss.peak_mib}
        detail = _get(f"http://127.0.0.1:{self.rest_port}/jobs/{result.get('job_id')}") or {}
        out["vertices"] = [{"name": v.get("name", "")[:120], "parallelism": v.get("parallelism"),
                            "read-records": v.get("metrics", {}).get("read-records"),
                            "write-records": v.get("metrics", {}).get("write-records")}
                           for v in detail.get("vertices", [])]
        return out
