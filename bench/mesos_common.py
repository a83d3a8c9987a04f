"""Shared pieces of the Mesos scheduler benchmarks (bench/mesos_launch.py, bench/mesos_failover.py):
a real Mesos 1.11 cluster from ../shared/mesos, a real ZooKeeper, a `strom mesos-appmaster`, the
REST calls they poll, and RSS readings. Every cluster gets its own MESOS_HOME and free ports."""
import json, os, re, shutil, socket, subprocess, tempfile, time, urllib.error, urllib.request
from datetime import datetime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MESOS_SH = os.path.join(ROOT, "..", "shared", "mesos", "mesos.sh")
PREFIX = os.environ.get("STROM_MESOS_PREFIX", os.path.join(tempfile.gettempdir(), "strom-mesos-prefix"))
BIN = os.environ.get("STROM_BIN") or os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "strom")
ZOOKEEPER_JAR = "/usr/share/java/zookeeper.jar"

# Agents of the local Mesos share 127.0.0.1 and one port range, so TaskManagers on two agents can
# be offered the same data port. Each TaskManager binds an address of its own in 127.1.0.0/16,
# taken from its task ID (taskmanager-00007 -> 127.1.0.7), which loopback routes like 127.0.0.1.
TASKMANAGER_ADDRESS = [
    "-Dmesos.resourcemanager.tasks.bootstrap-cmd="
    "n=$(expr \"${MESOS_TASK_ID##*-}\" + 0); IP=127.1.$(expr $n / 250).$(expr $n % 250 + 1)",
    "-Dmesos.resourcemanager.tasks.taskmanager-cmd="
    "./strom mesos-taskmanager -Dtaskmanager.bind-host=$IP -Dtaskmanager.host=$IP",
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


# A standby application master answers with a 307 to the leader: never follow it, so that an
# answer always comes from the master asked.
_OPENER = urllib.request.build_opener(_NoRedirect)


def get(url, timeout=5):
    with _OPENER.open(url, timeout=timeout) as r:
        return json.load(r)


def try_get(url):
    try:
        return get(url, timeout=2)
    except (OSError, ValueError):
        return None


def redirects(url):
    """Whether `url` answers with a 307 (a standby application master)."""
    try:
        _OPENER.open(url, timeout=2)
        return False
    except urllib.error.HTTPError as e:
        return e.code == 307
    except OSError:
        return False


def wait_for(what, condition, limit, poll=0.01):
    """Polls `condition` until it returns something truthy; fails after `limit` seconds."""
    deadline = time.time() + limit
    while True:
        value = condition()
        if value:
            return value
        if time.time() > deadline:
            raise TimeoutError(f"{what}: not within {limit} s")
        time.sleep(poll)


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None


def stamp(line):
    """The time of a `tracing` log line (RFC 3339, UTC), as a Unix timestamp."""
    m = re.match(r"(\S+Z)", line)
    return datetime.fromisoformat(m.group(1).replace("Z", "+00:00")).timestamp() if m else None


def strip_ansi(text):
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def check_release_build():
    if not os.access(BIN, os.X_OK):
        raise SystemExit(f"{BIN} is missing: build it first with `cargo build --release -p strom`")


class Mesos:
    """A Mesos master with `agents` agents of `resources` each, on a free port."""

    def __init__(self, agents, resources):
        self.home = tempfile.mkdtemp(prefix="strom-bench-mesos-")
        self.port = free_port()
        self.env = dict(os.environ, PREFIX=PREFIX, MESOS_HOME=self.home, MESOS_PORT=str(self.port),
                        NUM_AGENTS=str(agents), SKIP_APT="1", AGENT_RESOURCES=resources)
        subprocess.run(["bash", MESOS_SH, "start"], env=self.env, check=True, capture_output=True)

    @property
    def master(self):
        return f"127.0.0.1:{self.port}"

    def state(self):
        return get(f"http://{self.master}/state")

    def stop(self):
        subprocess.run(["bash", MESOS_SH, "stop"], env=self.env, capture_output=True)
        shutil.rmtree(self.home, ignore_errors=True)


class ZooKeeper:
    """A standalone ZooKeeper server (Debian's zookeeperd jar) on a free port, as the tests run it."""

    def __init__(self):
        if not os.path.exists(ZOOKEEPER_JAR):
            raise SystemExit(f"{ZOOKEEPER_JAR} is missing: apt-get install -y zookeeperd")
        self.home = tempfile.mkdtemp(prefix="strom-bench-zk-")
        self.port = free_port()
        data = os.path.join(self.home, "data")
        os.makedirs(data)
        with open(os.path.join(self.home, "zoo.cfg"), "w") as f:
            f.write(f"tickTime=500\ndataDir={data}\nclientPort={self.port}\nclientPortAddress=127.0.0.1\n"
                    "maxClientCnxns=0\nminSessionTimeout=1000\nmaxSessionTimeout=60000\n"
                    "admin.enableServer=false\n4lw.commands.whitelist=*\n")
        self.log = open(os.path.join(self.home, "zookeeper.log"), "w")
        self.child = subprocess.Popen(
            ["java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Dzookeeper.admin.enableServer=false",
             f"-Dzookeeper.log.dir={self.home}", "-cp", f"/etc/zookeeper/conf:{ZOOKEEPER_JAR}",
             "org.apache.zookeeper.server.ZooKeeperServerMain", os.path.join(self.home, "zoo.cfg")],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        wait_for("zookeeper to answer ruok", self._ruok, 60, poll=0.1)

    def _ruok(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"ruok")
                return s.recv(4) == b"imok"
        except OSError:
            return False

    @property
    def connect_string(self):
        return f"127.0.0.1:{self.port}"

    def stop(self):
        self.child.kill()
        self.child.wait()
        self.log.close()
        shutil.rmtree(self.home, ignore_errors=True)


class AppMaster:
    """`strom mesos-appmaster` on `rest_port`, logging at info to `log_path`."""

    def __init__(self, mesos, rest_port, log_path, extra=()):
        self.rest = f"127.0.0.1:{rest_port}"
        self.log_path = log_path
        self.log = open(log_path, "w")
        self.started = time.time()
        self.child = subprocess.Popen(
            [BIN, "mesos-appmaster", f"-Dmesos.master={mesos.master}", "-Djobmanager.rpc.address=127.0.0.1",
             "-Djobmanager.rpc.port=0", f"-Drest.port={rest_port}", "-Dtaskmanager.numberOfTaskSlots=1",
             "-Dmesos.resourcemanager.tasks.cpus=1", "-Dtaskmanager.memory.process.size=256m",
             *TASKMANAGER_ADDRESS, *extra],
            stdout=subprocess.DEVNULL, stderr=self.log, env=dict(os.environ, RUST_LOG="info", NO_COLOR="1"))

    def get(self, path):
        return try_get(f"http://{self.rest}{path}")

    def wait_rest(self, limit=60):
        wait_for("the REST API", lambda: self.get("/overview"), limit)

    def submit(self, job_file):
        out = subprocess.run([BIN, "run", job_file, "-m", self.rest, "--detached"], check=True, capture_output=True,
                             text=True, timeout=60)
        return out.stdout.strip()

    def log_text(self):
        self.log.flush()
        with open(self.log_path) as f:
            return strip_ansi(f.read())

    def kill9(self):
        self.child.kill()
        self.child.wait()

    def stop(self):
        if self.child.poll() is None:
            self.child.terminate()
            try:
                self.child.wait(30)
            except subprocess.TimeoutExpired:
                self.child.kill()
                self.child.wait()
        self.log.close()


def job_file(folder, parallelism):
    """examples/unbounded-count.json at `parallelism`, written into `folder`."""
    with open(os.path.join(ROOT, "examples", "unbounded-count.json")) as f:
        job = json.load(f)
    job["job"]["config"]["parallelism.default"] = str(parallelism)
    path = os.path.join(folder, "job.json")
    with open(path, "w") as f:
        json.dump(job, f)
    return path
