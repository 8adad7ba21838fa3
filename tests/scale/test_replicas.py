"""Three replicas behind nginx answer as one proxy: virtual models and /api/ps are shared at once,
a backend's max_concurrency holds across them (Redis), and a rolling SIGTERM restart under load
fails no request and truncates no stream."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import orjson
import pytest

from tests.scale.conftest import MAX_CONCURRENCY, Cluster
from tests.support.fake_backend import Recorded, Reply, chat_completion, text_stream


@pytest.fixture
def clients(cluster: Cluster) -> list[httpx.Client]:
    opened = [httpx.Client(base_url=r.url, timeout=30) for r in cluster.replicas]
    yield opened  # type: ignore[misc]
    for client in opened:
        client.close()


def ps_names(client: httpx.Client) -> list[str]:
    response = client.get("/api/ps")
    assert response.status_code == 200, response.text
    return [m["name"] for m in response.json()["models"]]


def test_create_on_one_is_used_and_deleted_on_the_others_at_once(
    cluster: Cluster, clients: list[httpx.Client]
) -> None:
    a, b, c = clients
    for i in range(10):  # several names, each created, used and deleted through different replicas
        name = f"pirate-{i}"
        writer, reader, deleter = clients[i % 3], clients[(i + 1) % 3], clients[(i + 2) % 3]
        created = writer.post(
            "/api/create", json={"model": name, "from": "test-model", "system": f"Arr {i}", "stream": False}
        )
        assert created.status_code == 200, created.text
        for client in (reader, deleter):  # no waiting: at once
            shown = client.post("/api/show", json={"model": name})
            assert shown.status_code == 200, shown.text
            assert shown.json()["system"] == f"Arr {i}"
            assert f"{name}:latest" in [m["name"] for m in client.get("/api/tags").json()["models"]]
        chat = reader.post(
            "/api/chat",
            json={"model": name, "messages": [{"role": "user", "content": "hi"}], "stream": False},
        )
        assert chat.status_code == 200, chat.text
        assert cluster.backend.last("chat/completions").body["messages"][0] == {
            "role": "system",
            "content": f"Arr {i}",
        }
        assert deleter.request("DELETE", "/api/delete", json={"model": name}).status_code == 200
        for client in (writer, reader):
            assert client.post("/api/show", json={"model": name}).status_code == 404
            assert client.post("/api/chat", json={"model": name, "messages": []}).status_code == 404
        gone = writer.request("DELETE", "/api/delete", json={"model": name})
        assert gone.status_code == 404, gone.text
    copied = a.post("/api/copy", json={"source": "test-model", "destination": "alias-of-test"})
    assert copied.status_code == 200
    assert b.post("/api/show", json={"model": "alias-of-test"}).status_code == 200
    assert c.request("DELETE", "/api/delete", json={"model": "alias-of-test"}).status_code == 200
    assert a.post("/api/show", json={"model": "alias-of-test"}).status_code == 404


def test_ps_is_the_same_on_every_replica(cluster: Cluster, clients: list[httpx.Client]) -> None:
    a, b, c = clients
    b.post("/api/generate", json={"model": "test-model", "keep_alive": 0})
    assert all("test-model:latest" not in ps_names(x) for x in clients)
    loaded = a.post("/api/generate", json={"model": "test-model", "keep_alive": "10m"})
    assert loaded.json()["done_reason"] == "load"
    for client in clients:  # at once: an explicit load is stored before it is answered
        assert "test-model:latest" in ps_names(client)
    entries = [
        next(m for m in x.get("/api/ps").json()["models"] if m["name"] == "test-model:latest")
        for x in clients
    ]
    assert len({e["expires_at"] for e in entries}) == 1
    unloaded = b.post("/api/chat", json={"model": "test-model", "messages": [], "keep_alive": 0})
    assert unloaded.json()["done_reason"] == "unload"
    for client in clients:
        assert "test-model:latest" not in ps_names(client)
    # A real request marks its model loaded in the background: every replica sees it shortly after.
    chat = c.post(
        "/api/chat",
        json={"model": "test-model", "messages": [{"role": "user", "content": "x"}], "stream": False},
    )
    assert chat.status_code == 200
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not all("test-model:latest" in ps_names(x) for x in clients):
        time.sleep(0.05)
    assert all("test-model:latest" in ps_names(x) for x in clients)


def slow_chat(rec: Recorded) -> Reply | None:
    if rec.path.endswith("chat/completions"):
        return Reply(json=chat_completion("slow"), delay=0.15)
    return None


def test_max_concurrency_holds_across_replicas(cluster: Cluster) -> None:
    backend = cluster.backend
    backend.handler = slow_chat
    backend.peak = 0
    results: list[int] = []

    def call() -> None:
        with httpx.Client(base_url=cluster.nginx.url, timeout=60) as client:
            for _ in range(4):
                body = {
                    "model": "test-model",
                    "messages": [{"role": "user", "content": "hi"}],
                    "stream": False,
                }
                results.append(client.post("/api/chat", json=body).status_code)

    try:
        threads = [threading.Thread(target=call) for _ in range(9)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        backend.handler = None
    assert results == [200] * 36
    assert backend.peak == MAX_CONCURRENCY  # reached, never passed, by three replicas together


def streamed_chat(rec: Recorded) -> Reply | None:
    if rec.path.endswith("chat/completions") and isinstance(rec.body, dict) and rec.body.get("stream"):
        return Reply(events=text_stream(*[f"t{i} " for i in range(8)]), chunk_delay=0.04)
    return None


EXPECTED = "".join(f"t{i} " for i in range(8))


def restart_each_under_load(
    cluster: Cluster, send: Callable[[int, int], str], helpers: Sequence[threading.Thread] = ()
) -> None:
    """Four clients call ``send(worker, n)`` in a loop while each replica in turn gets SIGTERM and is
    started again; then no call may have failed."""
    cluster.backend.handler = streamed_chat
    stop = threading.Event()
    outcomes: list[str] = []

    def load(worker: int) -> None:
        for n in range(400):  # bounded, whatever happens
            if stop.is_set():
                return
            outcomes.append(send(worker, n))

    threads = [*helpers, *(threading.Thread(target=load, args=(i,)) for i in range(4))]
    try:
        for t in threads:
            t.start()
        time.sleep(0.5)
        for replica in cluster.replicas:
            replica.terminate()
            assert replica.wait_exit(30) in (0, -15), replica.log()
            replica.start().wait_ready()
            time.sleep(0.5)
    finally:
        stop.set()
        cluster.stop_helpers.set()
        for t in threads:
            t.join(60)
        cluster.stop_helpers.clear()
        cluster.backend.handler = None
    failures = [o for o in outcomes if o != "ok"]
    assert len(outcomes) > 20
    assert failures == [], failures[:5]


def test_rolling_restart_under_load_fails_nothing(cluster: Cluster) -> None:
    """Behind nginx (which tries the next replica when one refuses a connection)."""
    clients = [httpx.Client(base_url=cluster.nginx.url, timeout=60) for _ in range(4)]
    try:
        restart_each_under_load(cluster, lambda worker, n: one_request(clients[worker], worker + n, EXPECTED))
    finally:
        for client in clients:
            client.close()


def test_rolling_restart_behind_a_balancer_that_follows_ready(cluster: Cluster) -> None:
    """No nginx and no retries: like a Kubernetes Service, the balancer stops picking a replica only
    once its /ready says so (polled every 0.5 s, inside the 1 s drain delay); half the clients keep
    connections alive per replica, half open a new one per request."""
    replicas = cluster.replicas
    ready = set(range(len(replicas)))
    pools = [[httpx.Client(base_url=r.url, timeout=60) for r in replicas] for _ in range(4)]

    def follow_readiness() -> None:  # the endpoints controller
        with httpx.Client(timeout=0.5) as probe:
            while not cluster.stop_helpers.is_set():
                for i, replica in enumerate(replicas):
                    try:
                        ok = probe.get(f"{replica.url}/ready").status_code == 200
                    except httpx.HTTPError:
                        ok = False
                    (ready.add if ok else ready.discard)(i)
                time.sleep(0.5)

    def send(worker: int, n: int) -> str:
        choices = sorted(ready)
        if not choices:
            time.sleep(0.05)
            return "ok"
        pick = choices[(worker + n) % len(choices)]
        if worker % 2:
            return one_request(pools[worker][pick], worker + n, EXPECTED)
        with httpx.Client(base_url=replicas[pick].url, timeout=60) as fresh:
            return one_request(fresh, worker + n, EXPECTED)

    try:
        restart_each_under_load(cluster, send, [threading.Thread(target=follow_readiness)])
    finally:
        for client in (c for row in pools for c in row):
            client.close()


def one_request(client: httpx.Client, n: int, expected: str) -> str:
    body: dict[str, Any] = {"model": "test-model", "messages": [{"role": "user", "content": "go"}]}
    try:
        if n % 2:
            with client.stream("POST", "/api/chat", json={**body, "stream": True}) as response:
                if response.status_code != 200:
                    return f"stream status {response.status_code}: {response.read()[:200]!r}"
                lines = [orjson.loads(line) for line in response.iter_lines() if line]
            text = "".join(o.get("message", {}).get("content", "") for o in lines)
            if (
                not lines
                or lines[-1].get("done") is not True
                or text != expected
                or any("error" in o for o in lines)
            ):
                return f"truncated stream: {lines[-1:]!r} {text!r}"
            return "ok"
        response = client.post("/api/chat", json={**body, "stream": False})
        if response.status_code != 200:
            return f"status {response.status_code}: {response.text[:200]}"
        return "ok"
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
