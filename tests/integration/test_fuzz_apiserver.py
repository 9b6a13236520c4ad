"""The property/fuzz suite: at least 20 000 generated and mutated requests against a real
apiserver (an etcd and apiserver of this module's own), then the properties that must hold.

Requests come from hypothesis (seeds: resource, verb, name, namespace and a random seed that a
fast mutator expands into variants, `tests/support/fuzzing.py`) and from schemathesis over
the apiserver's own OpenAPI document. For every response: no 5xx (except the documented 501
for what minik8s does not implement and the 504 of a future resourceVersion, as Kubernetes),
and every 4xx is a `Status`. Over the run: nothing was written to etcd for a rejected request
(every etcd event since the start belongs to a key some 2xx write named), the apiserver's RSS
stayed bounded and its event loop was never blocked for more than 100 ms (its own
`minik8s_event_loop_blocked_seconds` histogram). `pytest --long` sends ten times as many.
"""

from __future__ import annotations

import asyncio
import random
import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from minik8s.api import resources
from minik8s.store.etcd import EtcdStore
from tests.support import fuzzing
from tests.support.processes import Apiserver, Etcd, temp_dir

VERBS = ("create", "update", "patch", "delete", "get", "list", "watch", "status", "scale",
         "binding")  # fmt: skip
MUTATIONS = 11
SCHEMATHESIS_CHUNK = 300
RSS_LIMIT = 600 * 1024 * 1024
"""The apiserver's resident memory must stay below this over the run (~80 MB at rest)."""
ALLOWED_5XX = {501: "NotImplemented", 504: "Timeout"}
AUTH = {"Authorization": "Bearer fuzz-token"}


class Server:
    def __init__(self, work: Path) -> None:
        self.etcd = Etcd(work / "etcd")
        self.apiserver = Apiserver(
            "", work / "apiserver", token="fuzz-token", tls=False,
            # keep history: it is checked; no identity Lease: only requests write
            extra_args=["--etcd-compaction-interval=0", "--endpoint-reconciler-type=none"],
        )  # fmt: skip
        self.rss_peak = 0
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True, name="rss")

    def start(self) -> None:
        self.etcd.start()
        self.apiserver.etcd_url = self.etcd.url
        self.apiserver.start()
        self._sampler.start()

    def rss(self) -> int:
        assert self.apiserver.process is not None and self.apiserver.process.popen is not None
        status = Path(f"/proc/{self.apiserver.process.popen.pid}/status").read_text()
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        return int(match.group(1)) * 1024 if match else 0

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            try:
                self.rss_peak = max(self.rss_peak, self.rss())
            except (OSError, AssertionError):
                return

    def blocked_over_100ms(self) -> float:
        """Loop blocks longer than 100 ms so far (count of histogram observations)."""
        text = httpx.get(f"{self.apiserver.url}/metrics", timeout=10, headers=AUTH).text
        count = re.search(r"^minik8s_event_loop_blocked_seconds_count (\S+)$", text, re.M)
        within = re.search(
            r'^minik8s_event_loop_blocked_seconds_bucket\{le="0.1"\} (\S+)$', text, re.M
        )
        assert count and within, "the apiserver exports no event loop metric"
        return float(count.group(1)) - float(within.group(1))

    def errors(self) -> str:
        """The apiserver log's error lines and tracebacks (the last few)."""
        assert self.apiserver.process is not None
        lines = self.apiserver.process.log_path.read_text(errors="replace").splitlines()
        picked = [line for line in lines if "ERROR" in line or not line[:4].isdigit()]
        return "\n".join(picked[-80:])

    def stop(self) -> None:
        self._stop.set()
        self.apiserver.stop()
        self.etcd.stop()


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    work = temp_dir("minik8s-fuzz-")
    server = Server(work)
    try:
        server.start()
        with httpx.Client(base_url=server.apiserver.url, timeout=10) as http:
            for ns in fuzzing.NAMESPACES:
                http.post(
                    "/api/v1/namespaces", json={"metadata": {"name": ns}},
                    headers={"Authorization": "Bearer fuzz-token"},
                )  # fmt: skip
        yield server
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def seeds_strategy() -> st.SearchStrategy[fuzzing.Seed]:
    plurals = [r.plural for r in resources.RESOURCES]
    return st.builds(
        fuzzing.Seed,
        resource=st.sampled_from(plurals),
        verb=st.sampled_from(VERBS),
        name=st.sampled_from(fuzzing.NAMES) | st.text(min_size=0, max_size=12),
        namespace=st.sampled_from(fuzzing.NAMESPACES) | st.text(max_size=8),
        seed=st.integers(min_value=0, max_value=2**32),
        mutations=st.just(MUTATIONS),
    )


