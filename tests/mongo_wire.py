"""A MongoDB wire-protocol server for tests: mockupdb speaks OP_MSG, mongomock stores the data.

No mongod can be installed on the test machines (see /work/shared/ENVIRONMENT.md), so the
product's plain pymongo code talks over TCP to this process instead. It answers the commands
the product uses: hello/isMaster, ping, buildInfo, find, aggregate, insert, update, delete,
findAndModify, createIndexes, count, distinct, listIndexes, drop, dropDatabase, endSessions,
and serverStatus (opcounters, connections, per-command totals) for load measurements.

Connections are served concurrently, one thread each, like mongod: ``WireServer`` replaces
mockupdb's connection loop, which holds one server-wide lock while it handles a request *and
sends the reply* (so a client that stops reading would stall every other client). Each
command still runs alone under ``WireStore.lock``, which keeps every single command atomic as
mongod keeps a single-document findAndModify/update atomic; only the replies overlap.

Deliberately absent: getMore (every cursor comes back whole, id 0), sessions, transactions
and change streams. ``hello`` advertises no ``logicalSessionTimeoutMinutes``, so pymongo
uses neither implicit sessions nor retryable writes; the product must work without them.

Run: ``python tests/mongo_wire.py --port N`` (prints ``ready PORT`` once listening).
"""

from __future__ import annotations

import argparse
import datetime as dt
import signal
import socket
import sys
import threading
from collections import Counter
from typing import Any

import mockupdb
import mongomock
from bson import ObjectId
from mongomock.collection import ReturnDocument

_MAX_WIRE = 17  # MongoDB 6.0: pymongo 4.x accepts it and uses OP_MSG throughout
_OWN_COUNTER = {"find": "query", "getMore": "getmore"}  # other commands count as "command"
_STATEMENTS = {"insert": "documents", "update": "updates", "delete": "deletes"}


