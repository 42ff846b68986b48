"""Run a system as if some installed packages were not there (``BENCH_HIDE=a,b``), and
optionally with another GIL switch interval (``BENCH_SWITCH_INTERVAL`` seconds), or with
some modules imported before the program starts (``BENCH_PREIMPORT=torch,pyannote.audio``:
their seconds are appended to the JSON lines file ``BENCH_PREIMPORT_LOG``, so a run's wall
time less them is what it would take if those imports cost nothing, e.g. a diarizer that
does not import pyannote).

The GPU image carries torchvision and transformers for whisperX (which requires transformers).
Our own install pulls in neither, but torchmetrics (under pyannote's lightning) imports both
whenever their metadata says they are installed: 3.6 + 1.9 s of import on the H200 host
(bench/production.md, the GIL profile). With this folder first on PYTHONPATH and BENCH_HIDE
set, importing them fails and ``importlib.metadata.version``/``distribution``/``metadata``
say they are not installed (what torchmetrics asks, through lightning_utilities), as on a
machine where only ``pip install transcriber`` ran; other metadata APIs (``distributions()``,
``entry_points()``) still list them. Children inherit it through the environment.
"""

from __future__ import annotations

import importlib.abc
import importlib.metadata
import os
import sys

HIDDEN = {n.strip().lower().replace("_", "-") for n in os.environ.get("BENCH_HIDE", "").split(",")}
HIDDEN.discard("")


def _hidden(name: str) -> bool:
    return name.split(".")[0].lower().replace("_", "-") in HIDDEN


class _Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if _hidden(name):
            raise ModuleNotFoundError(f"No module named {name!r} (hidden by BENCH_HIDE)", name=name)
        return None


def _wrap(original):
    def hide(name, *args, **kwargs):
        if isinstance(name, str) and _hidden(name):
            raise importlib.metadata.PackageNotFoundError(name)
        return original(name, *args, **kwargs)

    return hide


if os.environ.get("BENCH_SWITCH_INTERVAL"):  # the GIL's hand-over interval (default 5 ms)
    sys.setswitchinterval(float(os.environ["BENCH_SWITCH_INTERVAL"]))

if HIDDEN:
    sys.meta_path.insert(0, _Hide())
    importlib.metadata.version = _wrap(importlib.metadata.version)
    importlib.metadata.distribution = _wrap(importlib.metadata.distribution)
    importlib.metadata.metadata = _wrap(importlib.metadata.metadata)


def _chain() -> None:
    """Python imports one sitecustomize: run the one this folder shadows, if any."""
    here = os.path.dirname(os.path.abspath(__file__))
    for entry in sys.path:
        candidate = os.path.join(entry or ".", "sitecustomize.py")
        if os.path.abspath(entry or ".") != here and os.path.isfile(candidate):
            with open(candidate) as f:
                code = compile(f.read(), candidate, "exec")
            exec(code, {"__name__": "sitecustomize", "__file__": candidate})
            return


_chain()


def _preimport() -> None:
    import importlib
    import json
    import time

    # As our diarizer does before pyannote's first import (pyannote turns telemetry on else).
    os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")
    names = [n.strip() for n in os.environ.get("BENCH_PREIMPORT", "").split(",") if n.strip()]
    start = time.perf_counter()
    for name in names:
        importlib.import_module(name)
    seconds = round(time.perf_counter() - start, 3)
    if os.environ.get("BENCH_PREIMPORT_LOG"):
        with open(os.environ["BENCH_PREIMPORT_LOG"], "a") as log:
            log.write(
                json.dumps(
                    {
                        "preimport": names,
                        "seconds": seconds,
                        "pid": os.getpid(),
                        "at": time.strftime("%H:%M:%S", time.gmtime()),
                    }
                )
            )
            log.write("\n")


if os.environ.get("BENCH_PREIMPORT") and "BENCH_PREIMPORT_DONE" not in os.environ:
    os.environ["BENCH_PREIMPORT_DONE"] = "1"  # once per run: child processes skip it
    _preimport()
