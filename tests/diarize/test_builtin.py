"""The built-in speaker pipeline (weights shipped in the package) end to end: no token, no
network (HF_HUB_OFFLINE=1), the real CLI, the real tiny.en model and the real weights.

examples/conversation.mp4 is two espeak voices with a known script; data/three-voices.opus
three others taking turns (bench/diarization/synth.py: a low slow en-us, a high fast en-us+f3
and an en-gb-scotland+f1, three turns each, seed 41; not part of the bench's sets).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from cli_run import CONVERSATION, json_lines, run, voice_at

from tests.conftest import ROOT
from tests.parse_outputs import parse_rttm, parse_srt, parse_txt, srt_speaker
from transcriber_cli.diarize.spectral import estimate
from transcriber_cli.transcript import Transcript

DATA = Path(__file__).parent / "data"
SCRIPT = json.loads(CONVERSATION.with_suffix(".script.json").read_text())


@pytest.mark.slow
def test_two_voices_without_token_get_two_speakers_sentence_by_sentence(tmp_path: Path):
    proc = run(
        str(CONVERSATION),
        "-m",
        "tiny.en",
        "--speaker-names",
        "Alice,Bob",
        "-f",
        "json,srt,rttm,txt",
        "-o",
        str(tmp_path),
        "--json",
        env={"HF_TOKEN": None},
    )
    assert proc.returncode == 0, proc.stderr
    (line,) = json_lines(proc.stdout)
    assert line["diarization"] == "done" and sorted(line["speakers"]) == ["Alice", "Bob"]
    t = Transcript.model_validate_json((tmp_path / "conversation.json").read_text())
    assert t.diarization == {"status": "done", "model": "builtin"}
    # Every word belongs to the voice that spoke it (alice speaks first, so she is Alice).
    names = {"alice": "Alice", "bob": "Bob"}
    words = [w for seg in t.segments for w in seg.words]
    assert len(words) > 60
    for w in words:
        voice = voice_at(SCRIPT["turns"], (w.start + w.end) / 2)
        assert voice is not None and w.speaker == names[voice], (w, voice)
    # txt: one paragraph per turn, in the script's order.
    paragraphs = parse_txt((tmp_path / "conversation.txt").read_text())
    assert [who for who, _ in paragraphs] == [names[x["speaker"]] for x in SCRIPT["turns"]]
    # srt: a cue never spans a change of speaker, and each cue names the voice under it.
    for cue in parse_srt((tmp_path / "conversation.srt").read_text()):
        voices = {voice_at(SCRIPT["turns"], x) for x in np.linspace(cue.start, cue.end, 5)}
        voices.discard(None)
        assert len(voices) == 1 and srt_speaker(cue) == names[voices.pop()], cue
    # rttm: the turns of each voice, within half a second of the script.
    rttm = parse_rttm((tmp_path / "conversation.rttm").read_text())
    assert {r.speaker for r in rttm} == {"Alice", "Bob"}
    for turn in SCRIPT["turns"]:
        mine = [r for r in rttm if r.start < turn["end"] and r.start + r.duration > turn["start"]]
        longest = max(mine, key=lambda r: min(r.start + r.duration, turn["end"]) - r.start)
        assert longest.speaker == names[turn["speaker"]]
        assert abs(longest.start - turn["start"]) < 0.5, (turn, longest)


@pytest.mark.slow
def test_the_speaker_count_is_estimated_on_three_voices(tmp_path: Path):
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    proc = run(
        str(DATA / "three-voices.opus"),
        "-m",
        "tiny.en",
        "--diarization-model",
        "builtin",
        "-f",
        "rttm",
        "-o",
        str(tmp_path),
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    (line,) = json_lines(proc.stdout)
    assert len(line["speakers"]) == 3, line
    reference, hypothesis = Annotation(), Annotation()
    for r in parse_rttm((DATA / "three-voices.rttm").read_text()):
        reference[Segment(r.start, r.start + r.duration)] = r.speaker
    for r in parse_rttm((tmp_path / "three-voices.rttm").read_text()):
        hypothesis[Segment(r.start, r.start + r.duration)] = r.speaker
    assert DiarizationErrorRate(collar=0.25)(reference, hypothesis) < 0.10
    # A given count wins over the estimate.
    args = ["-m", "tiny.en", "--diarization-model", "builtin", "--num-speakers", "2", "--json"]
    two = run(str(DATA / "three-voices.opus"), *args, "-f", "json", "-o", str(tmp_path / "two"))
    assert two.returncode == 0, two.stderr
    assert len(json_lines(two.stdout)[0]["speakers"]) == 2


@pytest.mark.slow
def test_a_corrupt_weights_file_is_one_line_not_a_traceback(tmp_path: Path):
    """A copy of the package whose d-vector weights were cut short, run as a real process."""
    shutil.copytree(
        ROOT / "transcriber_cli",
        tmp_path / "pkg" / "transcriber_cli",
        ignore=shutil.ignore_patterns("__pycache__"),  # other processes write there meanwhile
    )
    weights = tmp_path / "pkg" / "transcriber_cli" / "diarize" / "weights"
    data = (weights / "dvector.pt").read_bytes()
    (weights / "dvector.pt").write_bytes(data[: len(data) // 2])
    env = {"PYTHONPATH": str(tmp_path / "pkg"), "HF_TOKEN": None}
    args = [str(CONVERSATION), "-m", "tiny.en", "-f", "json", "--json"]
    proc = run(*args, "--diarize", "-o", str(tmp_path / "required"), env=env)
    assert proc.returncode == 3, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert f"cannot load the built-in speaker weights in {weights}" in lines[0]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "required").exists() or not list((tmp_path / "required").iterdir())
    # Auto mode still transcribes, with a note saying why there are no speakers.
    auto = run(*args, "-o", str(tmp_path / "auto"), env=env)
    assert auto.returncode == 0, auto.stderr
    (line,) = json_lines(auto.stdout)
    assert line["speakers"] == [] and "built-in speaker weights" in line["diarization"]


def test_spectral_estimate_counts_well_separated_voices():
    """Three tight groups of unit vectors in 256-d: three speakers, whatever their sizes."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 256))
    x = np.concatenate([c + 0.25 * rng.normal(size=(n, 256)) for c, n in zip(centres, (40, 15, 8))])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    k, _ = estimate(x, 1, 10)
    assert k == 3
    one = x[:40]
    assert estimate(one, 1, 10)[0] == 1


