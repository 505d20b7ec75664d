"""Prometheus metrics of one API application (its own registry: no global state)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class JobRuns(Collector):
    """``kopilka_job_runs_total{job, outcome}``: the job runs every worker recorded, read
    from the database at the scrape (the workers are processes of their own)."""

    def __init__(self, counts: Sequence[tuple[str, str, int]]) -> None:
        self.counts = counts

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "kopilka_job_runs",
            "Job runs recorded by the workers, by job kind and outcome",
            labels=["job", "outcome"],
        )
        for job, outcome, n in self.counts:
            family.add_metric([job, outcome], n)
        yield family


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "kopilka_http_requests_total",
            "HTTP requests by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "kopilka_http_request_duration_seconds",
            "HTTP request latency by method, route template and status",
            ["method", "route", "status"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.points = Counter(
            "kopilka_points_total",
            "Points moved through the API, by movement (earned, redeemed, held, captured...)",
            ["movement"],
            registry=self.registry,
        )
        self.members_enrolled = Counter(
            "kopilka_members_enrolled_total",
            "Members enrolled through the API",
            registry=self.registry,
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        labels = (method, route, str(status))
        self.requests.labels(*labels).inc()
        self.latency.labels(*labels).observe(seconds)

    def moved(self, movement: str, points: int) -> None:
        self.points.labels(movement).inc(points)

    def render(self, job_runs: Sequence[tuple[str, str, int]] | None = None) -> bytes:
        """The text exposition: this process's metrics, or under several workers
        (``PROMETHEUS_MULTIPROC_DIR``, ``kopilka.api.supervise``) every worker's, summed;
        with ``job_runs`` (job, outcome, count), the job runs' counter too."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            text = generate_latest(registry)
        else:
            text = generate_latest(self.registry)
        if job_runs is None:
            return text
        runs = CollectorRegistry()
        runs.register(JobRuns(job_runs))
        return text + generate_latest(runs)
