"""The Mongo wire test server itself: concurrent connections, atomic commands, serverStatus."""

from __future__ import annotations

import socket
import struct
import threading
import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlparse

import bson
import pymongo
import pytest
from pymongo import ReturnDocument


def connect(url: str) -> pymongo.MongoClient:
    return pymongo.MongoClient(url, serverSelectionTimeoutMS=3000, socketTimeoutMS=5000)


@pytest.fixture
def db(mongo_wire: str) -> Iterator:
    client = connect(mongo_wire)
    database = client[f"w{uuid.uuid4().hex[:10]}"]
    yield database
    client.drop_database(database.name)
    client.close()


def test_racing_claims_have_exactly_one_winner(mongo_wire, db):
    """Each thread its own client (connection), all released at once on the same job."""
    threads_n, rounds = 12, 3
    db.jobs.insert_many([{"_id": r, "status": "queued", "n": 0} for r in range(rounds)])
    clients = [connect(mongo_wire) for _ in range(threads_n)]
    for c in clients:
        c.admin.command("ping")  # connected before the race, so the race is the claims
    wins: list[tuple[int, int]] = []
    barrier = threading.Barrier(threads_n)

    def race(i: int) -> None:
        coll = clients[i][db.name].jobs
        for r in range(rounds):
            barrier.wait()
            got = coll.find_one_and_update(
                {"_id": r, "status": "queued"},
                {"$set": {"status": "processing", "worker": i}},
                return_document=ReturnDocument.AFTER,
            )
            if got is not None:
                wins.append((r, i))
            coll.update_one({"_id": r}, {"$inc": {"n": 1}})

    threads = [threading.Thread(target=race, args=(i,)) for i in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    for c in clients:
        c.close()
    assert sorted(r for r, _ in wins) == list(range(rounds))  # one winner per job
    for r, i in wins:
        assert db.jobs.find_one({"_id": r}) == {"_id": r, "status": "processing", "worker": i,
                                                "n": threads_n}  # fmt: skip


def op_msg(doc: dict, request_id: int = 7) -> bytes:
    body = struct.pack("<IB", 0, 0) + bson.encode(doc)  # flags, section kind 0
    return struct.pack("<iiii", 16 + len(body), request_id, 0, 2013) + body


def recv_exact(sock: socket.socket, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(min(n - len(data), 1 << 20))
        assert chunk, "connection closed early"
        data += chunk
    return bytes(data)


def test_a_client_that_does_not_read_its_reply_stalls_only_itself(mongo_wire, db):
    """mockupdb's own loop sent replies under its server lock: this reply (8 MB, more than
    the socket buffers hold) would block every other connection until it was read."""
    blob = "x" * 1_000_000
    db.big.insert_many([{"_id": i, "blob": blob} for i in range(8)])
    url = urlparse(mongo_wire)
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small window
    raw.settimeout(10)
    try:
        raw.connect((url.hostname, url.port))
        raw.sendall(op_msg({"find": "big", "filter": {}, "$db": db.name}))
        time.sleep(0.5)  # the server is now stuck in sendall on this socket
        other = connect(mongo_wire)
        t0 = time.monotonic()
        assert other.admin.command("ping")["ok"] == 1
        assert other[db.name].big.find_one({"_id": 3}, {"_id": 1}) == {"_id": 3}
        other.close()
        assert time.monotonic() - t0 < 3
        # The stalled reply is intact once its reader reads it.
        length, _, response_to, opcode = struct.unpack("<iiii", recv_exact(raw, 16))
        assert (response_to, opcode) == (7, 2013) and length > 8_000_000
        reply = bson.decode(recv_exact(raw, length - 16)[5:])
        assert len(reply["cursor"]["firstBatch"]) == 8
    finally:
        raw.close()


def test_server_status_counts_operations_like_mongod(db):
    status = lambda: db.client.admin.command("serverStatus")  # noqa: E731
    before = status()
    db.c.insert_many([{"_id": i} for i in range(5)])  # 1 command, 5 documents
    db.c.insert_one({"_id": 5})
    list(db.c.find({}))
    db.c.find_one({"_id": 1})
    db.c.update_one({"_id": 1}, {"$set": {"a": 1}})
    db.c.bulk_write([pymongo.UpdateOne({"_id": i}, {"$set": {"b": 1}}) for i in range(3)])
    db.c.find_one_and_update({"_id": 2}, {"$set": {"c": 1}})
    db.c.count_documents({})  # an aggregate
    db.c.delete_many({"_id": {"$gt": 3}})
    after = status()
    ops = {k: after["opcounters"][k] - before["opcounters"][k] for k in after["opcounters"]}
    cmds = after["metrics"]["commands"]
    old = before["metrics"]["commands"]
    total = lambda name: cmds[name]["total"] - old.get(name, {}).get("total", 0)  # noqa: E731
    assert ops["insert"] == 6 and ops["query"] == 2 and ops["update"] == 4
    assert ops["delete"] == 1 and ops["getmore"] == 0
    # findAndModify, aggregate, the second serverStatus; plus any background hello heartbeats.
    hellos = sum(total(n) for n in ("hello", "isMaster") if n in cmds)
    assert ops["command"] == 3 + hellos
    assert total("findAndModify") == 1 and total("aggregate") == 1 and total("insert") == 2
    assert after["connections"]["current"] >= 1
    assert after["connections"]["totalCreated"] >= after["connections"]["current"]
