"""Real Celery workers for the benchmarks' split sweeps.

`Workers(chunk_task)` starts a Redis server of its own on a spare port and,
for each pass, `use(count)`, `count` worker processes (one task at a time each) that read a queue
only the sweep's chunks are routed to; the messages the chunks queue for
delivery go to the default queue, which nobody reads here, so the outbox
stays as the sweep wrote it. Everything is stopped on leaving, and the
benchmark's process goes back to queueing in memory.
"""

import contextlib
import os
import subprocess
import sys
import time

QUEUE = "bench-sweep"


def use_broker(url: str, *, eager: bool = False, chunk_task: str | None = None) -> None:
    """Where this process queues tasks; `chunk_task` goes to the workers' queue."""
    from hmis_portal.celery import app

    app.conf.broker_url = url
    app.conf.task_always_eager = eager
    app.conf.task_routes = {chunk_task: {"queue": QUEUE}} if chunk_task else {}
    app.amqp.flush_routes()
    app.amqp.router = app.amqp.Router()
    # Forget the pools bound to the previous broker (kombu keeps one per URL).
    app._pool = None
    app.amqp._producer_pool = None


def queue_in_memory() -> None:
    # Delivery is a worker's job, not the sweep's: queue to an in-memory
    # broker nobody consumes, as a real deployment queues to Redis.
    use_broker("memory://")


class Workers:
    """The worker processes, kept from one pass to the next: `use(count)` runs
    a pass on `count` of them, starting those missing and stopping those over.
    A worker starts Django: the passes on 1 and on 2 workers, round after
    round, start it once for each worker the pass adds, not once for each
    worker of each pass. Every pass still begins from idle workers and a
    warm-up run (the callers')."""

    def __init__(self, chunk_task: str):
        self.chunk_task = chunk_task
        self.processes = []
        self.redis = None
        self.log = None

    def __enter__(self) -> "Workers":
        from tests.faults import OwnRedis

        self.redis = OwnRedis().start()
        self.log = open(f"/tmp/benchmark-workers-{os.getpid()}.log", "a")
        return self

    @contextlib.contextmanager
    def use(self, count: int):
        """A pass on `count` workers: this process queues the chunks to them,
        and back to memory after."""
        try:
            use_broker(self.redis.url, chunk_task=self.chunk_task)
            self._resize(count)
            yield self
        finally:
            queue_in_memory()

    def _resize(self, count: int) -> None:
        from hmis_portal.celery import app

        while len(self.processes) > count:
            self._stop(self.processes.pop())
        env = {**os.environ, "REDIS_URL": self.redis.url, "CELERY_TASK_ALWAYS_EAGER": "false"}
        self.processes += [subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "hmis_portal", "worker", "--concurrency", "1", "--pool", "prefork",
             "-Q", QUEUE, "-n", f"bench{i}@%h", "--without-gossip", "--without-mingle", "--loglevel", "WARNING"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT) for i in range(len(self.processes), count)]
        # A worker starts Django and connects: seconds on a quiet machine, a
        # minute or more on 2 cores shared with other work.
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if len(app.control.ping(timeout=0.5) or []) == count:
                return
            if any(p.poll() is not None for p in self.processes):
                break
        raise RuntimeError(f"{count} Celery worker(s) did not start (see {self.log.name})")

    @staticmethod
    def _stop(process) -> None:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def wait_idle(self, timeout: float = 60) -> None:
        """Until the chunk queue is empty and no worker is busy."""
        import redis as redis_client

        from hmis_portal.celery import app

        queue = redis_client.Redis.from_url(self.redis.url)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            busy = app.control.inspect(timeout=0.5).active() or {}
            if not queue.llen(QUEUE) and not any(busy.values()):
                return
            time.sleep(0.1)

    def __exit__(self, *exc) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            self._stop(process)
        queue_in_memory()
        if self.redis is not None:
            self.redis.stop()
        if self.log is not None:
            self.log.close()


def seconds_since(started: float, done, *, limit: float, what: str) -> float:
    """Seconds from `started` (time.perf_counter) until `done()` is true,
    polled every 20 ms."""
    while not done():
        if time.perf_counter() - started > limit:
            raise RuntimeError(f"{what} did not finish within {limit:.0f} s")
        time.sleep(0.02)
    return time.perf_counter() - started
