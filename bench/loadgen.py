"""The HTTP load generator of ``bench.bench_http``: runs in its own process(es).

Purchases go over raw HTTP/1.1 keep-alive connections (asyncio streams, uvloop when
installed): a request is a few pre-built header bytes plus a JSON body, and a response is
read by its Content-Length, so the client spends tens of microseconds per request rather
than the few hundred a full client library takes; on a 2-core machine every client
microsecond is taken from the server. The process reports its own CPU time.

Two modes, both bounded in time (``warmup`` + ``duration`` seconds, then at most
``drain`` seconds for answers still in flight):

* ``closed``: ``clients`` connections, each sending its next purchase as soon as the
  previous answer arrives (maximum throughput).
* ``open``: purchases arrive at ``rate`` per second (Poisson arrivals) whatever the
  server does, over at most ``clients`` connections; latency counts from the planned
  arrival, so time spent waiting for a connection is included (no coordinated omission).

The workload: baskets of 5-10 lines from ``kopilka.demo.catalogue`` for a random member
out of ``members`` (cards ``C00000000``...), 20% paying with points (a multiple of 10
within the grocery rules' limits), 5% followed by a return (full or of one line).
Only 2xx purchases count; every answer is tallied by operation and status.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from kopilka.demo.catalogue import basket_lines

# grocery.yaml: points pay at most 20% of the eligible amount, in steps of 10 points, on
# a purchase of at least 100 RUB; tobacco and alcohol are excluded
NOT_PAYABLE = frozenset({"tobacco", "alcohol", "gift_cards"})


def card(n: int) -> str:
    return f"C{n:08d}"


@dataclass
class LoadSpec:
    host: str
    port: int
    api_key: str
    members: int
    tag: str  # makes receipt ids unique across phases and processes
    mode: str = "closed"  # or "open"
    clients: int = 16
    rate: float = 0.0  # open mode: purchases per second for this process
    warmup: float = 3.0
    duration: float = 20.0
    drain: float = 10.0
    start_at: float = 0.0  # time.time() at which every process starts together
    seed: int = 1
    redeem_share: float = 0.2
    return_share: float = 0.05


@dataclass
class LoadResult:
    purchases_ok: int = 0  # 2xx purchases answered inside the measured window
    returns_ok: int = 0
    latencies_ms: list[float] = field(default_factory=list)  # purchases, measured window
    return_latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)  # "purchase 201": n, all answers
    errors: Counter[str] = field(default_factory=Counter)  # exceptions by type
    samples: list[str] = field(default_factory=list)  # a few non-2xx bodies
    window_s: float = 0.0
    cpu_s: float = 0.0
    wall_s: float = 0.0
    sent: int = 0
    late_arrivals: int = 0  # open mode: arrivals planned but never sent (all busy at end)


class Conn:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, head: bytes, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(head + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, close, chunked = 0, False, False
        for h in lines[1:]:
            name, _, value = h.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if chunked:
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                parts.append(await self.reader.readexactly(size + 2))
                if size == 0:
                    break
            payload = b"".join(p[:-2] for p in parts)
        else:
            payload = await self.reader.readexactly(length)
        if close:
            self.close()
        return status, payload

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


class Workload:
    """Purchase and return requests, as bytes."""

    def __init__(self, spec: LoadSpec, rng: random.Random) -> None:
        self.spec, self.rng = spec, rng
        self.n = 0
        self.prefix = (
            f"Host: {spec.host}:{spec.port}\r\nAuthorization: Bearer {spec.api_key}\r\n"
            "Content-Type: application/json\r\n"
        ).encode()

    def _head(self, path: str, key: str, body: bytes) -> bytes:
        return (
            f"POST {path} HTTP/1.1\r\n".encode()
            + self.prefix
            + f"Idempotency-Key: {key}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        )

    def purchase(self) -> tuple[str, list[dict[str, Any]], bytes, bytes]:
        rng = self.rng
        lines = basket_lines(rng)
        while len(lines) < 5:
            lines = basket_lines(rng)
        self.n += 1
        receipt = f"{self.spec.tag}-{self.n}"
        body: dict[str, Any] = {
            "receipt_id": receipt,
            "member": {"card": card(rng.randrange(self.spec.members))},
            "store": "ONLINE",
            "lines": lines,
        }
        if rng.random() < self.spec.redeem_share:
            # as the rules' redemption policy counts it: no excluded categories, no lines
            # already discounted (asking for more is refused, 422 redemption_not_allowed)
            payable = sum(
                Decimal(x["amount"])
                for x in lines
                if x["category"] not in NOT_PAYABLE and not x["discounted"]
            )
            most = min(int(payable * Decimal("0.2")) // 10 * 10, 300)
            if payable >= 100 and most >= 10:
                body["redeem_points"] = rng.randrange(10, most + 1, 10)
        data = json.dumps(body, separators=(",", ":")).encode()
        return receipt, lines, self._head("/v1/purchases", receipt, data), data

    def a_return(self, receipt: str, lines: list[dict[str, Any]]) -> tuple[bytes, bytes]:
        body: dict[str, Any] = {"return_id": "RET-1"}
        if self.rng.random() < 0.5:  # half return one line, half the whole purchase
            body["lines"] = [{"line_id": self.rng.choice(lines)["line_id"]}]
        data = json.dumps(body, separators=(",", ":")).encode()
        return self._head(f"/v1/purchases/{receipt}/returns", f"{receipt}-ret", data), data


class Runner:
    def __init__(self, spec: LoadSpec) -> None:
        self.spec = spec
        self.rng = random.Random(spec.seed)
        self.work = Workload(spec, self.rng)
        self.out = LoadResult()
        self.t0 = 0.0  # loop clock at the start of the measured window
        self.t_end = 0.0

    def _tally(self, op: str, status: int, payload: bytes) -> None:
        self.out.statuses[f"{op} {status}"] += 1
        if not 200 <= status < 300 and len(self.out.samples) < 5:
            self.out.samples.append(f"{op} {status}: {payload[:300].decode(errors='replace')}")

    async def one(self, conn: Conn, planned: float) -> None:
        """A purchase, and sometimes its return; latency counts from ``planned``."""
        loop = asyncio.get_running_loop()
        receipt, lines, head, body = self.work.purchase()
        self.out.sent += 1
        try:
            status, payload = await conn.request(head, body)
        except (OSError, asyncio.IncompleteReadError, ValueError) as e:
            self.out.errors[type(e).__name__] += 1
            conn.close()
            return
        done = loop.time()
        self._tally("purchase", status, payload)
        ok = 200 <= status < 300
        if ok and self.t0 <= planned and done <= self.t_end:
            self.out.purchases_ok += 1
            self.out.latencies_ms.append((done - planned) * 1000)
        if ok and self.rng.random() < self.spec.return_share:
            head, body = self.work.a_return(receipt, lines)
            started = loop.time()
            try:
                status, payload = await conn.request(head, body)
            except (OSError, asyncio.IncompleteReadError, ValueError) as e:
                self.out.errors[type(e).__name__] += 1
                conn.close()
                return
            done = loop.time()
            self._tally("return", status, payload)
            if 200 <= status < 300 and self.t0 <= started and done <= self.t_end:
                self.out.returns_ok += 1
                self.out.return_latencies_ms.append((done - started) * 1000)

    async def closed(self) -> None:
        loop = asyncio.get_running_loop()

        async def client() -> None:
            conn = Conn(self.spec.host, self.spec.port)
            try:
                while loop.time() < self.t_end:
                    await self.one(conn, loop.time())
            finally:
                conn.close()

        tasks = [asyncio.create_task(client()) for _ in range(self.spec.clients)]
        await self._finish(tasks)

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        pool: asyncio.Queue[Conn] = asyncio.Queue()
        for _ in range(self.spec.clients):
            pool.put_nowait(Conn(self.spec.host, self.spec.port))

        async def arrival(planned: float) -> None:
            conn = await pool.get()
            try:
                await self.one(conn, planned)
            finally:
                pool.put_nowait(conn)

        tasks: set[asyncio.Task[None]] = set()
        planned = loop.time()
        while True:
            planned += self.rng.expovariate(self.spec.rate)
            if planned >= self.t_end:
                break
            delay = planned - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(arrival(planned))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await self._finish(list(tasks))
        while not pool.empty():
            pool.get_nowait().close()

    async def _finish(self, tasks: list[asyncio.Task[None]]) -> None:
        loop = asyncio.get_running_loop()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=max(self.t_end - loop.time(), 0) + 1)
            if pending:
                _, pending = await asyncio.wait(pending, timeout=self.spec.drain)
            for t in pending:
                t.cancel()
            self.out.late_arrivals = len(pending)

    async def main(self) -> LoadResult:
        loop = asyncio.get_running_loop()
        wait = self.spec.start_at - time.time()
        if wait > 0:
            await asyncio.sleep(wait)
        cpu, wall = time.process_time(), loop.time()
        self.t0 = wall + self.spec.warmup
        self.t_end = self.t0 + self.spec.duration
        await (self.closed() if self.spec.mode == "closed" else self.open())
        self.out.window_s = self.spec.duration
        self.out.cpu_s = time.process_time() - cpu
        self.out.wall_s = loop.time() - wall
        return self.out


def run(spec: LoadSpec) -> LoadResult:
    """The entry point of a load-generator process."""
    try:
        import uvloop

        return uvloop.run(Runner(spec).main())
    except ImportError:
        return asyncio.run(Runner(spec).main())
