"""Compare speaker-count estimators for the built-in pipeline's window method (issue 16).

    python bench/diarization/count_sweep.py DIR... [--json OUT]

Segmentation and window embeddings are computed once per file (cached under
bench/.data/count-cache/FOLDER-NAME/STEM.pkl, keyed by names only: delete it after changing
the pipeline or rebuilding a folder); each estimator then picks a count from the window embeddings,
and the pipeline labels the file with that count given. Prints, per estimator, how many
files got the right count and the pooled DER at collar 0.25 over all folders, and per folder.
Dev folders only: test sets are scored once, with run.py, after a choice.
"""

from __future__ import annotations

import argparse
import json
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from pyannote.database.util import load_rttm
from run import read_wav
from sweep import errors

from transcriber_cli.diarize import spectral
from transcriber_cli.diarize.builtin import load_builtin

CACHE = Path(__file__).resolve().parents[1] / ".data" / "count-cache"
MAX_K = spectral.MAX_ESTIMATED_SPEAKERS


def features(pipeline, wav: Path):
    cached = CACHE / wav.parent.name / f"{wav.stem}.pkl"
    if cached.is_file():
        return pickle.loads(cached.read_bytes())
    audio = torch.from_numpy(read_wav(wav))[None]
    file = {"waveform": audio, "sample_rate": 16000, "uri": wav.stem}
    hook = pipeline.setup_hook(file, hook=None)
    count = pipeline.speech_count(file, hook)
    found = pipeline.window_embeddings(file, count, hook)
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(pickle.dumps((count, found)))
    return count, found


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True).clip(1e-10)


def labels_for(x: np.ndarray, k: int, pruning: float) -> np.ndarray:
    return spectral.SpectralClustering().cluster(
        x, min_clusters=1, max_clusters=len(x), num_clusters=k, pruning=pruning
    )


def eigengap(pruning: float) -> Callable[[np.ndarray], int]:
    def pick(x: np.ndarray) -> int:
        return spectral.estimate(x, 1, min(MAX_K, len(x) - 1), pruning)[0]

    return pick


def centroid_check(tau: float, pruning: float, min_share: float) -> Callable[[np.ndarray], int]:
    """The largest k whose spectral clusters' centroids all stay below cosine ``tau`` to
    each other, every cluster holding at least ``min_share`` of the windows."""

    def pick(x: np.ndarray) -> int:
        best = 1
        for k in range(2, min(MAX_K, len(x) - 1) + 1):
            labels = labels_for(x, k, pruning)
            sizes = np.bincount(labels, minlength=k)
            if sizes.min() < max(2, min_share * len(x)):
                continue
            c = unit(np.stack([x[labels == i].mean(0) for i in range(k)]))
            sim = c @ c.T
            np.fill_diagonal(sim, -1)
            if sim.max() < tau:
                best = k
        return best

    return pick


def eigengap_split(tau: float, pruning: float, min_share: float) -> Callable[[np.ndarray], int]:
    """The eigengap's count, raised while one more cluster keeps every centroid pair below
    cosine ``tau`` (each cluster at least ``min_share`` of the windows)."""

    def pick(x: np.ndarray) -> int:
        k = spectral.estimate(x, 1, min(MAX_K, len(x) - 1), pruning)[0]
        while k + 1 <= min(MAX_K, len(x) - 1):
            labels = labels_for(x, k + 1, pruning)
            sizes = np.bincount(labels, minlength=k + 1)
            if sizes.min() < max(2, min_share * len(x)):
                break
            c = unit(np.stack([x[labels == i].mean(0) for i in range(k + 1)]))
            sim = c @ c.T
            np.fill_diagonal(sim, -1)
            if sim.max() >= tau:
                break
            k += 1
        return k

    return pick


def ahc(tau: float, min_share: float) -> Callable[[np.ndarray], int]:
    """Average-linkage AHC on cosine distance cut at 1 - ``tau``; clusters smaller than
    ``min_share`` of the windows are not counted."""
    from scipy.cluster.hierarchy import fcluster, linkage

    def pick(x: np.ndarray) -> int:
        z = linkage(x, method="average", metric="cosine")
        labels = fcluster(z, 1 - tau, criterion="distance")
        sizes = np.bincount(labels)
        return max(1, int((sizes >= max(2, min_share * len(x))).sum()))

    return pick


def centred(pick: Callable[[np.ndarray], int]) -> Callable[[np.ndarray], int]:
    """``pick`` on the embeddings less their mean (the part every window shares)."""

    def run(x: np.ndarray) -> int:
        return pick(unit(x - x.mean(0)))

    return run


