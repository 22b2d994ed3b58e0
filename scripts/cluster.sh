#!/usr/bin/env bash
# `make cluster`: three NATS servers (one JetStream cluster, replicas 3) and
# three Kite nodes on loopback, the dashboard on each, devices spread across
# the nodes. Prints every URL; Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
NATS=.venv/bin/nats-server
[[ -x $NATS ]] || { echo "no $NATS: run make setup" >&2; exit 1; }
DIR=${KITE_CLUSTER_DIR:-target/cluster}
DEVICES=${KITE_DEVICES:-6}
mkdir -p "$DIR"
pids=()
cleanup() {
  trap - INT TERM EXIT
  # Devices, then Kite nodes, then NATS: each goes while what it needs is up.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -INT "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  echo "Kite cluster stopped."
}
trap cleanup INT TERM EXIT

wait_port() { # host:port
  for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on $1" >&2
  return 1
}

routes="nats://127.0.0.1:6222,nats://127.0.0.1:6223,nats://127.0.0.1:6224"
for i in 1 2 3; do
  cat >"$DIR/nats-$i.conf" <<CONF
server_name: n$i
listen: 127.0.0.1:$((4221 + i))
http: 127.0.0.1:$((8221 + i))
max_payload: 8MB
jetstream { store_dir: "$DIR/nats-$i" }
cluster {
  name: kite
  listen: 127.0.0.1:$((6221 + i))
  routes: [${routes//,/, }]
}
CONF
  "$NATS" -c "$DIR/nats-$i.conf" >"$DIR/nats-$i.log" 2>&1 &
  pids+=($!)
done
for i in 1 2 3; do wait_port "127.0.0.1:$((4221 + i))"; done
# JetStream is ready once the three servers elected a meta leader.
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:8222/healthz?js-enabled-only=true" >/dev/null && break
  sleep 0.2
done

cluster="nats://127.0.0.1:4222,nats://127.0.0.1:4223,nats://127.0.0.1:4224"
for i in 1 2 3; do
  target/release/kite-server --cluster "$cluster" --node-id "kite-$i" \
    --tcp "127.0.0.1:$((1882 + i))" --http "127.0.0.1:$((8079 + i))" \
    --data-dir "$DIR/kite-$i" --dashboard-dir dist >"$DIR/kite-$i.log" 2>&1 &
  pids+=($!)
done
for i in 1 2 3; do wait_port "127.0.0.1:$((1882 + i))"; done
# Devices spread over the nodes, each group with its own ids.
per=$(((DEVICES + 2) / 3))
for i in 1 2 3; do
  target/release/kite-devices --broker "127.0.0.1:$((1882 + i))" --count "$per" \
    --prefix "sim$i" --seed "$i" --ha-share 0 >"$DIR/devices-$i.log" 2>&1 &
  pids+=($!)
done

echo
for i in 1 2 3; do
  echo "Node kite-$i: dashboard http://127.0.0.1:$((8079 + i))/   MQTT tcp://127.0.0.1:$((1882 + i))   ws://127.0.0.1:$((8079 + i))/mqtt   metrics http://127.0.0.1:$((8079 + i))/metrics"
done
for i in 1 2 3; do
  echo "NATS n$i:     nats://127.0.0.1:$((4221 + i))   monitoring http://127.0.0.1:$((8221 + i))/   cluster route 127.0.0.1:$((6221 + i))"
done
echo "Logs and data: $DIR/"
echo "Press Ctrl-C to stop."
wait -n "${pids[@]}" || true
