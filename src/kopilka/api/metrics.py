"""Prometheus metrics of one API application (its own registry: no global state)."""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


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

    def render(self) -> bytes:
        """The text exposition: this process's metrics, or under several workers
        (``PROMETHEUS_MULTIPROC_DIR``, ``kopilka.api.supervise``) every worker's, summed."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)
