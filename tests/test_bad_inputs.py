"""The bad-input corpus, output side: file system faults, odd names, bad flags, Ctrl-C.

Every case runs the real ``transcribe`` on real speech with the bundled tiny.en model, and
checks what a user sees: the exit code, exactly one ``error:`` line naming the file and the
cause, no traceback, no partial outputs or ``.part`` files, and the good file of the batch
transcribed. File system faults are real: a read-only bind mount, a folder without write
permission and a full tmpfs, made in a private mount namespace (``unshare``)."""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BIN, json_lines, run_cli
from tests.remote.conftest import stack  # noqa: F401  (the remote test stack, for jobs fetch)

pytestmark = pytest.mark.slow
FORMATS = ("txt", "json", "srt", "vtt", "tsv")
WORDS = ("morning", "weekly")  # said in the first five seconds of the example


@pytest.fixture(scope="module")
def speech(make_media) -> Path:
    """Five seconds of the example conversation: short, and with known words."""
    return make_media("speech5.wav", "-vn", "-t", "5")


def error_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("error:")]


def assert_transcribed(base: Path) -> None:
    """``base.EXT`` exists for every format and the text holds the words said."""
    for ext in FORMATS:
        assert base.with_name(f"{base.name}.{ext}").is_file(), (base, ext)
    text = base.with_name(f"{base.name}.txt").read_text().lower()
    assert all(w in text for w in WORDS), text


def assert_only_inputs(folder: Path, *names: str) -> None:
    """Nothing but the inputs: no outputs of a failed file, no temp files."""
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)


# --- file system faults: one shared run in a private mount namespace -----------------------

FAULTS = """
set -e
mount --bind "$RO" "$RO" && mount -o remount,bind,ro "$RO"  # EROFS
mount -t tmpfs -o size=8k tmpfs "$FULL"                      # ENOSPC: two pages
ln -s "$SPEECH" "$FULL/speech.wav"                            # the input takes no space there
chmod 0555 "$DENIED"                                          # EACCES, once root's override is gone
exec setpriv --inh-caps=-dac_override,-dac_read_search \
    --bounding-set=-dac_override,-dac_read_search -- "$@"
"""


