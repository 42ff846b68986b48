"""Whisper's encoder in torch (``whisper_encoder = "torch"``), checked on the CPU in float32
against CTranslate2's own encoder: the same weights read from model.bin, the same numbers,
the same transcript through the real engine, and CTranslate2's encoder kept when the torch
one cannot be built."""

from __future__ import annotations

import logging
import math
import os
import shutil
import struct
import threading
import time
import tracemalloc
from pathlib import Path

import ctranslate2
import numpy as np
import pytest
import torch
from ctranslate2.specs.model_spec import NumpyVariable
from faster_whisper import WhisperModel

from tests.conftest import json_lines, run_cli
from tests.helpers import assert_same_words
from transcriber_cli.config import Settings
from transcriber_cli.engine import torch_encoder
from transcriber_cli.engine.ct2_weights import decoder_layers, read_encoder_weights
from transcriber_cli.engine.torch_encoder import (
    build_encoder,
    encoder_dtype,
    install_torch_encoder,
)
from transcriber_cli.engine.whisper import WhisperEngine
from transcriber_cli.errors import ModelUnavailable
from transcriber_cli.options import WhisperOptions

# Measured on tiny.en, the conversation's first 30 s, float32 on a 2-core AMD EPYC: max abs
# difference 1.6e-3 (outputs up to 13.7; mean 1.9e-6). The residual stream before the final
# LayerNorm reaches thousands, so float32 rounding there (torch's oneDNN kernels against
# CTranslate2's) is what is left; a float64 torch run is 1.5e-3 from the one and 3.5e-4
# from the other.
MAX_ABS = 5e-3
MEAN_ABS = 2e-5
_TYPE_IDS = {np.dtype(np.float32): 0, np.dtype(np.int8): 1, np.dtype(np.int16): 2,
             np.dtype(np.int32): 3, np.dtype(np.float16): 4}  # fmt: skip


BFLOAT16_ID = 5  # no numpy type: bfloat16 variables are given as torch tensors


def write_model_bin(path: Path, variables: dict[str, np.ndarray | torch.Tensor],
                    aliases: dict[str, str] | None = None, version: int = 6) -> None:  # fmt: skip
    """A model.bin as ctranslate2/specs/model_spec.py ``_serialize`` writes one."""

    def string(text: str) -> bytes:
        return struct.pack("<H", len(text) + 1) + text.encode() + b"\0"

    with open(path, "wb") as out:
        out.write(struct.pack("<I", version) + string("WhisperSpec") + struct.pack("<I", 3))
        out.write(struct.pack("<I", len(variables)))
        for name, value in sorted(variables.items()):
            if isinstance(value, torch.Tensor):
                assert value.dtype == torch.bfloat16, name
                type_id, data = BFLOAT16_ID, value.view(torch.int16).numpy().tobytes()
            else:
                type_id, data = _TYPE_IDS[value.dtype], value.tobytes()
            out.write(string(name) + struct.pack("<B", value.ndim))
            out.write(b"".join(struct.pack("<I", d) for d in value.shape))
            out.write(struct.pack("<BI", type_id, len(data)) + data)
        out.write(struct.pack("<I", len(aliases or {})))
        for alias, name in (aliases or {}).items():
            out.write(string(alias) + string(name))


def read_all_variables(model_dir: str) -> dict[str, np.ndarray]:
    """Every variable of a model.bin (a plain sequential reader, independent of ours)."""
    data = Path(model_dir, "model.bin").read_bytes()
    at = 0

    def take(fmt: str):
        nonlocal at
        (value,) = struct.unpack_from("<" + fmt, data, at)
        at += struct.calcsize("<" + fmt)
        return value

    def string() -> str:
        nonlocal at
        size = take("H")
        at += size
        return data[at - size : at - 1].decode()

    dtypes = {v: k for k, v in _TYPE_IDS.items()}
    assert take("I") == 6 and string() == "WhisperSpec"
    take("I")
    variables = {}
    for _ in range(take("I")):
        name = string()
        shape = tuple(take("I") for _ in range(take("B")))
        dtype, size = dtypes[take("B")], take("I")
        variables[name] = np.frombuffer(data, dtype, math.prod(shape), at).reshape(shape)
        at += size
    assert take("I") == 1  # tiny.en: decoder/projection/weight -> decoder/embeddings/weight
    return variables


