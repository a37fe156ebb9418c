"""Which distributed engine runs ``minis2t corpus``: Dask distributed or Ray, measured.

    python benchmarks/engines.py          # needs both: pip install "dask[distributed]" ray

Each engine starts a local cluster of 2 single-threaded worker processes on this machine
and runs the same jobs:

* start-up: from nothing to a cluster whose 2 workers have answered;
* per-task overhead: 400 tasks that do nothing, submitted at once; wall time per task;
* memory: the resident memory of a worker after it loaded the bundled model once (the
  engine's runtime included), and of the whole cluster (every process it started);
* a lost worker: 8 tasks of 1 s on the 2 workers; 0.5 s in, one worker's process is
  killed (SIGKILL). Does every task still return, and how long does the batch take?
* installed size of the engine's packages.

The numbers go to ``results/engines.md`` (included by the docs' "Corpus scale" page).
"""

from __future__ import annotations

import importlib.metadata
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))
from common import descendants, note, print_table, rss_mb, save  # noqa: E402

TASKS, SLOW_TASKS, SLOW_SECONDS = 400, 8, 1.0


def noop(x):
    return x


def load_model():
    """In a worker: load the bundled model and keep it; return the worker's pid. The
    driver reads the worker's memory from /proc (common.rss_mb): Ray's workers do not
    share the driver's sys.path, so they could not import this folder's helpers."""
    import minis2t

    global _MODEL
    _MODEL = minis2t.Speech2Text.from_pretrained("bundled-asr")
    return os.getpid()


def sleepy(seconds):
    time.sleep(seconds)
    return os.getpid()


def installed_mb(*dists: str) -> float:
    total = 0
    for name in dists:
        for f in importlib.metadata.distribution(name).files or []:
            path = Path(f.locate())
            if path.is_file():
                total += path.stat().st_size
    return total / 1e6


def measure_dask() -> dict:
    from dask.distributed import Client, LocalCluster, wait

    start = time.perf_counter()
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster)
    client.wait_for_workers(2)
    client.run(os.getpid)
    startup = time.perf_counter() - start

    client.gather(client.map(noop, range(20), pure=False))
    start = time.perf_counter()
    client.gather(client.map(noop, range(TASKS), pure=False))
    per_task = (time.perf_counter() - start) / TASKS

    workers = client.run(load_model)  # on every worker: {address: pid}
    worker_rss = max(rss_mb(pid) for pid in workers.values())
    cluster_rss = sum(rss_mb(p) for p in descendants(os.getpid()))

    victim = next(iter(workers.values()))
    start = time.perf_counter()
    futures = client.map(sleepy, [SLOW_SECONDS] * SLOW_TASKS, pure=False)
    time.sleep(0.5)
    os.kill(victim, signal.SIGKILL)
    wait(futures, timeout=120)
    done = sum(f.status == "finished" for f in futures)
    lost_time = time.perf_counter() - start
    client.close()
    cluster.close()
    return dict(engine="Dask distributed", version=importlib.metadata.version("distributed"), startup=startup,
                per_task=per_task, worker_rss=worker_rss, cluster_rss=cluster_rss, done=done,
                lost_time=lost_time, installed=installed_mb("dask", "distributed"))  # fmt: skip


def measure_ray() -> dict:
    import ray

    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    remote_noop = ray.remote(num_cpus=1)(noop)
    ray.get([remote_noop.remote(i) for i in range(2)])
    startup = time.perf_counter() - start

    ray.get([remote_noop.remote(i) for i in range(20)])
    start = time.perf_counter()
    ray.get([remote_noop.remote(i) for i in range(TASKS)])
    per_task = (time.perf_counter() - start) / TASKS

    @ray.remote(num_cpus=1)
    class Loaded:  # an actor: one worker process that keeps its model
        def report(self):
            return load_model()

    actors = [Loaded.remote() for _ in range(2)]
    workers = ray.get([a.report.remote() for a in actors])
    worker_rss = max(rss_mb(pid) for pid in workers)
    cluster_rss = sum(rss_mb(p) for p in descendants(os.getpid()))
    for a in actors:
        ray.kill(a)

    remote_sleepy = ray.remote(num_cpus=1, max_retries=3)(sleepy)
    pids = set(ray.get([remote_sleepy.remote(0.2) for _ in range(4)]))
    start = time.perf_counter()
    refs = [remote_sleepy.remote(SLOW_SECONDS) for _ in range(SLOW_TASKS)]
    time.sleep(0.5)
    os.kill(next(iter(pids)), signal.SIGKILL)
    done = 0
    for ref in refs:
        try:
            ray.get(ref, timeout=120)
            done += 1
        except Exception:
            pass
    lost_time = time.perf_counter() - start
    ray.shutdown()
    return dict(engine="Ray", version=ray.__version__, startup=startup, per_task=per_task, worker_rss=worker_rss,
                cluster_rss=cluster_rss, done=done, lost_time=lost_time, installed=installed_mb("ray"))  # fmt: skip


def main() -> None:
    results = [measure_dask(), measure_ray()]
    print_table("Two local workers on this machine",
                ["engine", "version", "start-up (s)", "per task (ms)", "worker with model (MB)",
                 "all its processes (MB)", f"{SLOW_TASKS} tasks, a worker killed", "their time (s)",
                 "installed (MB)"],
                [[r["engine"], r["version"], f"{r['startup']:.1f}", f"{r['per_task'] * 1e3:.2f}",
                  f"{r['worker_rss']:.0f}", f"{r['cluster_rss']:.0f}", f"{r['done']}/{SLOW_TASKS} returned",
                  f"{r['lost_time']:.1f}", f"{r['installed']:.0f}"] for r in results])  # fmt: skip
    note(f"\n(Per task: {TASKS} empty tasks submitted at once. The killed worker held tasks of "
         f"{SLOW_SECONDS:g} s; ideal time for the {SLOW_TASKS} tasks on 2 workers is "
         f"{SLOW_TASKS * SLOW_SECONDS / 2:g} s.)")  # fmt: skip
    save("engines", {"engines": results})


if __name__ == "__main__":
    main()
