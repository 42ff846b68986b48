#!/usr/bin/env bash
# Transcribe every recording under a folder, nightly or after a crash: finished files are
# skipped, failed or changed ones are redone. A file that fails is tried once more at the end
# (one still being copied in, a disk that filled up meanwhile); the --json lines of the first
# pass say which. Prints a summary; exits 0 when everything ended well, 1 when a file still
# failed, and with transcribe's own code (2 usage, 3 set-up, 130 Ctrl-C) when the run could
# not go on (docs/exit-codes.md).
#   examples/batch.sh ~/recordings                       # outputs beside the recordings
#   examples/batch.sh ~/recordings ~/transcripts         # outputs mirrored under ~/transcripts
#   examples/batch.sh ~/recordings ~/transcripts -m small --no-diarize   # more transcribe options
set -uo pipefail
src="${1:?usage: batch.sh SOURCE_DIR [OUTPUT_DIR] [TRANSCRIBE_OPTION...]}"
shift
out=""
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then out="$1"; shift; fi
opts=(${out:+-o "$out"} --json -f txt,srt,json --exclude '*.tmp' "$@")
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

transcribe "$src" "${opts[@]}" >"$tmp/first.jsonl"
status=$?
: >"$tmp/retry.jsonl"
if [ "$status" -eq 1 ]; then # 1: some inputs failed, the others were done
  # One --include per failed file: its path under SRC with glob characters escaped, so the
  # retry redoes exactly those and writes their outputs where the first pass would have.
  # A clash (two inputs writing the same outputs) is not retried: retried alone, the file would
  # overwrite its partner's transcripts. Nor is a file deleted since the first pass.
  again=()
  while IFS= read -r -d '' rel; do again+=("$rel"); done < <(python3 - "$tmp/first.jsonl" "$src" <<'PY'
import glob, json, os, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
for r in rows:
    if r["status"] != "failed" or "would overwrite" in (r.get("error") or ""):
        continue
    if not os.path.lexists(r["path"]):
        continue
    rel = os.path.relpath(r["path"], sys.argv[2]).replace(os.sep, "/")
    sys.stdout.buffer.write(os.fsencode(glob.escape(rel)) + b"\0")  # any name's bytes
PY
  )
  if [ "${#again[@]}" -gt 0 ]; then
    echo "retrying ${#again[@]} failed file(s) once" >&2
    include=()
    for rel in "${again[@]}"; do include+=(--include "$rel"); done
    transcribe "$src" "${opts[@]}" "${include[@]}" >"$tmp/retry.jsonl"
    status=$?
  fi
fi

# The summary: each file's last word (a retried file's second try wins).
python3 - "$tmp/first.jsonl" "$tmp/retry.jsonl" <<'PY'
import collections, json, sys
def rows(name):
    return [json.loads(line) for line in open(name) if line.strip()]
first, retry = rows(sys.argv[1]), rows(sys.argv[2])
final = {r["path"]: r for r in first}
failed = [p for p, r in final.items() if r["status"] == "failed"]
retried = {r["path"] for r in retry}
failed = [p for p in failed if p in retried]
for r in retry:
    if r["path"] in failed:
        final[r["path"]] = r
counts = collections.Counter(r["status"] for r in final.values())
line = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "nothing found"
if failed:
    recovered = sum(final[p]["status"] != "failed" for p in failed)
    line += f" (retried {len(failed)}: {recovered} recovered)"
print(line)
for r in final.values():
    if r["status"] == "failed":
        print("FAILED", r["error"])
PY
exit $status # 0 all good, 1 some inputs failed (see docs/exit-codes.md)
