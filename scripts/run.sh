#!/usr/bin/env bash
# Start the broker and a fleet of simulated devices; Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
TCP=${KITE_TCP:-127.0.0.1:1883}
HTTP=${KITE_HTTP:-127.0.0.1:8080}
DEVICES=${KITE_DEVICES:-12}
pids=()
cleanup() {
  trap - INT TERM EXIT
  # Devices first (their DISCONNECT is clean), then the broker.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -INT "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  echo "Kite stopped."
}
trap cleanup INT TERM EXIT
target/release/kite-server --tcp "$TCP" --http "$HTTP" --dashboard-dir dist &
pids+=($!)
# Wait until the broker accepts connections before starting the devices.
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/${TCP%:*}/${TCP##*:}") 2>/dev/null && break
  sleep 0.1
done
target/release/kite-devices --broker "$TCP" --count "$DEVICES" --ha-share 0.25 &
pids+=($!)
echo
echo "Dashboard: http://$HTTP/"
echo "MQTT:      tcp://$TCP   ws://$HTTP/mqtt"
echo "Press Ctrl-C to stop."
wait -n "${pids[@]}" || true
