#!/usr/bin/env bash
# demo.sh — `make demo`: a controller (embedded MQTT broker + SQLite) under
# ./var/demo, four simulated devices running the real agent with virtual
# outputs, this project's own anti-fraud clips, and one line per proof of
# play as the controller commits it. DEMO_SECONDS=N stops after N seconds
# with a per-device summary; Ctrl-C stops everything cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=./bin
DATA=${DEMO_DATA:-./var/demo}
SECONDS_TO_RUN=${DEMO_SECONDS:-0}

ctl() { "$BIN/guardcast-controller" "$@" --data "$DATA"; }

echo ">> fresh demo data in $DATA (the previous demo's data is removed)"
rm -rf "$DATA"
mkdir -p "$DATA"

pids=()
stopping=0
stop_all() {
	[[ $stopping -eq 1 ]] && return
	stopping=1
	echo
	echo ">> stopping agents, then the controller"
	for ((i = ${#pids[@]} - 1; i >= 1; i--)); do kill -TERM "${pids[$i]}" 2>/dev/null || true; done
	for ((i = ${#pids[@]} - 1; i >= 1; i--)); do wait "${pids[$i]}" 2>/dev/null || true; done
	sleep 1 # let the last receipts and statuses land
	if [[ ${#pids[@]} -gt 0 ]]; then
		kill -TERM "${pids[0]}" 2>/dev/null || true
		wait "${pids[0]}" 2>/dev/null || true
	fi
}
summary() {
	echo
	echo ">> summary (proofs verify re-checks every chain and signature from the database)"
	ctl device list
	echo
	ctl proofs verify
}
trap 'stop_all; summary; exit 0' INT TERM

# The controller and agents run in sessions of their own, so Ctrl-C reaches
# only this script, which stops the agents first (they send their last
# proofs and an offline status) and the controller last.

echo ">> starting the controller (embedded broker, agent media and office HTTP on free loopback ports; log: $DATA/controller.log)"
setsid "$BIN/guardcast-controller" serve --data "$DATA" --mqtt 127.0.0.1:0 --media-http 127.0.0.1:0 --http 127.0.0.1:0 --metrics 127.0.0.1:0 --print-proofs 2>"$DATA/controller.log" &
pids+=($!)
for _ in $(seq 100); do
	[[ -s $DATA/endpoints.json ]] && break
	sleep 0.1
done
[[ -s $DATA/endpoints.json ]] || { echo "controller did not start; see $DATA/controller.log"; cat "$DATA/controller.log"; exit 1; }
sed -n 's/^ *"\(broker_url\|media_url\)": "\(.*\)",\?$/   \1 \2/p' "$DATA/endpoints.json"

echo ">> demo users: an editor who proposes and an approver who approves (nothing reaches a screen on one person's word)"
EDITOR_PW=demo-editor-pass
APPROVER_PW=demo-approver-pass
echo "$EDITOR_PW" | ctl user add demo-editor --role editor --display "Demo editor (town office)" 2>/dev/null
echo "$APPROVER_PW" | ctl user add demo-approver --role approver --role supervisor --display "Demo approver" 2>/dev/null
EDITOR_TOKEN=$(ctl user token add demo-editor --label demo 2>/dev/null)
APPROVER_TOKEN=$(ctl user token add demo-approver --label demo 2>/dev/null)
as_editor() { GUARDCAST_TOKEN=$EDITOR_TOKEN ctl "$@"; }
as_approver() { GUARDCAST_TOKEN=$APPROVER_TOKEN ctl "$@"; }

echo ">> adding this project's sample clips (media/)"
as_editor media add media/hotline-zh.txt media/hotline-en.txt media/poster.png media/warning.mp4 \
	media/atm-voice-zh.wav media/keycard-reminder.tpl

echo ">> enrolling four devices"
ctl device add --id bank-01-door --site "Bank No.1, Main St" --profile virtual-led >/dev/null
ctl device add --id bank-01-hall-tv --site "Bank No.1, Main St" --profile virtual-tv >/dev/null
ctl device add --id bank-01-atm --site "Bank No.1, Main St" --profile virtual-audio >/dev/null
ctl device add --id hotel-01-keycard --site "Riverside Hotel" --profile virtual-printer >/dev/null
ctl device list

echo ">> the editor builds playlists and asks for them on the devices (pending changes)"
as_editor playlist create doorway --output led --item hotline-zh.txt:4 --item hotline-en.txt:4 --item poster.png:3
as_editor playlist create hall --output tv --item warning.mp4 --item poster.png:4
as_editor playlist create atm-voice --output audio --item atm-voice-zh.wav
as_editor playlist create keycard --output printer --item keycard-reminder.tpl:5
as_editor playlist assign doorway --device bank-01-door
as_editor playlist assign hall --device bank-01-hall-tv
as_editor playlist assign atm-voice --device bank-01-atm
as_editor playlist assign keycard --device hotel-01-keycard
echo ">> the approver approves them; only now are they compiled and signed"
as_approver change approve --all

OFFICE=$(sed -n 's/^ *"office_url": "\(.*\)",\?$/\1/p' "$DATA/endpoints.json")
METRICS=$(sed -n 's/^ *"metrics_addr": "\(.*\)",\?$/\1/p' "$DATA/endpoints.json")
echo ">> Prometheus metrics at http://$METRICS/metrics"
echo ">> office API at $OFFICE — demo logins: demo-editor / $EDITOR_PW, demo-approver / $APPROVER_PW"
echo "   e.g. curl -s -c /tmp/gc.cookies -H 'Content-Type: application/json' -d '{\"name\":\"demo-approver\",\"password\":\"$APPROVER_PW\"}' $OFFICE/api/login"
echo "   the CLI as a user: GUARDCAST_TOKEN=\$(bin/guardcast-controller user token add demo-approver --label me --data $DATA) bin/guardcast-controller change list --data $DATA"

echo ">> starting four agents (logs: $DATA/agent-*.log); proofs appear below as the controller commits them"
for id in bank-01-door bank-01-hall-tv bank-01-atm hotel-01-keycard; do
	setsid "$BIN/guardcast-agent" run --config "$DATA/agents/$id.json" --state "$DATA/agent-state/$id" \
		--cache "$DATA/agent-cache/$id" --trigger-addr "" 2>"$DATA/agent-$id.log" &
	pids+=($!)
done

if [[ $SECONDS_TO_RUN -gt 0 ]]; then
	sleep "$SECONDS_TO_RUN" &
	wait $! || true
	stop_all
	summary
else
	echo ">> running until Ctrl-C"
	wait "${pids[0]}" || true
	stop_all
	summary
fi