class WireStore:
    """Command dispatch onto an in-memory mongomock client. mongomock is not thread-safe and
    connections are served in parallel, so every command runs under ``lock``: each command
    is atomic, as a single-document write is on mongod. Replies are sent outside it."""

    def __init__(self) -> None:
        self.client: mongomock.MongoClient = mongomock.MongoClient()
        self.lock = threading.Lock()
        # serverStatus figures, counted the way mongod counts them: find -> query, getMore
        # -> getmore, insert/update/delete -> one per document / statement / statement, every
        # other command (findAndModify, aggregate, count, hello, serverStatus itself) -> command.
        self.opcounters: Counter[str] = Counter(
            dict.fromkeys(("insert", "query", "update", "delete", "getmore", "command"), 0)
        )
        self.commands: Counter[str] = Counter()  # metrics.commands.<name>.total
        self.failed: Counter[str] = Counter()
        self.connections = {"current": 0, "totalCreated": 0}

    def connected(self, delta: int) -> None:
        with self.lock:
            self.connections["current"] += delta
            self.connections["totalCreated"] += max(delta, 0)

    def _count(self, name: str, doc: dict) -> None:
        self.commands[name] += 1
        if name in _STATEMENTS:  # one per document / statement, not per command
            self.opcounters[name] += len(doc.get(_STATEMENTS[name]) or [])
        else:
            self.opcounters[_OWN_COUNTER.get(name, "command")] += 1

    # --- dispatch -------------------------------------------------------------------------
    def handle(self, request: mockupdb.Request) -> bool:
        doc = dict(request.doc)
        name = next(iter(doc))
        db_name = doc.get("$db", "test")
        handler = getattr(self, "cmd_" + name.lower(), None)
        if handler is None:
            with self.lock:
                self._count(name, doc)
                self.failed[name] += 1
            return request.replies(
                {
                    "ok": 0,
                    "errmsg": f"no such command: '{name}'",
                    "code": 59,
                    "codeName": "CommandNotFound",
                }
            )
        try:
            with self.lock:
                self._count(name, doc)
                reply = handler(self.client[db_name], doc)
        except mongomock.DuplicateKeyError as exc:
            reply = {"ok": 0, "errmsg": str(exc), "code": 11000, "codeName": "DuplicateKey"}
        except mongomock.OperationFailure as exc:
            reply = {"ok": 0, "errmsg": str(exc), "code": exc.code or 2, "codeName": "BadValue"}
        except Exception as exc:  # report to the client instead of killing the connection
            reply = {"ok": 0, "errmsg": f"{type(exc).__name__}: {exc}", "code": 1}
        if reply.setdefault("ok", 1) != 1:
            with self.lock:
                self.failed[name] += 1
        return request.replies(reply)  # outside the lock: a slow reader stalls only itself

    # --- handshake and admin ----------------------------------------------------------------
    def cmd_hello(self, db: Any, doc: dict) -> dict:
        return {
            "ismaster": True,
            "isWritablePrimary": True,
            "helloOk": True,
            "maxWireVersion": _MAX_WIRE,
            "minWireVersion": 0,
            "maxBsonObjectSize": 16 * 1024 * 1024,
            "maxMessageSizeBytes": 48_000_000,
            "maxWriteBatchSize": 100_000,
            "localTime": dt.datetime.now(dt.UTC),
            "connectionId": 1,
        }

    cmd_ismaster = cmd_hello

    def cmd_ping(self, db: Any, doc: dict) -> dict:
        return {}

    def cmd_buildinfo(self, db: Any, doc: dict) -> dict:
        return {"version": "6.0.0-wire", "versionArray": [6, 0, 0, 0]}

    def cmd_endsessions(self, db: Any, doc: dict) -> dict:
        return {}

    def cmd_serverstatus(self, db: Any, doc: dict) -> dict:
        # Called under ``lock``, so the figures are one consistent snapshot.
        names = set(self.commands) | set(self.failed)
        return {
            "host": socket.gethostname(),
            "version": "6.0.0-wire",
            "localTime": dt.datetime.now(dt.UTC),
            "opcounters": dict(self.opcounters),
            "connections": {**self.connections, "available": 1_000_000},
            "metrics": {
                "commands": {
                    n: {"total": self.commands[n], "failed": self.failed[n]} for n in sorted(names)
                }
            },
        }

    def cmd_dropdatabase(self, db: Any, doc: dict) -> dict:
        self.client.drop_database(db.name)
        return {}

    def cmd_drop(self, db: Any, doc: dict) -> dict:
        db.drop_collection(doc["drop"])
        return {}

    # --- reads ------------------------------------------------------------------------------
    @staticmethod
    def _cursor(db: Any, coll: str, batch: list) -> dict:
        # id 0: the whole result in the first batch, so no getMore is ever needed.
        return {"cursor": {"id": 0, "ns": f"{db.name}.{coll}", "firstBatch": batch}}

    def cmd_find(self, db: Any, doc: dict) -> dict:
        coll = doc["find"]
        cursor = db[coll].find(doc.get("filter") or {}, doc.get("projection") or None)
        if doc.get("sort"):
            cursor = cursor.sort(list(doc["sort"].items()))
        if doc.get("skip"):
            cursor = cursor.skip(doc["skip"])
        limit = abs(doc.get("limit") or 0)
        if limit:
            cursor = cursor.limit(limit)
        return self._cursor(db, coll, list(cursor))

    def cmd_aggregate(self, db: Any, doc: dict) -> dict:
        coll = doc["aggregate"]
        return self._cursor(db, coll, list(db[coll].aggregate(doc.get("pipeline") or [])))

    def cmd_count(self, db: Any, doc: dict) -> dict:
        return {"n": db[doc["count"]].count_documents(doc.get("query") or {})}

    def cmd_distinct(self, db: Any, doc: dict) -> dict:
        return {"values": db[doc["distinct"]].distinct(doc["key"], doc.get("query") or {})}

    def cmd_listindexes(self, db: Any, doc: dict) -> dict:
        coll = doc["listIndexes"]
        info = db[coll].index_information()
        batch = [
            {
                "v": 2,
                "name": name,
                "key": dict(spec["key"]),
                **({"unique": True} if spec.get("unique") else {}),
            }
            for name, spec in info.items()
        ]
        return self._cursor(db, coll, batch)

    # --- writes -----------------------------------------------------------------------------
    def cmd_insert(self, db: Any, doc: dict) -> dict:
        coll = db[doc["insert"]]
        n, errors = 0, []
        for i, item in enumerate(doc.get("documents", [])):
            item.setdefault("_id", ObjectId())
            try:
                coll.insert_one(item)
                n += 1
            except mongomock.DuplicateKeyError as exc:
                errors.append({"index": i, "code": 11000, "errmsg": str(exc)})
                if doc.get("ordered", True):
                    break
        return {"n": n, **({"writeErrors": errors} if errors else {})}

    def cmd_update(self, db: Any, doc: dict) -> dict:
        coll = db[doc["update"]]
        n = modified = 0
        upserted = []
        for i, spec in enumerate(doc.get("updates", [])):
            query, update = spec.get("q") or {}, spec["u"]
            is_replacement = not any(k.startswith("$") for k in update)
            if is_replacement:
                result = coll.replace_one(query, update, upsert=spec.get("upsert", False))
            elif spec.get("multi"):
                result = coll.update_many(
                    query,
                    update,
                    upsert=spec.get("upsert", False),
                    array_filters=spec.get("arrayFilters"),
                )
            else:
                result = coll.update_one(
                    query,
                    update,
                    upsert=spec.get("upsert", False),
                    array_filters=spec.get("arrayFilters"),
                )
            if result.upserted_id is not None:
                upserted.append({"index": i, "_id": result.upserted_id})
                n += 1
            else:
                n += result.matched_count
                modified += result.modified_count
        return {"n": n, "nModified": modified, **({"upserted": upserted} if upserted else {})}

    def cmd_delete(self, db: Any, doc: dict) -> dict:
        coll = db[doc["delete"]]
        n = 0
        for spec in doc.get("deletes", []):
            if spec.get("limit") == 1:
                n += coll.delete_one(spec.get("q") or {}).deleted_count
            else:
                n += coll.delete_many(spec.get("q") or {}).deleted_count
        return {"n": n}

    def cmd_findandmodify(self, db: Any, doc: dict) -> dict:
        coll = db[doc["findAndModify"]]
        query = doc.get("query") or {}
        sort = list(doc["sort"].items()) if doc.get("sort") else None
        projection = doc.get("fields") or None
        if doc.get("remove"):
            value = coll.find_one_and_delete(query, projection=projection, sort=sort)
            return {"value": value, "lastErrorObject": {"n": int(value is not None)}}
        update = doc["update"]
        upsert = bool(doc.get("upsert"))
        existed = coll.find_one(query, sort=sort) is not None
        kwargs = {
            "projection": projection,
            "sort": sort,
            "upsert": upsert,
            "return_document": ReturnDocument.AFTER if doc.get("new") else ReturnDocument.BEFORE,
        }
        if any(k.startswith("$") for k in update):
            value = coll.find_one_and_update(query, update, **kwargs)
        else:
            value = coll.find_one_and_replace(query, update, **kwargs)
        last = {"n": int(existed or upsert), "updatedExisting": existed}
        if upsert and not existed and value is not None:
            last["upserted"] = value.get("_id")
        return {"value": value, "lastErrorObject": last}

    def cmd_createindexes(self, db: Any, doc: dict) -> dict:
        coll = db[doc["createIndexes"]]
        for spec in doc.get("indexes", []):
            options = {k: v for k, v in spec.items() if k in ("name", "unique", "sparse")}
            coll.create_index(list(spec["key"].items()), **options)
        return {"numIndexesBefore": 1, "numIndexesAfter": 1 + len(doc.get("indexes", []))}


