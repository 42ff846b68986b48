#!/usr/bin/env bash
# An operator's session on AWS: from an empty account to a transcript made by the Spot GPU
# fleet, and back to nothing. docs/runbook.md shows each command with what it printed.
#
#   MONGODB_URL=... ALARM_EMAIL=you@example.com examples/ops-session.sh
#
# Each step below is one function. Name steps to run only those, e.g. stop after the stack
# to look around, then go on:
#   examples/ops-session.sh infra-up secrets
#   examples/ops-session.sh fleet-up transcribe scale-down fleet-down infra-down
#
# Settings (environment): STACK (default demo); AWS_PROFILE / AWS_REGION as for the AWS CLI;
# MONGODB_URL, the job database (step `secrets`: read from this variable into SSM through
# stdin, never put on a command line); HF_TOKEN (optional: pyannote's community-1 speakers on
# the workers); ALARM_EMAIL (optional); INSTANCE_TYPES (default g4dn.xlarge,g5.xlarge);
# MAX_INSTANCES (default 2); AMI (default: the latest GPU Deep Learning AMI, via SSM);
# MEDIA (default examples/conversation.mp4); OUT (default ./ops-out).
#
# A failing step stops the session. Nothing is left running up a bill meanwhile: the fleet
# scales back to zero by itself after 10 idle minutes; `infra-down` removes everything.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
STACK="${STACK:-demo}"
INSTANCE_TYPES="${INSTANCE_TYPES:-g4dn.xlarge,g5.xlarge}"
MAX_INSTANCES="${MAX_INSTANCES:-2}"
MEDIA="${MEDIA:-$here/conversation.mp4}"
OUT="${OUT:-ops-out}"

say() { printf '==> %s\n' "$*" >&2; }

step_infra_up() {
  say "the stack: bucket, queues, worker role, alarms (idempotent: safe to run again)"
  transcriber infra up --stack "$STACK" ${ALARM_EMAIL:+--alarm-email "$ALARM_EMAIL"}
}

step_secrets() {
  say "secrets for the workers, as SSM SecureStrings"
  # printf is a shell builtin: the URL goes through a pipe, never into a process's argv.
  printf '%s\n' "${MONGODB_URL:?set MONGODB_URL to the job database}" |
    transcriber infra secrets set mongodb_url --stack "$STACK"
  if [ -n "${HF_TOKEN:-}" ]; then
    printf '%s\n' "$HF_TOKEN" | transcriber infra secrets set hf_token --stack "$STACK"
  fi
  transcriber infra status --stack "$STACK"
}

step_fleet_up() {
  say "the fleet: ships the version installed here, starts at zero instances"
  # --public-ip: the default VPC has no NAT, so workers reach S3 and SQS over public
  # addresses (leave it out in a VPC with NAT or endpoints).
  transcriber fleet up --stack "$STACK" --instance-types "$INSTANCE_TYPES" \
    --max "$MAX_INSTANCES" --public-ip ${AMI:+--ami "$AMI"}
}

step_transcribe() {
  say "a job: only the audio is uploaded; the queue's alarm starts a worker"
  # `transcriber fleet scale 1` would start one now instead of on the alarm (a minute or two).
  transcribe "$MEDIA" --remote --stack "$STACK" -o "$OUT"
  ls "$OUT"
  transcriber fleet status --stack "$STACK"
}

step_scale_down() {
  say "back to zero instances now (the scale-in alarm would do it after 10 idle minutes)"
  transcriber fleet scale 0 --stack "$STACK"
}

step_fleet_down() {
  say "remove the fleet: Auto Scaling group, launch template, scaling alarms"
  transcriber fleet down --stack "$STACK" --destroy
}

step_infra_down() {
  say "remove the stack (add --keep-data to keep the bucket and its transcripts)"
  transcriber infra down --stack "$STACK" --yes
}

all=(infra-up secrets fleet-up transcribe scale-down fleet-down infra-down)
[ $# -gt 0 ] || set -- "${all[@]}"
for step in "$@"; do
  case " ${all[*]} " in
    *" $step "*) "step_${step//-/_}" ;;
    *) echo "unknown step '$step' (steps: ${all[*]})" >&2; exit 2 ;;
  esac
done
