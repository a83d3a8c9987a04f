"""Processes: the RSS of process trees sampled from /proc, free ports, stopping what we started."""
import os, signal, socket, subprocess, threading, time


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children():
    m = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                m.setdefault(ppid, []).append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return m


def tree(roots):
    """The PIDs of `roots` and all their descendants."""
    m, out, stack = _children(), set(), list(roots)
    while stack:
        p = stack.pop()
        if p not in out:
            out.add(p)
            stack.extend(m.get(p, []))
    return out


class PeakRss:
    """Samples every 0.1 s the summed RSS of the process trees of some roots (roots may be added
    while it runs, e.g. a client started later); `peak_mib` is the largest sum seen."""

    def __init__(self, *roots):
        self.roots = [r for r in roots if r]
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def add(self, pid):
        self.roots.append(pid)

    def _sample(self):
        self.peak_kib = max(self.peak_kib, sum(rss_kib(p) for p in tree(self.roots)))

    def _run(self):
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(0.1)

    def __enter__(self):
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @property
    def peak_mib(self):
        return round(self.peak_kib / 1024, 1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc, grace_s=30):
    """SIGTERM the process we started, SIGKILL after `grace_s`, and reap it."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_until(condition, timeout_s, what):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise RuntimeError(f"{what}: not after {timeout_s} s")