def refined(keep: float, sigma: float, laplacian: bool) -> Callable[[np.ndarray], int]:
    """Wang et al. 2018 (d-vectors, https://arxiv.org/abs/1710.10468): the cosine affinity
    blurred along time, thresholded per row, symmetrised, diffused, row-max normalised; the
    count from the largest eigenvalue ratio (or, ``laplacian``, the Laplacian's eigengap)."""
    from scipy.ndimage import gaussian_filter

    def pick(x: np.ndarray) -> int:
        a = np.clip(x @ x.T, 0, 1)
        if sigma:
            a = gaussian_filter(a, sigma)
        k = max(2, int(np.ceil(keep * len(x))))
        cut = -np.sort(-a, axis=1)[:, k - 1 : k]
        a = np.where(a >= cut, a, 0.01 * a)
        a = np.maximum(a, a.T)
        a = a @ a.T
        a = a / a.max(1, keepdims=True)
        top = min(MAX_K, len(x) - 1)
        if laplacian:
            a = (a + a.T) / 2
            np.fill_diagonal(a, 0)
            values = np.linalg.eigvalsh(np.diag(a.sum(1)) - a)
            return int(np.argmax(np.diff(values[: top + 1]))) + 1
        values = np.sort(np.linalg.eigvals(a).real)[::-1][: top + 1]
        return int(np.argmax(values[:-1] / np.maximum(values[1:], 1e-10))) + 1

    return pick


def silhouette(pruning: float, floor: float, centre: bool) -> Callable[[np.ndarray], int]:
    """The k (2..MAX_K) whose spectral clusters have the best mean silhouette (cosine), 1
    when none reaches ``floor``."""
    from sklearn.metrics import silhouette_score

    def pick(x: np.ndarray) -> int:
        y = unit(x - x.mean(0)) if centre else x
        best, score = 1, floor
        for k in range(2, min(MAX_K, len(x) - 1) + 1):
            labels = labels_for(x, k, pruning)
            if len(np.unique(labels)) < 2:
                continue
            value = silhouette_score(y, labels, metric="cosine")
            if value > score:
                best, score = k, value
        return best

    return pick


def larger(*picks: Callable[[np.ndarray], int]) -> Callable[[np.ndarray], int]:
    return lambda x: max(p(x) for p in picks)


ESTIMATORS: dict[str, Callable[[np.ndarray], int]] = {
    "eigengap p=0.25 (shipped)": eigengap(0.25),
}
for tau in (0.6, 0.65, 0.7, 0.75, 0.8):
    for share in (0.05, 0.1):
        ESTIMATORS[f"centroids tau={tau} share={share}"] = centroid_check(tau, 0.25, share)
        ESTIMATORS[f"eigengap+split tau={tau} share={share}"] = eigengap_split(tau, 0.25, share)
        ESTIMATORS[f"ahc tau={tau} share={share}"] = ahc(tau, share)

for p in (0.1, 0.15, 0.2, 0.25, 0.3, 0.4):
    ESTIMATORS[f"centred eigengap p={p}"] = centred(eigengap(p))
for tau in (0.0, 0.1, 0.2, 0.3, 0.4):
    for share in (0.05, 0.1):
        ESTIMATORS[f"centred ahc tau={tau} share={share}"] = centred(ahc(tau, share))
        ESTIMATORS[f"centred centroids tau={tau} share={share}"] = centred(
            centroid_check(tau, 0.25, share)
        )

for keep in (0.1, 0.2, 0.3, 0.5):
    for sigma in (0.0, 1.0, 2.0):
        for lap in (False, True):
            ESTIMATORS[f"refined keep={keep} sigma={sigma} laplacian={lap}"] = refined(
                keep, sigma, lap
            )

for p in (0.15, 0.25):
    for c in (False, True):
        ESTIMATORS[f"silhouette p={p} centre={c}"] = silhouette(p, 0.0, c)
        ESTIMATORS[f"max(eigengap, silhouette) p={p} centre={c}"] = larger(
            eigengap(0.25), silhouette(p, 0.0, c)
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--only", nargs="*", help="estimator names to run (default: all)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    pipeline = load_builtin(device="cpu", batch_size=16, native=False)  # its setup_hook
    files = []
    for folder in args.folders:
        for wav in sorted(folder.glob("*.wav")):
            reference = next(iter(load_rttm(str(wav.with_suffix(".rttm"))).values()))
            files.append((folder.name, wav.stem, reference, *features(pipeline, wav)))
    results: dict = {}
    names = [n for n in ESTIMATORS if not args.only or any(o in n for o in args.only)]
    for name in names:
        pick = ESTIMATORS[name]
        rows = []
        for folder, uri, reference, count, (spans, emb) in files:
            n = len(reference.labels())
            k = pick(unit(emb)) if len(emb) > 3 else 1
            out = pipeline.assemble((spans, emb), count, k, None, None, uri)
            err, total = errors(reference, out.speaker_diarization)
            rows.append({"folder": folder, "file": uri, "speakers": n, "found": k,
                         "errors": err, "total": total})  # fmt: skip
        right = sum(r["found"] == r["speakers"] for r in rows)
        der = sum(r["errors"] for r in rows) / sum(r["total"] for r in rows)
        over = sum(r["found"] > r["speakers"] for r in rows)
        per = []
        for folder in dict.fromkeys(r["folder"] for r in rows):
            mine = [r for r in rows if r["folder"] == folder]
            d = sum(r["errors"] for r in mine) / sum(r["total"] for r in mine)
            per.append(f"{folder} {sum(r['found'] == r['speakers'] for r in mine)}/{len(mine)} "
                       f"{d:.1%}")  # fmt: skip
        results[name] = {"right": right, "files": len(rows), "over": over, "der": der, "rows": rows}
        print(f"{name}: right {right}/{len(rows)} (over {over}), DER {der:.1%} | "
              f"{'; '.join(per)}", flush=True)  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