def quantize_int8(variables: dict[str, np.ndarray]) -> tuple[dict, dict[str, np.ndarray]]:
    """Weights quantized the way the converter does (int8, one scale per output row, conv
    kernels too): the new variables, and the scales by weight name."""
    quantized, scales = {}, {}
    for name, value in variables.items():
        if name.endswith("weight") and value.ndim >= 2:
            rows = value.astype(np.float32).reshape(value.shape[0], -1)
            scale = 127.0 / np.maximum(np.abs(rows).max(axis=1), 1e-8)
            quantized[name] = np.rint(rows * scale[:, None]).astype(np.int8).reshape(value.shape)
            quantized[name + "_scale"] = scales[name] = scale.astype(np.float32)
        else:
            quantized[name] = value
    return quantized, scales


def sinusoids(length: int, channels: int) -> np.ndarray:
    """OpenAI Whisper's position encodings (whisper/model.py)."""
    increment = np.log(10000) / (channels // 2 - 1)
    scaled = np.arange(length)[:, None] * np.exp(-increment * np.arange(channels // 2))[None]
    return np.concatenate([np.sin(scaled), np.cos(scaled)], axis=1)


@pytest.fixture(scope="module")
def ct2_float32(tiny_model: str) -> WhisperModel:
    return WhisperModel(tiny_model, device="cpu", compute_type="float32", cpu_threads=2)


@pytest.fixture(scope="module")
def windows(ct2_float32: WhisperModel, conversation_audio: np.ndarray) -> np.ndarray:
    """The conversation's first and last 30 s of log-Mel features: [2, 80, 3000]."""
    features = ct2_float32.feature_extractor(conversation_audio)
    return np.stack([features[:, :3000], features[:, -3000:]])


def ct2_encode(model: WhisperModel, features: np.ndarray) -> np.ndarray:
    encoded = model.model.encode(ctranslate2.StorageView.from_array(features), to_cpu=False)
    return np.array(encoded)


def test_reader_finds_tiny_en_encoder(tiny_model: str) -> None:
    weights = read_encoder_weights(tiny_model)
    assert all(name.startswith("encoder/") for name in weights)
    assert len(weights) == 4 + 1 + 2 + 1 + 4 * 12  # convs, positions, final norm, heads, layers
    shapes = {
        "encoder/conv1/weight": (384, 80, 3),
        "encoder/conv2/weight": (384, 384, 3),
        "encoder/position_encodings/encodings": (1500, 384),
        "encoder/layer_3/self_attention/linear_0/weight": (1152, 384),  # fused q, k, v
        "encoder/layer_3/self_attention/linear_1/weight": (384, 384),
        "encoder/layer_3/ffn/linear_0/weight": (1536, 384),
        "encoder/layer_3/ffn/linear_1/bias": (384,),
        "encoder/layer_norm/gamma": (384,),
    }
    for name, shape in shapes.items():
        assert weights[name].shape == shape and weights[name].dtype == np.float16, name
    assert int(weights["encoder/num_heads"]) == 6
    # The data, not only the headers: the stored positions are Whisper's sinusoids, and every
    # variable is the one a plain sequential read of the file finds.
    positions = weights["encoder/position_encodings/encodings"].astype(np.float32)
    assert np.abs(positions - sinusoids(1500, 384)).max() < 1e-3
    everything = read_all_variables(tiny_model)
    for name, value in weights.items():
        assert np.array_equal(value, everything[name]), name


def test_a_file_it_cannot_read_is_a_clear_error(tiny_model: str, tmp_path: Path) -> None:
    data = Path(tiny_model, "model.bin").read_bytes()
    for name, content, message in [
        ("truncated", data[: len(data) // 2], "truncated"),
        ("headers-only", data[:200], "truncated"),  # cut inside the first variable's data
        ("no-aliases", data[:-60], "truncated"),  # all variables, the alias list cut short
        ("empty", b"", "empty"),
        ("future", struct.pack("<I", 7) + data[4:], "binary version 7"),
    ]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.bin").write_bytes(content)
        with pytest.raises(ValueError, match=message):
            read_encoder_weights(tmp_path / name)


def test_the_decoders_depth_is_read_from_the_headers(tiny_model: str, tmp_path: Path) -> None:
    """What the window plan reads before a model loads (engine/gpus.py: longer windows for
    a deep decoder): tiny.en's 4 layers, a large-v3-deep file's 32, 0 for one it cannot
    read."""
    assert decoder_layers(tiny_model) == 4
    one = np.zeros(2, dtype=np.float16)
    deep = {f"decoder/layer_{i}/self_attention/linear_0/weight": one for i in range(32)}
    deep |= {f"encoder/layer_{i}/self_attention/linear_0/weight": one for i in range(4)}
    (tmp_path / "deep").mkdir()
    write_model_bin(tmp_path / "deep" / "model.bin", deep)
    assert decoder_layers(tmp_path / "deep") == 32
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "model.bin").write_bytes(b"not a model")
    assert decoder_layers(tmp_path / "bad") == decoder_layers(tmp_path / "none") == 0


def test_aliases_and_int8_weights(tiny_model: str, tmp_path: Path, windows) -> None:
    """An encoder variable stored once under another name, and weights quantized the way the
    converter does (int8, one scale per output row, conv kernels too): read back as float32
    within half a quantization step, and encoded as CTranslate2 encodes with that file."""
    original = read_all_variables(tiny_model)
    shutil.copytree(tiny_model, tmp_path, dirs_exist_ok=True)  # config, vocabulary
    variables, scales = quantize_int8(original)
    gamma = "encoder/layer_2/ffn/layer_norm/gamma"
    del variables[gamma]
    write_model_bin(tmp_path / "model.bin", variables, {
        gamma: "encoder/layer_0/ffn/layer_norm/gamma",
        "decoder/projection/weight": "decoder/embeddings/weight",
    })  # fmt: skip
    weights = read_encoder_weights(tmp_path)
    assert np.array_equal(weights[gamma], original["encoder/layer_0/ffn/layer_norm/gamma"])
    assert set(weights) == {n for n in original if n.startswith("encoder/")}
    for name in ("encoder/conv1/weight", "encoder/layer_1/self_attention/linear_0/weight"):
        step = 1 / scales[name].reshape(-1, *[1] * (original[name].ndim - 1))
        assert weights[name].dtype == np.float32
        assert np.all(np.abs(weights[name] - original[name]) <= step / 2 + 1e-6), name
    # CTranslate2 dequantizes the same file for float32: the two encoders agree again.
    ct2 = WhisperModel(str(tmp_path), device="cpu", compute_type="float32", cpu_threads=2)
    with torch.inference_mode():
        ours = build_encoder(tmp_path)(torch.from_numpy(windows[:1].copy())).numpy()
    assert np.abs(ours - ct2_encode(ct2, windows[:1])).max() < MAX_ABS


def test_int8_weights_are_dequantized_one_at_a_time(tiny_model: str, tmp_path: Path) -> None:
    """Building the encoder from an int8 file holds one weight's float32 copy at a time on
    the host, not the whole encoder's (large-v3's is 2.5 GB): each is read, dequantized and
    sent to the device before the next. numpy's buffers are what tracemalloc counts; the
    "meta" device takes the tensors without host memory, as a GPU would."""
    original = read_all_variables(tiny_model)
    write_model_bin(tmp_path / "model.bin", quantize_int8(original)[0])
    sizes = [v.size * 4 for n, v in original.items() if n.startswith("encoder/")]
    assert sum(sizes) > 10 * max(sizes)  # 33 MB in all, the largest 2.4 MB (ffn linear_0)
    tracemalloc.start()
    try:
        encoder = build_encoder(tmp_path, device="meta", dtype="float16")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert {(b.device.type, b.dtype) for b in encoder.buffers()} == {("meta", torch.float16)}
    assert peak < 1.5 * max(sizes), (peak, max(sizes), sum(sizes))


def test_bfloat16_model_file(tiny_model: str, tmp_path: Path, windows) -> None:
    """tiny.en with every float variable in bfloat16 (dtype id 5), converted as CTranslate2's
    converter converts (``quantization="bfloat16"``: its own Variable.to): read back in
    float32, bit for bit the bfloat16 values and within bfloat16's rounding of the originals,
    and encoded as CTranslate2 encodes with that file."""
    original = read_all_variables(tiny_model)
    shutil.copytree(tiny_model, tmp_path, dirs_exist_ok=True)  # config, vocabulary
    converted: dict[str, np.ndarray | torch.Tensor] = {}
    for name, value in original.items():
        if value.dtype.kind == "f":
            converted[name] = NumpyVariable(value.copy()).to("bfloat16").tensor
        else:
            converted[name] = value
    write_model_bin(tmp_path / "model.bin", converted,
                    {"decoder/projection/weight": "decoder/embeddings/weight"})  # fmt: skip
    weights = read_encoder_weights(tmp_path)
    assert set(weights) == {n for n in original if n.startswith("encoder/")}
    floats = [n for n in weights if original[n].dtype.kind == "f"]
    assert len(floats) == len(weights) - 1  # all but num_heads
    for name in floats:
        got, exact = weights[name], original[name].astype(np.float32)
        assert got.dtype == np.float32 and got.shape == exact.shape, name
        assert np.array_equal(got, converted[name].float().numpy()), name
        # 8 significant bits: to the nearest is at most half a step, 2^-8 of the value.
        assert np.all(np.abs(got - exact) <= np.abs(exact) * 2**-8), name
    assert not np.array_equal(weights["encoder/conv1/weight"], original["encoder/conv1/weight"])
    # CTranslate2 loads the same file (its weights turned to float32): the encoders agree.
    ct2 = WhisperModel(str(tmp_path), device="cpu", compute_type="float32", cpu_threads=2)
    with torch.inference_mode():
        ours = build_encoder(tmp_path)(torch.from_numpy(windows[:1].copy())).numpy()
    assert np.abs(ours - ct2_encode(ct2, windows[:1])).max() < MAX_ABS


def test_torch_encoder_matches_ctranslate2(tiny_model: str, ct2_float32, windows) -> None:
    encoder = build_encoder(tiny_model, dtype="float32")
    assert (encoder.layers, encoder.heads, encoder.width, encoder.n_mels) == (4, 6, 384, 80)
    expected = ct2_encode(ct2_float32, windows)
    with torch.inference_mode():
        got = encoder(torch.from_numpy(windows.copy())).numpy()
    assert got.shape == expected.shape == (2, 1500, 384)
    diff = np.abs(got - expected)
    assert diff.max() < MAX_ABS and diff.mean() < MEAN_ABS, (diff.max(), diff.mean())
    # One window at a time gives the rows of the batch.
    with torch.inference_mode():
        alone = encoder(torch.from_numpy(windows[1:].copy())).numpy()
    assert np.abs(alone[0] - got[1]).max() < 1e-4


def test_installed_encoder_feeds_ctranslate2(tiny_model: str, windows) -> None:
    """``encode`` replaced on the instance: CTranslate2 takes its output as encoded features
    (generate gives the tokens of CTranslate2's own encoder)."""
    model = WhisperModel(tiny_model, device="cpu", compute_type="float32", cpu_threads=2)
    own = model.encode(windows[0])
    assert install_torch_encoder(model, tiny_model, device="cpu", dtype="float32")
    ours = model.encode(windows[0])  # 2-D, as faster-whisper's sequential path passes it
    assert (ours.shape, ours.device, str(ours.dtype)) == ([1, 1500, 384], "cpu", "DataType.float32")
    assert np.abs(np.array(ours) - np.array(own)).max() < MAX_ABS
    prompt = [["<|startoftranscript|>", "<|notimestamps|>"]]
    tokens = [model.model.generate(x, prompt, beam_size=1)[0].sequences[0] for x in (own, ours)]
    assert tokens[0] == tokens[1] and len(tokens[0]) > 20
    # A batch larger than one chunk of windows: every row is its own window's encoding.
    many = np.concatenate([windows] * (torch_encoder.CHUNK // 2 + 1))
    batch = np.array(model.encode(many))
    assert batch.shape == (len(many), 1500, 384) and len(many) > torch_encoder.CHUNK
    assert np.abs(batch[0::2] - np.array(ours)).max() < 1e-4
    assert np.abs(batch[-1] - np.array(model.encode(windows[1]))[0]).max() < 1e-4


def test_encodes_from_several_threads_run_one_at_a_time(tiny_model: str, windows) -> None:
    """Files in flight encode from their own threads: each gets its own windows' encoding,
    and the encoder runs one call at a time (one call's activations alive, not one per
    file). Seen through torch's forward hooks on the encoder module."""
    model = WhisperModel(tiny_model, device="cpu", compute_type="float32", cpu_threads=2)
    assert install_torch_encoder(model, tiny_model, device="cpu", dtype="float32")
    alone = [np.array(model.encode(windows[i : i + 1])) for i in range(2)]
    inside, most = [0], [0]
    guard = threading.Lock()

    def enter(_module, _args) -> None:
        with guard:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.05)  # long enough for another thread to come in if it may

    def leave(_module, _args, _out) -> None:
        with guard:
            inside[0] -= 1

    hooks = [model.torch_encoder.register_forward_pre_hook(enter),
             model.torch_encoder.register_forward_hook(leave)]  # fmt: skip
    out: list = [None] * 4
    start = threading.Barrier(4)

    def go(i: int) -> None:
        start.wait()
        out[i] = np.array(model.encode(windows[i % 2 : i % 2 + 1]))

    threads = [threading.Thread(target=go, args=(i,)) for i in range(4)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        for hook in hooks:
            hook.remove()
    assert most[0] == 1
    for i, got in enumerate(out):
        assert np.abs(got - alone[i % 2]).max() < 1e-4


@pytest.fixture(scope="module")
def engines(tiny_model: str, tmp_path_factory) -> dict[str, WhisperEngine]:
    """The real engine both ways, the torch one chosen through the setting's env var."""
    mp = pytest.MonkeyPatch()  # module scope: isolated_settings is not in force yet
    for name in [n for n in os.environ if n.startswith("TRANSCRIBER_")]:
        mp.delenv(name)
    mp.setenv("TRANSCRIBER_CONFIG", str(tmp_path_factory.mktemp("config") / "none.toml"))
    mp.setenv("TRANSCRIBER_WHISPER_ENCODER", "torch")
    settings = Settings(model=tiny_model, device="cpu", compute_type="float32", cpu_threads=2)
    mp.undo()
    assert settings.whisper_encoder == "torch"
    torch_engine = WhisperEngine.from_settings(settings)
    ct2_engine = WhisperEngine.from_settings(
        settings.model_copy(update={"whisper_encoder": "auto"})
    )
    return {"torch": torch_engine, "ctranslate2": ct2_engine}


@pytest.mark.parametrize("batch_size", [8, 1], ids=["batched", "sequential"])
def test_transcript_is_the_same_with_either_encoder(
    engines, conversation_audio, batch_size: int
) -> None:
    assert engines["torch"].encoder == "torch"
    assert engines["ctranslate2"].encoder == "ctranslate2"  # auto on a CPU
    batches: list[int] = []
    hook = engines["torch"].model.torch_encoder.register_forward_hook(
        lambda _module, args, _out: batches.append(args[0].shape[0])
    )
    try:
        ours = engines["torch"].transcribe(
            conversation_audio, WhisperOptions(batch_size=batch_size)
        )
    finally:
        hook.remove()
    theirs = engines["ctranslate2"].transcribe(
        conversation_audio, WhisperOptions(batch_size=batch_size)
    )
    assert batches and (max(batches) > 1 if batch_size > 1 else set(batches) == {1})
    assert_same_words(ours, theirs, 0.05)


def test_a_corrupt_model_file_keeps_ctranslate2s_encoder(
    tiny_model: str, tmp_path: Path, windows, caplog: pytest.LogCaptureFixture
) -> None:
    model = WhisperModel(tiny_model, device="cpu", compute_type="float32", cpu_threads=2)
    broken = tmp_path / "model"
    shutil.copytree(tiny_model, broken)
    with open(broken / "model.bin", "r+b") as f:
        f.truncate(1000)  # CTranslate2 loaded the good copy; ours reads this one
    with caplog.at_level(logging.INFO, logger="transcriber_cli.engine.torch_encoder"):
        assert not install_torch_encoder(model, broken, device="cpu", dtype="float32", asked=True)
        # Chosen by "auto" rather than by name: the same fallback, said at info level.
        assert not install_torch_encoder(model, broken, device="cpu", dtype="float32")
    asked, auto = caplog.records
    assert asked.levelno == logging.WARNING and "truncated" in asked.getMessage()
    assert auto.levelno == logging.INFO and "truncated" in auto.getMessage()
    assert "encode" not in vars(model)  # the class's method: CTranslate2's encoder
    assert np.array(model.encode(windows[0])).shape == (1, 1500, 384)


def test_encoder_precision_follows_the_compute_type() -> None:
    assert encoder_dtype("cuda", "float16") == encoder_dtype("cuda", "int8_float16") == "float16"
    assert encoder_dtype("cuda", "bfloat16") == encoder_dtype("cuda", "int8_bfloat16") == "bfloat16"
    assert encoder_dtype("cuda", "float32") == encoder_dtype("cuda", "int8_float32") == "float32"
    assert encoder_dtype("cpu", "float16") == encoder_dtype("cpu", "int8_float32") == "float32"


def test_json_says_which_encoder_ran(make_media, tmp_path: Path) -> None:
    src = make_media("encoder.wav", "-ar", "16000", "-ac", "1")
    proc = run_cli(str(src), "-o", str(tmp_path), "-f", "txt", "--no-diarize", "--json", "-v",
                   env={"TRANSCRIBER_WHISPER_ENCODER": "torch"})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (line,) = json_lines(proc.stdout)
    assert line["runtime"]["encoder"] == "torch"
    assert "Whisper encoder: torch (cpu, float32)" in proc.stderr  # -v


def test_an_encoder_built_meanwhile_is_installed_in_the_dtype_ctranslate2_computes_in(
    tiny_model: str, windows, caplog: pytest.LogCaptureFixture
) -> None:
    """``built`` is the encoder the engine builds while CTranslate2 loads, for the compute
    type asked for; if CTranslate2 settles on another, it is built again; a build that
    failed falls back like any other."""
    model = WhisperModel(tiny_model, device="cpu", compute_type="float32", cpu_threads=2)
    half = build_encoder(tiny_model, dtype="bfloat16")
    assert install_torch_encoder(model, tiny_model, device="cpu", dtype="float32",
                                 built=lambda: half)  # fmt: skip
    assert half.dtype == torch.bfloat16 and model.torch_encoder.dtype == torch.float32
    same = build_encoder(tiny_model)
    assert install_torch_encoder(model, tiny_model, device="cpu", built=lambda: same)
    assert model.torch_encoder is same

    def failed() -> None:
        raise RuntimeError("CUDA error: no kernel image is available")

    plain = WhisperModel(tiny_model, device="cpu", compute_type="float32", cpu_threads=2)
    with caplog.at_level(logging.INFO, logger="transcriber_cli.engine.torch_encoder"):
        assert not install_torch_encoder(plain, tiny_model, device="cpu", built=failed,
                                         asked=True)  # fmt: skip
    assert "no kernel image" in caplog.records[-1].getMessage()
    assert caplog.records[-1].levelno == logging.WARNING
    assert "encode" not in vars(plain)


def test_the_encoder_is_built_during_the_load_or_after_it(
    tiny_model: str, windows, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``encoder_meanwhile`` (the default) builds it on its own thread during CTranslate2's
    load and installs that one; without it (a diarizer loading beside) it is built after the
    load, on the caller's thread, as before. Either way the same encoder."""
    from transcriber_cli.engine import whisper

    built: list[tuple[str, object]] = []
    real = whisper._build_torch_encoder

    def recorded(*args: object) -> object:
        encoder = real(*args)
        built.append((threading.current_thread().name, encoder))
        return encoder

    monkeypatch.setattr(whisper, "_build_torch_encoder", recorded)
    during = WhisperEngine(tiny_model, device="cpu", encoder="torch")
    assert [name for name, _ in built] == ["build-encoder"]
    assert during.encoder == "torch" and during.model.torch_encoder is built[0][1]
    after = WhisperEngine(tiny_model, device="cpu", encoder="torch", encoder_meanwhile=False)
    assert len(built) == 1 and after.encoder == "torch"
    ours, theirs = (np.array(e.model.encode(windows[0])) for e in (during, after))
    assert ours.shape == (1, 1500, 384)
    np.testing.assert_array_equal(ours, theirs)


def test_a_failed_whisper_load_waits_for_the_encoder_build(tiny_model: str, tmp_path: Path):
    """The torch encoder is built on a thread while CTranslate2 loads; when that load fails
    the build is waited for and dropped, not left running with GPU memory nobody frees."""
    broken = tmp_path / "model"
    shutil.copytree(tiny_model, broken)
    (broken / "config.json").write_text("{")  # CTranslate2 fails at once; ours reads model.bin
    with pytest.raises(ModelUnavailable, match="cannot load model"):
        WhisperEngine(str(broken), device="cpu", encoder="torch")
    assert not [t for t in threading.enumerate() if t.name == "build-encoder"]


def test_a_load_that_fails_beside_the_build_is_tried_again_without_it(
    tiny_model: str, windows, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a small GPU the build may take the memory CTranslate2's load needs: that load
    fails once (injected in CTranslate2, as its out-of-memory error), the build is dropped,
    the load runs again and the encoder is built after it, on the caller's thread."""
    built: list[tuple[str, object]] = []
    real_build = torch_encoder.build_on

    def recorded(*args: object, **kwargs: object) -> object:
        encoder = real_build(*args, **kwargs)
        built.append((threading.current_thread().name, encoder))
        return encoder

    loads: list[str] = []
    real_whisper = ctranslate2.models.Whisper

    def out_of_memory_once(*args: object, **kwargs: object) -> object:
        loads.append(threading.current_thread().name)
        if len(loads) == 1:
            raise RuntimeError("CUDA failed with error out of memory")
        return real_whisper(*args, **kwargs)

    monkeypatch.setattr(torch_encoder, "build_on", recorded)
    monkeypatch.setattr(ctranslate2.models, "Whisper", out_of_memory_once)
    engine = WhisperEngine(tiny_model, device="cpu", encoder="torch")
    main = threading.current_thread().name
    assert loads == [main, main]
    assert [name for name, _ in built] == ["build-encoder", main]
    assert engine.encoder == "torch" and engine.model.torch_encoder is built[1][1]
    assert not [t for t in threading.enumerate() if t.name == "build-encoder"]
    assert np.array(engine.model.encode(windows[0])).shape == (1, 1500, 384)
