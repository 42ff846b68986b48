"""The fault-injection helpers themselves: the TCP proxy and the fake IMDS."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pymongo
import pytest
from pymongo.errors import ConnectionFailure, ServerSelectionTimeoutError

from tests.fake_imds import TTL_HEADER, FakeImds
from tests.faults import TcpProxy


@pytest.fixture
def echo() -> Iterator[tuple[str, int]]:
    """A TCP echo server: one thread per connection."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):  # a cut resets it
            while data := conn.recv(65536):
                conn.sendall(data)

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield listener.getsockname()
    listener.close()


def roundtrip(port: int, payload: bytes = b"ping", timeout: float = 5) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        return b"".join(iter(lambda: s.recv(65536), b""))


def attempt(port: int) -> bytes | None:
    """One round trip; None when the connection is reset."""
    try:
        return roundtrip(port, timeout=2)
    except OSError:
        return None


def broken(sock: socket.socket) -> bool:
    """True when the connection is reset or closed under us."""
    try:
        sock.sendall(b"x")
        return sock.recv(1) == b""
    except OSError:
        return True


def test_bytes_flow_both_ways_on_many_connections(echo):
    with TcpProxy(*echo) as proxy:
        payload = bytes(range(256)) * 4096  # 1 MiB, more than any socket buffer here
        assert roundtrip(proxy.port, payload) == payload
        results: list[bool] = []
        threads = [
            threading.Thread(
                target=lambda i=i: results.append(roundtrip(proxy.port, b"%d" % i) == b"%d" % i)
            )
            for i in range(40)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=10)
        assert results == [True] * 40
        assert proxy.accepted == 41 and proxy.refused == 0
        assert proxy.url("mongodb") == f"mongodb://127.0.0.1:{proxy.port}"
        assert proxy.rewrite("http://localhost:9/a?b=1") == f"http://127.0.0.1:{proxy.port}/a?b=1"


def test_cut_resets_open_connections_and_refuses_new_until_restored(echo):
    with TcpProxy(*echo) as proxy:
        conn = socket.create_connection(("127.0.0.1", proxy.port), timeout=2)
        conn.sendall(b"hello")
        assert conn.recv(5) == b"hello"
        assert proxy.active == 1
        t0 = time.monotonic()
        proxy.cut()
        assert broken(conn) and time.monotonic() - t0 < 1
        conn.close()
        assert proxy.active == 0 and proxy.reset == 1
        assert attempt(proxy.port) is None  # accepted, then reset
        assert proxy.refused == 1
        proxy.restore()
        assert roundtrip(proxy.port) == b"ping"


def test_cut_for_heals_by_itself(echo):
    with TcpProxy(*echo) as proxy:
        proxy.cut_for(1.0)  # long enough for the refused attempt on a loaded machine
        assert attempt(proxy.port) is None
        deadline = time.monotonic() + 10
        while proxy.is_cut and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not proxy.is_cut and roundtrip(proxy.port) == b"ping"


def test_target_down_is_a_reset_not_a_hang():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]  # nothing listens here once closed
    with TcpProxy("127.0.0.1", dead_port) as proxy:
        assert attempt(proxy.port) is None and proxy.refused == 1


def until(fn, timeout: float = 10):
    """Call ``fn`` until it stops raising ConnectionFailure (pymongo reconnecting)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except ConnectionFailure:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_pymongo_through_the_proxy_fails_during_a_cut_and_recovers(mongo_wire):
    with TcpProxy.for_url(mongo_wire) as proxy:
        client: pymongo.MongoClient = pymongo.MongoClient(
            proxy.rewrite(mongo_wire), serverSelectionTimeoutMS=500, connectTimeoutMS=1000
        )
        coll = client["faults"]["c"]
        coll.delete_many({})
        coll.insert_one({"_id": 1})
        assert coll.find_one({"_id": 1}) == {"_id": 1}
        proxy.cut()
        with pytest.raises(ConnectionFailure):  # the pooled connection was reset
            coll.find_one({"_id": 1})
        t0 = time.monotonic()
        with pytest.raises(ServerSelectionTimeoutError):  # and no new one gets through
            coll.find_one({"_id": 1})
        assert time.monotonic() - t0 < 3
        proxy.restore()
        assert until(lambda: coll.find_one({"_id": 1})) == {"_id": 1}
        client.close()
        assert proxy.refused >= 1 and proxy.reset >= 1


def test_boto3_through_the_proxy_fails_fast_during_a_cut_and_recovers(aws):
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import HTTPClientError  # ConnectionClosedError: reset mid-request

    with TcpProxy.for_url(aws) as proxy:
        config = Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=2)
        s3 = boto3.client("s3", endpoint_url=proxy.url(), config=config)
        s3.create_bucket(Bucket="faults")
        threads = [
            threading.Thread(target=s3.put_object, kwargs={"Bucket": "faults", "Key": f"k{i}"})
            for i in range(8)
        ]  # a few pooled connections at once
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=10)
        assert s3.list_objects_v2(Bucket="faults")["KeyCount"] == 8
        proxy.cut()
        t0 = time.monotonic()
        with pytest.raises((BotoConnectionError, HTTPClientError)):
            s3.head_bucket(Bucket="faults")
        assert time.monotonic() - t0 < 2
        proxy.restore()
        # The old client's pool may still hold a socket the cut reset (the product's clients
        # retry up to eight times): a client with retries gets through at once.
        again = config.merge(Config(retries={"max_attempts": 3}))
        retrying = boto3.client("s3", endpoint_url=proxy.url(), config=again)
        assert retrying.head_bucket(Bucket="faults")["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_fake_imds_speaks_imdsv2():
    from transcriber_cli.worker.imds import Imds

    with FakeImds(instance_type="c7i.large") as fake:
        imds = Imds(fake.url)
        assert imds.get("instance-id") == "i-0123456789abcdef0"
        assert imds.get("instance-type") == "c7i.large"
        assert imds.get("spot/instance-action") is None
        assert imds.get("events/recommendations/rebalance") is None
        fake.notice()
        fake.rebalance()
        notice = json.loads(imds.get("spot/instance-action") or "")
        assert notice["action"] == "terminate" and notice["time"].endswith("Z")
        assert set(json.loads(imds.get("events/recommendations/rebalance") or "")) == {"noticeTime"}
        base = fake.url + "/latest/"
        assert httpx.get(base + "meta-data/instance-id").status_code == 401  # no token
        assert httpx.put(base + "api/token").status_code == 400  # no TTL header
        assert httpx.put(base + "api/token", headers={TTL_HEADER: "60"}).text == fake.token
        fake.clear()
        assert imds.get("spot/instance-action") is None