def hypothesis_requests(count: int, derandomize: bool = True) -> list[fuzzing.Request]:
    """`count` seeds drawn by hypothesis, each expanded by the mutator (the same ones on every
    run unless `derandomize` is False: CI runs are reproducible, `--long` runs explore)."""
    out: list[fuzzing.Request] = []

    @settings(max_examples=count, deadline=None, database=None, derandomize=derandomize,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(seeds_strategy())
    def draw(seed: fuzzing.Seed) -> None:
        if "/" in seed.name or "/" in seed.namespace or "?" in seed.name + seed.namespace:
            seed = fuzzing.Seed(seed.resource, seed.verb, "a", "fz-a", seed.seed, seed.mutations)
        out.extend(fuzzing.requests_from_seed(seed))

    draw()
    return out


def schemathesis_requests(base_url: str, chunks: int, seeded: bool) -> list[fuzzing.Request]:
    """Cases schemathesis generates from the apiserver's own OpenAPI document (core v1 and
    apps/v1), each also sent with mutated query parameters: `chunks` runs of 300 cases
    (hypothesis slows down sharply on longer runs of this strategy). With `seeded`, the
    same cases on every run."""
    strategies = []
    for path in ("/openapi/v3/api/v1", "/openapi/v3/apis/apps/v1"):
        document = httpx.get(base_url + path, timeout=10, headers=AUTH).json()
        schema = schemathesis.openapi.from_dict(document)
        strategies += [result.ok().as_strategy() for result in schema.get_all_operations()]
    out: list[fuzzing.Request] = []
    for chunk in range(chunks):

        @seed(chunk if seeded else random.getrandbits(64))
        @settings(max_examples=SCHEMATHESIS_CHUNK, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        @given(st.one_of(strategies), st.integers(0, 2**32))
        def draw(case: schemathesis.Case, number: int) -> None:
            out.extend(_from_case(case, random.Random(number)))

        draw()
    return out


def _from_case(case: schemathesis.Case, rng: random.Random) -> list[fuzzing.Request]:
    query = [(k, str(v)) for k, v in (case.query or {}).items() if not isinstance(v, list)]
    if any(k == "watch" for k, _ in query):
        query = [(k, v) for k, v in query if k != "timeoutSeconds"] + [("timeoutSeconds", "1")]
    # a future resourceVersion waits 3 s for its 504 (test_hardening_store covers it)
    query = [(k, v if k != "resourceVersion" else "0") for k, v in query]
    body = None
    if case.body is not None and case.method.upper() != "GET":
        body = fuzzing.encode(case.body, fuzzing.JSON, rng)
    content_type = (case.media_type or fuzzing.JSON) if body is not None else None
    request = fuzzing.Request(case.method.upper(), case.formatted_path, query, content_type, body)
    return [request, fuzzing.mutated(request, resources.PODS, {}, rng)]


def check_outcome(outcome: fuzzing.Outcome) -> str | None:
    """What is wrong with one response, or None."""
    request, code = outcome.request, outcome.status
    where = f"{request.method} {request.url} ({request.content_type}) -> {code}"
    if code >= 500:
        reason = ALLOWED_5XX.get(code)
        try:
            status = orjson.loads(outcome.body)
        except orjson.JSONDecodeError:
            return f"{where}: {outcome.body[:300]!r}"
        if reason is None or status.get("reason") != reason:
            return f"{where}: {outcome.body[:300]!r}"
        if code == 504 and "Too large resource version" not in status.get("message", ""):
            return f"{where}: {outcome.body[:300]!r}"
    if code >= 400:
        try:
            status = orjson.loads(outcome.body)
        except orjson.JSONDecodeError:
            return f"{where}: not a Status: {outcome.body[:200]!r}"
        if not isinstance(status, dict) or status.get("kind") != "Status":
            return f"{where}: not a Status: {outcome.body[:200]!r}"
        if status.get("code") != code or b"Traceback" in outcome.body:
            return f"{where}: bad Status {status}"
    return None


async def etcd_events(url: str, start: int, end: int) -> list[tuple[int, str]]:
    """(revision, key) of every etcd change under /registry/ in (start, end]."""
    store = EtcdStore([url])
    events: list[tuple[int, str]] = []
    try:
        if end <= start:
            return events
        async with asyncio.timeout(30):
            async for event in store.watch("/registry/", start + 1):
                events.append((event.revision, event.key))
                if event.revision >= end:
                    break
    finally:
        await store.close()
    return events


def current_revision(url: str) -> int:
    async def read() -> int:
        store = EtcdStore([url])
        try:
            return await store.current_revision()
        finally:
            await store.close()

    return asyncio.run(read())


def test_fuzz_the_apiserver(server: Server, request: pytest.FixtureRequest) -> None:
    long = bool(request.config.getoption("--long"))
    scale = 10 if long else 1
    base_url = server.apiserver.url
    started = time.monotonic()
    generated = hypothesis_requests(1700 * scale, derandomize=not long)
    generated += schemathesis_requests(base_url, scale, seeded=not long)
    random.Random(17).shuffle(generated)
    generated = fuzzing.interleave(generated)
    made = time.monotonic() - started
    assert len(generated) >= 20_000 * scale, len(generated)

    blocked_before = server.blocked_over_100ms()
    rss_before = server.rss()
    start = current_revision(server.etcd.url)
    started = time.monotonic()
    outcomes = asyncio.run(fuzzing.send_all(base_url, "fuzz-token", generated))
    sent = time.monotonic() - started
    end = current_revision(server.etcd.url)

    assert len(outcomes) == len(generated)
    problems = [p for p in map(check_outcome, outcomes) if p]
    assert not problems, (
        f"{len(problems)} bad responses, e.g.:\n"
        + "\n".join(problems[:15])
        + "\napiserver errors:\n"
        + server.errors()
    )

    written_by_success: set[str] = set()
    for outcome in outcomes:
        if outcome.request.method != "GET" and 200 <= outcome.status < 300:
            written_by_success |= fuzzing.storage_keys(outcome)
    events = asyncio.run(etcd_events(server.etcd.url, start, end))
    unexplained = sorted({key for _, key in events if key not in written_by_success})
    assert not unexplained, f"etcd changed for keys no successful request wrote: {unexplained}"

    assert server.rss_peak < RSS_LIMIT, (
        f"apiserver RSS peaked at {server.rss_peak >> 20} MiB (from {rss_before >> 20} MiB)"
    )
    assert server.blocked_over_100ms() == blocked_before, (
        "the apiserver's event loop was blocked for more than 100 ms"
    )
    codes: dict[int, int] = {}
    for outcome in outcomes:
        codes[outcome.status] = codes.get(outcome.status, 0) + 1
    print(
        f"fuzz: {len(outcomes)} requests in {sent:.1f}s (generated in {made:.1f}s), codes "
        f"{dict(sorted(codes.items()))}, {len(events)} etcd events, RSS {rss_before >> 20} -> "
        f"peak {server.rss_peak >> 20} MiB"
    )
