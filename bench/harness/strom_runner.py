"""strom's side: a local cluster of the release binary (`strom local`), jobs submitted as SQL
files with `strom run --detached`, their duration read from the JobManager's REST API.

The duration is the JobManager's (`/jobs/:id` "duration": submission to end, task deployment
included, process start-up not), the counterpart of Flink's net runtime. The peak RSS is the
largest sum, over 0.1 s samples, of the `strom local` process tree (JobManager + TaskManager
processes) and of the submitting client.
"""
import json, os, subprocess, time, urllib.request

from . import procs


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.load(r)
    except Exception:
        return None


class StromCluster:
    def __init__(self, binary, taskmanagers, slots, log_path):
        self.binary = binary
        self.port = procs.free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.log = open(log_path, "ab")
        self.taskmanagers = taskmanagers
        self.proc = subprocess.Popen(
            [binary, "local", "--taskmanagers", str(taskmanagers),
             f"-Drest.port={self.port}", "-Drest.bind-address=127.0.0.1",
             f"-Dtaskmanager.numberOfTaskSlots={slots}"],
            stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)

    def __enter__(self):
        try:
            procs.wait_until(self._ready, 60, "strom local cluster start")
        except Exception:
            self.__exit__()
            raise
        return self

    def _ready(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"strom local exited with {self.proc.returncode}")
        o = _get(f"http://{self.address}/overview") or {}
        return o.get("taskmanagers") == self.taskmanagers

    def __exit__(self, *exc):
        procs.stop(self.proc)
        self.log.close()

    def run(self, script, timeout_s=1800):
        """Runs one SQL file; returns the job's duration, vertices and the peak RSS."""
        with procs.PeakRss(self.proc.pid) as rss:
            client = subprocess.Popen([self.binary, "run", script, "-m", self.address, "--detached"],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            rss.add(client.pid)
            out, err = client.communicate(timeout=120)
            if client.returncode != 0:
                return {"ok": False, "error": f"strom run: {err.strip()[-500:]}"}
            job = out.strip().splitlines()[-1]
            deadline = time.time() + timeout_s
            detail = None
            while time.time() < deadline:
                detail = _get(f"http://{self.address}/jobs/{job}")
                if detail and detail.get("state") in ("FINISHED", "FAILED", "CANCELED"):
                    break
                time.sleep(0.05)
        if detail and detail.get("state") not in ("FINISHED", "FAILED", "CANCELED"):
            from .flink_runner import cancel  # timed out: do not leave it running on the cluster
            cancel(f"http://{self.address}", job)
            detail = {"state": f"timed out after {timeout_s} s"}
        if not detail or detail.get("state") != "FINISHED":
            cause = (detail or {}).get("failure-cause") or (detail or {}).get("state", "timed out")
            return {"ok": False, "job_id": job, "error": json.dumps(cause)[:500]}
        return {
            "ok": True, "job_id": job,
            "net_runtime_s": detail["duration"] / 1000.0,
            "peak_rss_mib": rss.peak_mib,
            "vertices": [{"name": v.get("name", "")[:120], "parallelism": v.get("parallelism"),
                          "read-records": v.get("metrics", {}).get("read-records"),
                          "write-records": v.get("metrics", {}).get("write-records")}
                         for v in detail.get("vertices", [])],
        }