@pytest.mark.parametrize("given", [2, 3, 5])
def test_a_given_count_on_a_few_embeddings_clusters_them(given: int):
    """A short file leaves few embeddings; pyannote caps --num-speakers at their number.
    Three embeddings told 3 (or more) speakers crashed the estimate (argmax of nothing)."""
    from transcriber_cli.diarize.spectral import SpectralClustering

    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 256))
    labels = SpectralClustering().cluster(x, num_clusters=given)
    assert len(labels) == 3 and len(set(labels)) == min(given, 3)


def test_the_spectral_clustering_runs_on_one_thread(monkeypatch):
    """numpy's and scipy's BLAS and scikit-learn's OpenMP take a thread per core; beside
    transcription (and other files) on a GPU machine those spin for milliseconds of work.
    The eigendecomposition and KMeans see one thread, the same labels come out, and the
    process's own thread counts are back afterwards."""
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_info, threadpool_limits

    from transcriber_cli.diarize import spectral

    rng = np.random.default_rng(2)
    centres = np.linalg.qr(rng.normal(size=(64, 4)))[0].T
    x = np.repeat(centres, 60, axis=0) + 0.05 * rng.normal(size=(240, 64))
    seen: dict[str, set[int]] = {"eigh": set(), "kmeans": set()}
    fit_predict, eigh = KMeans.fit_predict, spectral.eigh

    def threads(apis: tuple[str, ...]) -> set[int]:
        return {i["num_threads"] for i in threadpool_info() if i["user_api"] in apis}

    def watched_fit(self, *args, **kwargs):
        seen["kmeans"] |= threads(("openmp", "blas"))
        return fit_predict(self, *args, **kwargs)

    def watched_eigh(*args, **kwargs):
        seen["eigh"] |= threads(("blas",))
        return eigh(*args, **kwargs)

    monkeypatch.setattr(KMeans, "fit_predict", watched_fit)
    monkeypatch.setattr(spectral, "eigh", watched_eigh)
    with threadpool_limits(limits=2):  # a pool to limit, on a machine of any size
        before = threads(("openmp", "blas"))
        labels = spectral.SpectralClustering().cluster(x)
        after = threads(("openmp", "blas"))
    assert seen == {"eigh": {1}, "kmeans": {1}}
    assert before == after == {2}
    monkeypatch.undo()
    assert len(set(labels)) == 4
    assert all(len(set(labels[i * 60 : (i + 1) * 60])) == 1 for i in range(4))  # one a voice


@pytest.mark.parametrize("count", [1, 4, 11])
def test_the_spectrum_asked_for_a_few_eigenpairs_is_the_full_ones_start(count: int):
    """Only the smallest eigenpairs are computed (the count's eigengap and the clusters'
    coordinates): the same values and, up to sign, the same vectors as the full solve."""
    from transcriber_cli.diarize.spectral import spectrum

    rng = np.random.default_rng(3)
    centres = rng.normal(size=(4, 64))
    x = np.repeat(centres, 50, axis=0) + 0.6 * rng.normal(size=(200, 64))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    values, vectors = spectrum(x)
    few, their = spectrum(x, count=count)
    assert few.shape == (count,) and their.shape == (200, count)
    np.testing.assert_allclose(few, values[:count], atol=1e-9)
    # The first eigenvalue (0, the constant vector) is simple here; the others too.
    cosines = np.abs(np.sum(their * vectors[:, :count], axis=0))
    np.testing.assert_allclose(cosines, 1.0, atol=1e-6)
