"""A TCP proxy on loopback that breaks what passes through it, on purpose.

Between a tablet and the server it cuts connections at random byte offsets, either way
(a request that never fully arrived, or an answer that never came back after the server
had already acted on it), and adds latency. Between the app and PostgreSQL it can cut
every connection and refuse new ones for a while, as a database restart or a network
partition would, then let them through again.

Each connection draws its fate from its own generator, seeded from the proxy's seed and
the connection's number, so a run is repeated by its seed."""
from __future__ import annotations

import random
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

_CHUNK = 16 * 1024


@dataclass
class ProxyStats:
    connections: int = 0
    cut_upstream: int = 0  # client → server stopped mid-way
    cut_downstream: int = 0  # server → client stopped mid-way
    refused: int = 0
    dropped: int = 0  # live connections cut by block()
    bytes_up: int = 0
    bytes_down: int = 0

    def line(self) -> str:
        return (f"{self.connections} connections, {self.cut_upstream} cut on the way in, {self.cut_downstream} cut on "
                f"the way out, {self.dropped} dropped, {self.refused} refused, {self.bytes_up} B in, "
                f"{self.bytes_down} B out")


@dataclass
class Plan:
    """What happens to one connection: where each direction is cut (None: never), and
    the delay before each chunk is passed on."""

    cut_up: int | None
    cut_down: int | None
    delay_s: float


def _abort(sock: socket.socket) -> None:
    """Close with a reset, as a dropped network or a dead peer looks to the other side.
    shutdown() first: close() alone would not wake our own thread blocked in recv() on
    it, and the socket would stay open until that returned."""
    for step in (lambda: sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)),
                 lambda: sock.shutdown(socket.SHUT_RDWR), sock.close):
        try:
            step()
        except OSError:
            pass


@dataclass(eq=False)  # kept in a set, by identity
class _Link:
    client: socket.socket
    upstream: socket.socket
    done: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def abort(self) -> None:
        with self.lock:
            if self.done.is_set():
                return
            self.done.set()
        _abort(self.client)
        _abort(self.upstream)


class FaultyProxy:
    """Listens on 127.0.0.1 (a free port), forwards to `target`.

    up_cut_bytes / down_cut_bytes: each connection is cut after a number of bytes drawn
    (exponentially, with this mean) for each direction: a client that keeps its
    connection alive meets a cut every so many bytes, at a random point of a request or
    of an answer. None: that direction is never cut. max_delay_s: each connection gets a
    latency drawn up to this, slept before every chunk it passes on."""

    def __init__(self, target: tuple[str, int], *, seed: int, up_cut_bytes: float | None = None,
                 down_cut_bytes: float | None = None, max_delay_s: float = 0.0, name: str = "proxy"):
        self.target = target
        self.seed = seed
        self.up_cut_bytes = up_cut_bytes
        self.down_cut_bytes = down_cut_bytes
        self.max_delay_s = max_delay_s
        self.name = name
        self.stats = ProxyStats()
        self._blocked = threading.Event()
        self._closed = threading.Event()
        self._links: set[_Link] = set()
        self._lock = threading.Lock()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(256)
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, name=f"{name}-accept", daemon=True)

    # --- control ---------------------------------------------------------------------

    def __enter__(self) -> FaultyProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._closed.set()
        try:
            # accept() does not return on close() alone: wake it with a connection.
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            pass
        self._listener.close()
        self._thread.join(timeout=5)
        self._drop_all(count=False)

    def block(self) -> None:
        """Cut every live connection now and refuse new ones until unblock()."""
        self._blocked.set()
        self._drop_all(count=True)

    def unblock(self) -> None:
        self._blocked.clear()

    # --- inside -----------------------------------------------------------------------

    def _drop_all(self, *, count: bool) -> None:
        with self._lock:
            links = list(self._links)
        for link in links:
            if count and not link.done.is_set():
                self.stats.dropped += 1
            link.abort()

    def _plan(self, number: int) -> Plan:
        rng = random.Random(f"{self.seed}:{self.name}:{number}")
        cut_up = int(rng.expovariate(1 / self.up_cut_bytes)) if self.up_cut_bytes else None
        cut_down = int(rng.expovariate(1 / self.down_cut_bytes)) if self.down_cut_bytes else None
        delay = rng.uniform(0, self.max_delay_s) if self.max_delay_s else 0.0
        return Plan(cut_up, cut_down, delay)

    def _accept_loop(self) -> None:
        number = 0
        while not self._closed.is_set():
            try:
                client, _addr = self._listener.accept()
            except OSError:
                return
            if self._closed.is_set():
                client.close()
                return
            if self._blocked.is_set():
                self.stats.refused += 1
                _abort(client)
                continue
            number += 1
            self.stats.connections += 1
            threading.Thread(target=self._serve, args=(client, self._plan(number)), name=f"{self.name}-{number}",
                             daemon=True).start()

    def _serve(self, client: socket.socket, plan: Plan) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=5)
            upstream.settimeout(None)
        except OSError:
            _abort(client)  # the server is down: the client sees the connection dropped
            return
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        link = _Link(client, upstream)
        with self._lock:
            self._links.add(link)
        if self._blocked.is_set():  # block() came between accept() and here
            self.stats.dropped += 1
            link.abort()
        down = threading.Thread(target=self._pump, args=(link, upstream, client, plan.cut_down, plan.delay_s, False),
                                daemon=True)
        down.start()
        self._pump(link, client, upstream, plan.cut_up, plan.delay_s, True)
        down.join()
        link.abort()
        with self._lock:
            self._links.discard(link)

    def _pump(self, link: _Link, src: socket.socket, dst: socket.socket, cut_at: int | None, delay_s: float,
              upward: bool) -> None:
        passed = 0
        try:
            while not link.done.is_set():
                data = src.recv(_CHUNK)
                if not data:
                    try:
                        dst.shutdown(socket.SHUT_WR)  # the sender finished: pass the half-close on
                    except OSError:
                        pass
                    return
                if delay_s:
                    time.sleep(delay_s)
                if cut_at is not None and passed + len(data) >= cut_at:
                    dst.sendall(data[:cut_at - passed])
                    self._count(upward, cut_at - passed, cut=True)
                    link.abort()
                    return
                dst.sendall(data)
                passed += len(data)
                self._count(upward, len(data), cut=False)
        except OSError:
            link.abort()

    def _count(self, upward: bool, n: int, *, cut: bool) -> None:
        if upward:
            self.stats.bytes_up += n
            self.stats.cut_upstream += cut
        else:
            self.stats.bytes_down += n
            self.stats.cut_downstream += cut
