"""A 503 with Retry-After before the first byte is retried every time: under concurrent load, with a
busy CPU, and after the retry budget was spent on other failures."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import orjson
import pytest

from tests.contract.quirks.conftest import Quirky
from tests.support.fake_backend import Recorded, Reply


@pytest.fixture
def busy_cpu() -> Iterator[None]:
    """A thread spinning in Python for the test's duration: the in-process proxy competes for the GIL."""
    stop = threading.Event()

    def spin() -> None:
        n = 0
        while not stop.is_set():
            n += 1

    thread = threading.Thread(target=spin, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(5)


def test_retry_after_is_always_honoured_under_load(quirky: Callable[..., Quirky], busy_cpu: None) -> None:
    q = quirky("generic")
    seen: Counter[str] = Counter()
    lock = threading.Lock()

    def handler(rec: Recorded) -> Reply | None:
        if not rec.path.endswith("chat/completions") or not isinstance(rec.body, dict):
            return None
        text = rec.body["messages"][-1]["content"]
        if text.startswith("drain"):
            return Reply(500, json={"error": {"message": "down"}})
        with lock:
            seen[text] += 1
            first = seen[text] == 1
        if first:
            return Reply(503, json={"error": {"message": "loading model"}}, headers={"Retry-After": "1"})
        return None

    q.backend.handler = handler

    def chat(text: str, stream: bool) -> httpx.Response:
        body = {"model": "test-model", "messages": [{"role": "user", "content": text}], "stream": stream}
        return httpx.post(f"{q.proxy.url}/api/chat", json=body, timeout=60)

    with ThreadPoolExecutor(8) as pool:  # spend the retry budget on failures without Retry-After
        assert {r.status_code for r in pool.map(lambda i: chat(f"drain {i}", False), range(40))} == {502}
    texts = [f"request {i}" for i in range(16)]
    start = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(lambda t: chat(t, t.endswith(("0", "2", "4", "6", "8"))), texts))
    assert [r.status_code for r in responses] == [200] * len(texts)
    for r in responses:
        last = orjson.loads(r.content.splitlines()[-1])
        assert last["done"] is True
    assert all(seen[t] == 2 for t in texts), seen  # every request: the 503, then exactly one retry
    assert time.monotonic() - start >= 0.9  # the retry waited as the backend asked