def _namespaces_work() -> bool:
    probe = ["unshare", "-rm", "sh", "-c", "mount -t tmpfs tmpfs /mnt && setpriv --help"]
    try:
        return subprocess.run(probe, capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory, speech: Path, looped_media) -> Iterator[dict]:
    """One batch run: a good file, a longer one during which two later inputs are deleted
    (one already read ahead, one not), and every output fault."""
    if not _namespaces_work():
        pytest.skip("needs unshare -rm (user and mount namespaces) and setpriv")
    root = tmp_path_factory.mktemp("faults")
    folders = {n: root / n for n in ("ok", "ahead", "ro", "denied", "full", "long", "gone")}
    for name, folder in folders.items():
        folder.mkdir()
        if name != "full":
            shutil.copy(speech, folder / "speech.wav")
    long249 = folders["long"] / ("n" * 245 + ".wav")  # valid, but ".NAME.XXXX.part" is not
    long255 = folders["long"] / ("x" * 251 + ".wav")  # NAME.json would be 256 bytes
    shutil.copy(speech, long249)
    shutil.copy(speech, long255)
    talk = root / "talk.mp4"
    shutil.copy(looped_media(2), talk)  # 66 s: the next input is read ahead meanwhile
    inputs = {
        "ok": folders["ok"] / "speech.wav",
        "talk": talk,
        **{n: folders[n] / "speech.wav" for n in ("ahead", "ro", "denied", "full")},
        "long249": long249,
        "long": long255,
        "gone": folders["gone"] / "speech.wav",
        "arg": root / ("p" * 300 + ".wav"),  # ENAMETOOLONG as an argument
    }
    gone = [inputs["ahead"], inputs["gone"]]
    env = {
        **os.environ,
        "RO": str(folders["ro"]),
        "FULL": str(folders["full"]),
        "DENIED": str(folders["denied"]),
        "SPEECH": str(speech),
    }
    cmd = [str(BIN / "transcribe"), *map(str, inputs.values()), "--json", "--no-diarize"]
    proc = subprocess.Popen(
        ["unshare", "-rm", "sh", "-c", FAULTS, "sh", *cmd],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()  # the good file is done: the batch is under way
    time.sleep(0.5)  # the long file is being transcribed; the next one is read ahead (~0.1 s)
    for path in gone:
        path.unlink()
    rest, stderr = proc.communicate(timeout=300)
    os.chmod(folders["denied"], 0o755)
    results = {r["path"]: r for r in json_lines(first + rest)}
    yield {
        "rc": proc.returncode,
        "stderr": stderr,
        "results": results,
        "folders": folders,
        "inputs": inputs,
    }


FAULT_CASES = {
    "ro": "read-only file system",
    "denied": "permission denied",
    "full": "no space left on device",
    "long": "file name too long",
    "ahead": "no such file",
    "gone": "no such file",
    "arg": "file name too long",
}


def test_faults_fail_one_file_each_and_the_batch_goes_on(faults: dict) -> None:
    assert faults["rc"] == 1, faults["stderr"]
    assert "Traceback" not in faults["stderr"]
    assert len(error_lines(faults["stderr"])) == len(FAULT_CASES), faults["stderr"]
    for done in (faults["inputs"]["ok"], faults["inputs"]["talk"]):
        assert faults["results"][str(done)]["status"] == "done"
        assert_transcribed(done.with_suffix(""))
    # A long name that is valid gets its outputs: the temp names stay within NAME_MAX.
    long249 = faults["inputs"]["long249"]
    assert faults["results"][str(long249)]["status"] == "done"
    assert_transcribed(long249.with_suffix(""))


@pytest.mark.parametrize("case", list(FAULT_CASES))
def test_fault_is_one_line_naming_file_and_cause(faults: dict, case: str) -> None:
    path = faults["inputs"][case]
    cause = FAULT_CASES[case]
    result = faults["results"][str(path)]
    assert result["status"] == "failed"
    assert result["error"].startswith(f"{path}: ") and cause in result["error"].lower(), result
    (line,) = [ln for ln in error_lines(faults["stderr"]) if str(path) in ln]
    assert cause in line.lower()
    # No output of this file, not one format of it, and no temp file.
    left = [p.name for p in path.parent.iterdir() if p != path and p.stem == path.stem]
    assert left == [] and not list(path.parent.glob("*.part")), left


# --- modes and odd names: one shared run ---------------------------------------------------

ODD_NAMES = ["ünï 说话.wav", 'it\'s "quoted".wav', "two  spaces .wav", "nl\nerror: forged.wav"]


@pytest.fixture(scope="module")
def odd(tmp_path_factory: pytest.TempPathFactory, speech: Path) -> dict:
    folder = tmp_path_factory.mktemp("odd")
    for name in [*ODD_NAMES, "-x.wav", "-y.wav"]:
        shutil.copy(speech, folder / name)
    # An output that exists keeps its mode when replaced; new ones follow the umask.
    kept = folder / "-x.txt"
    kept.write_text("old\n")
    kept.chmod(0o664)
    old_umask = os.umask(0o022)
    try:
        named = run_cli(*(str(folder / n) for n in ODD_NAMES), "./-x.wav", "--json",
                        "--no-diarize", cwd=folder)  # fmt: skip
        dashed = run_cli("--no-diarize", "--json", "--", "-y.wav", cwd=folder)
    finally:
        os.umask(old_umask)
    return {"folder": folder, "named": named, "dashed": dashed}


@pytest.mark.parametrize("name", [*ODD_NAMES, "-x.wav", "-y.wav"])
def test_odd_names_transcribe_beside_the_input(odd: dict, name: str) -> None:
    proc = odd["dashed"] if name == "-y.wav" else odd["named"]
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and not error_lines(proc.stderr)
    assert_transcribed(odd["folder"] / Path(name).stem)
    assert not list(odd["folder"].glob(".*.part"))


def test_new_outputs_follow_the_umask_and_replaced_ones_keep_their_mode(odd: dict) -> None:
    folder = odd["folder"]
    assert stat.S_IMODE((folder / "-x.txt").stat().st_mode) == 0o664
    assert "old" not in (folder / "-x.txt").read_text()
    for ext in FORMATS[1:]:
        assert stat.S_IMODE((folder / f"-x.{ext}").stat().st_mode) == 0o644


def test_a_newline_in_a_name_cannot_forge_an_error_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad\nerror: forged.wav"
    bad.write_bytes(b"not audio at all")
    proc = run_cli(str(bad), "--no-diarize")
    assert proc.returncode == 1
    (line,) = error_lines(proc.stderr)
    assert "bad\\nerror: forged.wav: not a" in line and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1
    assert_only_inputs(tmp_path, bad.name)


def test_a_recording_named_like_an_output_is_never_overwritten(
    tmp_path: Path, speech: Path
) -> None:
    """``audio.txt`` holding a recording (named, or found in a folder with no sibling of its
    stem) was transcribed into its own .txt: the recording was gone, and the run said done."""
    named, folder = tmp_path / "named", tmp_path / "folder"
    named.mkdir(), folder.mkdir()
    shutil.copy(speech, named / "audio.txt")
    shutil.copy(speech, folder / "voice memo.srt")
    shutil.copy(speech, folder / "talk.wav")
    proc = run_cli(str(named / "audio.txt"), str(folder), "--no-diarize")
    assert proc.returncode == 1, proc.stderr
    lines = error_lines(proc.stderr)
    assert len(lines) == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert f"{named / 'audio.txt'}: its .txt output would overwrite it" in lines[0]
    assert f"{folder / 'voice memo.srt'}: its .srt output would overwrite it" in lines[1]
    original = speech.read_bytes()
    assert (named / "audio.txt").read_bytes() == original
    assert (folder / "voice memo.srt").read_bytes() == original
    assert_only_inputs(named, "audio.txt")
    assert_transcribed(folder / "talk")  # the rest of the batch ran


def test_other_files_of_a_folder_that_share_a_name_are_ignored_not_failed(
    tmp_path: Path, speech: Path
) -> None:
    """``slides.pdf`` and ``slides.pptx`` beside a recording failed the folder (exit 1: "outputs
    would overwrite those of slides.pdf") before the probe could find them not media; so did
    the transcripts of a first run with ``-o`` inside the folder, on the second run."""
    folder = tmp_path / "rec"
    folder.mkdir()
    shutil.copy(speech, folder / "talk.wav")
    for name, text in (("slides.pdf", "%PDF-1.4"), ("slides.pptx", "PK"), ("notes.txt", "x")):
        (folder / name).write_text(text)
    beside = run_cli(str(folder), "--no-diarize", "-f", "txt,srt")
    assert beside.returncode == 0 and not error_lines(beside.stderr), beside.stderr
    assert (folder / "notes.txt").read_text() == "x"
    inside = folder / "transcripts"
    for _ in range(2):  # the second run finds the first one's transcripts in the folder
        again = run_cli(str(folder), "--no-diarize", "-o", str(inside))
        assert again.returncode == 0 and not error_lines(again.stderr), again.stderr
    assert_transcribed(inside / "talk")
    # A recording whose extension is not one named like media still keeps its outputs
    # from another of the same name: the second clashes, as before.
    shutil.copy(speech, folder / "call.mka")
    shutil.copy(speech, folder / "call.mp3")
    both = run_cli(str(folder), "--no-diarize", "-f", "txt,srt")
    assert both.returncode == 1, both.stderr
    assert error_lines(both.stderr) == [
        f"error: {folder / 'call.mp3'}: outputs would overwrite those of {folder / 'call.mka'}; "
        "rename one or use -o"
    ], both.stderr


# Root reads and writes anything: without these capabilities it meets permissions as a user.
_DROP = ["--inh-caps=-dac_override,-dac_read_search",
         "--bounding-set=-dac_override,-dac_read_search"]  # fmt: skip
AS_USER = ["setpriv", *_DROP] if os.geteuid() == 0 else []


@pytest.mark.parametrize(
    ("case", "said"),
    [("a file", "cannot use the state folder"), ("read-only", "state folder"),
     ("not a database", "cannot use the run manifest")],
)  # fmt: skip
def test_a_state_folder_or_manifest_that_cannot_be_used_is_one_line(
    tmp_path: Path, speech: Path, case: str, said: str
) -> None:
    """``TRANSCRIBER_STATE_DIR`` naming a file or a read-only folder, or a manifest that is
    not a database, was a traceback (exit 1): the set-up's one line and exit code now, and
    no outputs."""
    shutil.copy(speech, tmp_path / "speech.wav")
    state = tmp_path / "state"
    if case == "a file":
        state.write_text("x")
    elif case == "read-only":
        state.mkdir(mode=0o555)
    else:
        state.mkdir()
        (state / "manifest.sqlite3").write_bytes(b"not a database, " * 512)
    proc = subprocess.run(
        [*AS_USER, str(BIN / "transcribe"), str(tmp_path / "speech.wav"), "--no-diarize"],
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
        env={**os.environ, "TRANSCRIBER_STATE_DIR": str(state)},
    )  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    (line,) = error_lines(proc.stderr)
    assert "Traceback" not in proc.stderr and said in line, proc.stderr
    assert "move it aside" not in line or case == "not a database"
    assert_only_inputs(tmp_path, "speech.wav", "state")


def test_two_inputs_whose_outputs_meet_through_a_link_clash(tmp_path: Path, speech: Path) -> None:
    """``d/a.wav`` and ``link/a.m4a`` (``link`` -> ``d``) write the same ``d/a.*``: the clash
    was missed (the second skipped as "outputs exist", the first's transcript kept for it)."""
    (tmp_path / "d").mkdir()
    shutil.copy(speech, tmp_path / "d" / "a.wav")
    shutil.copy(speech, tmp_path / "d" / "a.m4a")
    (tmp_path / "link").symlink_to(tmp_path / "d")
    proc = run_cli(str(tmp_path / "d" / "a.wav"), str(tmp_path / "link" / "a.m4a"),
                   "--no-diarize")  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    (line,) = error_lines(proc.stderr)
    assert f"{tmp_path / 'link' / 'a.m4a'}: outputs would overwrite those of" in line
    assert_transcribed(tmp_path / "d" / "a")


def test_an_empty_path_is_refused_not_taken_for_the_current_folder(
    tmp_path: Path, speech: Path
) -> None:
    """``transcribe "$UNSET"`` from a folder transcribed every recording below it."""
    shutil.copy(speech, tmp_path / "speech.wav")
    proc = run_cli("", "--no-diarize", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    (line,) = error_lines(proc.stderr)
    assert "an empty PATH" in line and "Traceback" not in proc.stderr
    assert_only_inputs(tmp_path, "speech.wav")


def test_unreadable_inputs_fail_one_line_each_and_the_batch_goes_on(
    tmp_path: Path, speech: Path
) -> None:
    """A named file without read permission ended the whole batch with click's usage text
    (exit 2); a folder without it, below a named one, was passed over without a word."""
    shutil.copy(speech, tmp_path / "locked.wav")
    folder = tmp_path / "rec"
    (folder / "locked").mkdir(parents=True)
    shutil.copy(speech, folder / "locked" / "b.wav")
    shutil.copy(speech, folder / "ok.wav")
    (tmp_path / "locked.wav").chmod(0)
    (folder / "locked").chmod(0)
    try:
        proc = subprocess.run(
            [*AS_USER, str(BIN / "transcribe"), str(tmp_path / "locked.wav"), str(folder),
             "--no-diarize"],
            capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    finally:
        (folder / "locked").chmod(0o755)
    assert proc.returncode == 1, proc.stderr
    assert error_lines(proc.stderr) == [
        f"error: {tmp_path / 'locked.wav'}: permission denied",
        f"error: {folder / 'locked'}: permission denied",
    ], proc.stderr
    assert_transcribed(folder / "ok")
    assert_only_inputs(folder / "locked", "b.wav")
    # Excluded (``lost+found`` at a volume's root), it is not a failure; and it writes no
    # outputs, so it clashes with no recording of its name in another folder.
    (folder / "locked").chmod(0)
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(speech, other / "locked.wav")
    try:
        excluded = subprocess.run(
            [*AS_USER, str(BIN / "transcribe"), str(folder), "--exclude", "locked",
             "--no-diarize", "--overwrite"],
            capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        beside = subprocess.run(
            [*AS_USER, str(BIN / "transcribe"), str(folder), str(other), "-o",
             str(tmp_path / "out"), "--no-diarize"],
            capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    finally:
        (folder / "locked").chmod(0o755)
    assert excluded.returncode == 0 and not error_lines(excluded.stderr), excluded.stderr
    assert beside.returncode == 1, beside.stderr
    assert error_lines(beside.stderr) == [f"error: {folder / 'locked'}: permission denied"]
    assert_transcribed(tmp_path / "out" / "locked")


# --- bad flags ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "code", "cause"),
    [
        (["-f", "nope"], 2, "unknown format nope"),
        (["--device", "tpu"], 2, "invalid setting device"),
        (["-m", "no-such-model", "--offline"], 3, "model 'no-such-model'"),
    ],
    ids=["format", "device", "model"],
)
def test_unknown_format_device_model(
    tmp_path: Path, speech: Path, flags: list[str], code: int, cause: str
) -> None:
    src = tmp_path / "speech.wav"
    shutil.copy(speech, src)
    proc = run_cli(str(src), *flags, "--no-diarize")
    assert proc.returncode == code, proc.stderr
    (line,) = error_lines(proc.stderr)
    assert cause in line and "Traceback" not in proc.stderr
    assert_only_inputs(tmp_path, "speech.wav")


def test_batch_size_zero_means_auto(tmp_path: Path, speech: Path) -> None:
    src = tmp_path / "speech.wav"
    shutil.copy(speech, src)
    proc = run_cli(str(src), "--batch-size", "0", "--no-diarize", "--json")
    assert proc.returncode == 0, proc.stderr
    (line,) = json_lines(proc.stdout)
    assert line["status"] == "done" and line["runtime"]["batch_size"] >= 1
    assert_transcribed(tmp_path / "speech")


# --- Ctrl-C ---------------------------------------------------------------------------------


def test_ctrl_c_stops_a_folder_batch_at_once(tmp_path: Path, looped_media) -> None:
    """SIGINT mid-batch: exit 130 within seconds; each file has all its outputs or none."""
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(4):
        shutil.copy(looped_media(2), folder / f"talk{i}.mp4")  # 66 s each
    proc = subprocess.Popen(
        [str(BIN / "transcribe"), str(folder), "--json", "--no-diarize"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    assert json_lines(proc.stdout.readline())[0]["status"] == "done"  # mid-batch now
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    took = time.monotonic() - sent
    assert proc.returncode == 130, stderr
    assert took < 3, took
    assert error_lines(stderr) == ["error: interrupted"] and "Traceback" not in stderr
    assert not list(folder.glob(".*"))  # no temp files
    for i in range(4):
        made = sorted(p.suffix for p in folder.glob(f"talk{i}.*") if p.suffix != ".mp4")
        assert made in ([], sorted(f".{e}" for e in FORMATS)), (i, made)
    assert (folder / "talk0.txt").exists() and not (folder / "talk3.txt").exists()


def test_ctrl_c_inside_a_long_model_call(tmp_path: Path, looped_media) -> None:
    """Ten minutes in one batched call (20 windows, batch 64): SIGINT lands while
    CTranslate2 computes, and the process still ends at once, leaving nothing behind. Before
    the work ran on its own thread, the signal waited for the call to return (seconds)."""
    media = tmp_path / "long.mp4"
    shutil.copy(looped_media(18), media)
    proc = subprocess.Popen(
        [str(BIN / "transcribe"), str(media), "--json", "--no-diarize", "--no-vad",
         "--batch-size", "64", "-v"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    for line in proc.stderr:  # faster-whisper says when the batched call starts
        if "Processing audio with duration" in line:
            break
    time.sleep(2.5)  # well inside the call: 20 windows take tens of seconds here
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=120)
    took = time.monotonic() - sent
    assert proc.returncode == 130, rest
    assert took < 4, took  # not the rest of the call (tens of seconds); a busy machine
    assert error_lines(rest) == ["error: interrupted"] and "Traceback" not in rest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.mp4"]


@pytest.mark.parametrize(
    ("signum", "code"),
    [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)],
    ids=["ctrl-c", "sigterm", "sighup"],
)
def test_ctrl_c_during_a_decode_leaves_no_temporary_folder(
    tmp_path: Path, looped_media, signum: int, code: int
) -> None:
    """SIGINT while ffmpeg decodes an hour: the process ends at once without its cleanup
    blocks, so the decode's temporary folder must be removed before it ends. SIGTERM
    (timeout, kill, docker stop) ended it without any: ffmpeg went on writing 408 MB."""
    scratch_dir = tmp_path / "tmp"
    scratch_dir.mkdir()
    media = tmp_path / "hour.mp4"
    shutil.copy(looped_media(110), media)
    proc = subprocess.Popen(
        [str(BIN / "transcribe"), str(media), "--json", "--no-diarize"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        env={**os.environ, "TMPDIR": str(scratch_dir)},
        # As from a terminal: a suite run under nohup passes its ignored SIGHUP on.
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL),
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not list(scratch_dir.glob("transcriber-decode-*")):  # the decode has begun
        assert time.monotonic() < deadline and proc.poll() is None, proc.stderr
        time.sleep(0.02)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    assert list(scratch_dir.iterdir()) == []
    # and no ffmpeg goes on decoding the hour into the removed folder, orphaned
    assert _processes_naming(scratch_dir) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hour.mp4", "tmp"]


def _probing(broken: Path, proc: subprocess.Popen) -> None:
    """Until ``transcribe`` runs ffprobe on ``broken`` (86 s a GiB: it is still running)."""
    deadline = time.monotonic() + 60
    while not any("ffprobe" in c for c in _processes_naming(broken)):
        assert time.monotonic() < deadline and proc.poll() is None, proc.stderr
        time.sleep(0.02)


def test_a_signal_during_a_long_probe_leaves_no_ffprobe_running(tmp_path: Path) -> None:
    """SIGTERM while ffprobe searched a broken GiB: the process ended at once, and the
    ffprobe it started went on alone for the rest of its 86 s (its time limit is kept by
    the process that ended). Killed by that cleanup, the probe said nothing of the file:
    no "failed" result, no second error line."""
    from tests.helpers import wav_without_data

    broken = wav_without_data(tmp_path / "broken.wav")
    proc = subprocess.Popen(
        [str(BIN / "transcribe"), str(broken), "--no-diarize", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    _probing(broken, proc)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr
    assert _processes_naming(broken) == []
    assert error_lines(stderr) == ["error: terminated (SIGTERM)"], stderr
    assert stdout == "", stdout


def test_the_terminal_closing_during_a_run_ends_it_as_sighup(tmp_path: Path) -> None:
    """The terminal going away (its SIGHUP, then every write to it failing): the cleanup's
    first write raised EIO, so the process never reached its exit and the interpreter shut
    down beside the work's thread (a crash, -11, or ffprobe left running)."""
    import pty

    from tests.helpers import wav_without_data

    broken = wav_without_data(tmp_path / "broken.wav")
    pid, terminal = pty.fork()
    if pid == 0:  # the child: transcribe on the pseudo-terminal, SIGHUP at its default
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        os.execv(str(BIN / "transcribe"), ["transcribe", str(broken), "--no-diarize"])
    try:
        deadline = time.monotonic() + 60
        while not any("ffprobe" in c for c in _processes_naming(broken)):
            assert time.monotonic() < deadline
            ready, _, _ = select.select([terminal], [], [], 0.02)
            if ready:  # keep the terminal's buffer drained
                with contextlib.suppress(OSError):
                    os.read(terminal, 65536)
    finally:
        os.close(terminal)  # the terminal goes: the kernel sends SIGHUP
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 129
    assert _processes_naming(broken) == []


def test_a_run_under_nohup_goes_on_when_the_terminal_closes(tmp_path: Path, speech: Path) -> None:
    """``nohup transcribe ...`` ignores SIGHUP: the run must not take it over and end."""
    src = tmp_path / "speech.wav"
    shutil.copy(speech, src)
    proc = subprocess.Popen(
        [str(BIN / "transcribe"), str(src), "--no-diarize"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN),  # as nohup does
    )  # fmt: skip
    time.sleep(1.0)  # inside the run: the work on its thread, the main thread waiting
    proc.send_signal(signal.SIGHUP)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert_transcribed(tmp_path / "speech")


def _processes_naming(folder: Path) -> list[str]:
    """The command lines of running processes that name ``folder`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(folder) in cmdline:
            found.append(cmdline)
    return found


# --- jobs fetch: the task document's source name never steers where files go ---------------

HOSTILE_SOURCES = {
    ".": None,
    "/": None,
    "..": None,
    "../../up.mp4": "up",
    "a/../../b.mp4": "b",
    "C:\\Users\\x\\win.mp4": "win",
    "nul\0.mp4": "nul",
    "\0": None,
    "é" * 200 + ".mp4": "é" * 125,  # 250 bytes: "NAME.json" fits in 255
}


@pytest.fixture
def completed_job(request: pytest.FixtureRequest):
    """``completed_job(source_name)`` -> the id of a completed job in the test stack whose
    txt and json exports are in its bucket, as a worker leaves them."""
    request.getfixturevalue("stack")  # moto + the Mongo wire server, settings in the env
    import uuid

    from tests.remote.test_e2e import job_store
    from transcriber_cli.aws.s3 import Storage
    from transcriber_cli.config import load_settings
    from transcriber_cli.jobs.options import JobOptions
    from transcriber_cli.jobs.results import ResultSummary
    from transcriber_cli.store.documents import Audio, Checkpoint, JobDocument, Source
    from transcriber_cli.store.mongo import now

    store = job_store()
    storage = Storage.from_settings(load_settings())

    def make(name: str) -> str:
        job_id, sha, stamp = uuid.uuid4().hex, "ab" * 32, now()
        store.create(
            JobDocument(_id=job_id, options=JobOptions(), options_key="k", formats=["txt", "json"],
                        source=Source(name=name, sha256=sha, duration=5.0),
                        audio=Audio(sha256=sha, bytes=10), created=stamp, updated=stamp)
        )  # fmt: skip
        # Named as a worker names them: after the source's stem ("transcript" if none).
        stem = Source(name=name, sha256=sha, duration=5.0).stem or "transcript"
        keys = [f"output/{job_id}/{stem}.{ext}" for ext in ("txt", "json")]
        storage.put_text(keys[0], "good morning everyone\n")
        storage.put_text(keys[1], '{"text": "good morning everyone"}\n')
        store.claim(job_id, "w1", lease_seconds=30)
        store.complete(job_id, "w1", outputs=keys, result=ResultSummary(duration=5.0),
                       seconds=1, checkpoint=Checkpoint(seconds=5, windows=1))  # fmt: skip
        return job_id

    yield make
    store.close()


@pytest.mark.parametrize("source", list(HOSTILE_SOURCES), ids=lambda s: ascii(s)[:20])
def test_jobs_fetch_writes_inside_the_output_folder(
    tmp_path: Path, completed_job, source: str
) -> None:
    job_id = completed_job(source)
    out = tmp_path / "a" / "b" / "out"
    proc = run_cli("jobs", "fetch", job_id, "-o", str(out), "--json", program="transcriber")
    assert proc.returncode == 0, proc.stderr
    stem = HOSTILE_SOURCES[source] or job_id
    (line,) = json_lines(proc.stdout)
    assert sorted(line["outputs"]) == sorted(str(out / f"{stem}.{e}") for e in ("json", "txt"))
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{stem}.{e}" for e in ("json", "txt"))
    assert "good morning" in (out / f"{stem}.txt").read_text()
    # Nothing anywhere else: every file under tmp_path is one of the two.
    assert sorted(p for p in tmp_path.rglob("*") if p.is_file()) == sorted(out.iterdir())


def test_jobs_fetch_to_an_unwritable_folder_is_one_line(tmp_path: Path, completed_job) -> None:
    job_id = completed_job("talk.mp4")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder\n")
    proc = run_cli("jobs", "fetch", job_id, "-o", str(blocker / "out"), program="transcriber")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    (line,) = error_lines(proc.stderr)
    assert f"job {job_id}: cannot write its outputs in {blocker / 'out'}: not a directory" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_outputs_that_cannot_be_written_fail_before_any_work(tmp_path: Path, speech: Path) -> None:
    """An output name over NAME_MAX is refused before the model is even needed: the model
    named here does not exist, and a run that got that far would stop on it (exit 3)."""
    src = tmp_path / ("x" * 251 + ".wav")  # a valid name; NAME.json is 256 bytes
    shutil.copy(speech, src)
    proc = run_cli(str(src), "-m", str(tmp_path / "no-model"), "--no-diarize")
    assert proc.returncode == 1, proc.stderr
    (line,) = error_lines(proc.stderr)
    assert line == f"error: {src}: cannot write its outputs in {tmp_path}: file name too long"
    assert_only_inputs(tmp_path, src.name)


def test_a_set_whose_publishing_fails_midway_is_taken_back(tmp_path: Path) -> None:
    """The first file is renamed into place, the second cannot be (a folder holds its
    name): the first is removed again and no temp file is left."""
    from transcriber_cli.fsutil import write_files_atomically

    (tmp_path / "talk.json").mkdir()
    files = [(tmp_path / "talk.txt", b"first\n"), (tmp_path / "talk.json", b"{}\n")]
    with pytest.raises(IsADirectoryError):
        write_files_atomically(files)
    assert [p.name for p in tmp_path.iterdir()] == ["talk.json"]
    assert list((tmp_path / "talk.json").iterdir()) == []


SCRATCH_RACE = """
import sys, tempfile, threading, time
from pathlib import Path
from transcriber_cli import scratch

made, go = threading.Event(), threading.Event()
box = {}

def work():  # the transcription's thread, between making its folder and listing it
    with scratch.creating():
        box["tmp"] = Path(tempfile.mkdtemp(prefix="transcriber-decode-"))
        made.set()
        go.wait(10)
        scratch.track(box["tmp"])

worker = threading.Thread(target=work)
worker.start()
made.wait(10)
ending = threading.Thread(target=scratch.discard)  # Ctrl-C on the main thread meanwhile
ending.start()
time.sleep(0.3)
waited = ending.is_alive()
go.set()
ending.join(10)
worker.join(10)
try:
    with scratch.creating():
        late = "made"
except scratch.Ending:
    late = "refused"
print(waited, box["tmp"].exists(), late)
"""


def test_a_temporary_folder_made_as_ctrl_c_comes_is_still_removed(tmp_path: Path) -> None:
    """The race behind a folder left by Ctrl-C: the main thread's cleanup ran after the work's
    thread made its folder and before it listed it. Now the cleanup waits for the listing,
    and nothing new is made after it."""
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", SCRATCH_RACE], env=env, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "False", "refused"]
    assert list(tmp_path.iterdir()) == []
