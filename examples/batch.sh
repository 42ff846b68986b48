#!/usr/bin/env bash
# Transcribe every recording under a folder, nightly or after a crash: finished files are
# skipped, failed or changed ones are redone. Prints a summary from the JSON lines.
#   examples/batch.sh ~/recordings ~/transcripts
set -uo pipefail
src="${1:?usage: batch.sh SOURCE_DIR [OUTPUT_DIR]}"
out="${2:-}"
log="$(mktemp)"
transcribe "$src" ${out:+-o "$out"} --json -f txt,srt,json --exclude '*.tmp' >"$log"
status=$?
python3 - "$log" <<'PY'
import collections, json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
counts = collections.Counter(r["status"] for r in rows)
print(", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "nothing found")
for r in rows:
    if r["status"] == "failed":
        print("FAILED", r["error"])
PY
rm -f "$log"
exit $status   # 0 all good, 1 some inputs failed (see docs/exit-codes.md)