class WireServer(mockupdb.MockupDB):
    """mockupdb's request parsing and replies, with connections served concurrently.

    mockupdb's ``_server_loop`` is ``@_synchronized``: one lock around reading a request,
    handling it and sending the reply, so one client that does not read its reply (a full
    socket buffer) blocks every other connection. This loop takes no server lock;
    ``WireStore.lock`` serialises the commands themselves."""

    def __init__(self, store: WireStore, port: int = 0) -> None:
        super().__init__(port=port, request_timeout=int(1e6))
        self.store = store
        self._count_lock = threading.Lock()
        self.autoresponds(store.handle)

    def _server_loop(self, client: socket.socket, client_addr: Any) -> None:
        self.store.connected(+1)
        try:
            while not self._stopped and not mockupdb._shutting_down:
                try:
                    request = mockupdb.mock_server_receive_request(client, self)
                    with self._count_lock:
                        self._requests_count += 1
                    # The catch-all WireStore responder answers everything; the queue is
                    # mockupdb's fallback for tests that pop requests by hand.
                    for responder in reversed(list(self._autoresponders)):
                        if responder.handle(request):
                            break
                    else:
                        self._request_q.put(request)
                except OSError:  # reset, broken pipe, closed by stop(): this client is gone
                    break
                except AssertionError:  # a reply to a moreToCome message; mockupdb gives up too
                    break
        finally:
            self.store.connected(-1)
            client.close()


def serve(port: int = 0) -> WireServer:
    server = WireServer(WireStore(), port=port)
    server.run()
    return server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    server = serve(args.port)
    print(f"ready {server.port}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
