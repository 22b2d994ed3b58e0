#!/usr/bin/env bash
# The history's cost while 1,000 simulated devices publish at their normal
# rate (a telemetry message a second each, plus events): broker CPU with only
# the devices running, broker RSS, and the broker's max throughput (kite-bench
# fan-in, QoS 0) and CPU per message at 100k msg/s, with `--history true` and
# `--history false`, interleaved over ROUNDS rounds (default 3). Then its disk
# and query cost over a simulated day (examples/history_day.rs; DAY=0 skips it).
# Needs `make bench-setup`. The broker runs on core 0, everything else on core 1.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
D=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$D"' EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
bench() {
  taskset -c 1 target/release/kite-bench traffic --tcp 127.0.0.1:19883 --broker-pid "$B" --publishers 100 --qos 0 --seconds 3 "$@" --json 2>/dev/null |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(round(d["msgs_per_s"]), round(d["broker"]["cpu_us_per_unit"],3), d["problem"])'
}

for round in $(seq 1 "$ROUNDS"); do
  for history in false true; do
    rm -rf "$D/data"
    taskset -c 0 target/release/kite-server --tcp 127.0.0.1:19883 --http 127.0.0.1:19080 --data-dir "$D/data" \
      --sys-interval 0 --dashboard-dir /nonexistent --max-queued-messages 100000 --history "$history" >"$D/broker.log" 2>&1 &
    B=$!
    sleep 1
    taskset -c 1 target/release/kite-devices --broker 127.0.0.1:19883 --count 1000 --interval 1 >"$D/devices.log" 2>&1 &
    DEV=$!
    sleep 10
    # Broker CPU over 10 s with only the devices publishing.
    t0=$(cpu_ticks "$B"); sleep 10; t1=$(cpu_ticks "$B")
    idle_cpu=$(python3 -c "print(round(($t1 - $t0) / $(getconf CLK_TCK) / 10 * 100, 2))")
    max=$(bench)
    paced=$(bench --rate 100000)
    echo "round $round history $history devices_cpu_percent $idle_cpu rss_kib $(rss_kib "$B") max $max paced $paced"
    kill -INT "$DEV"; wait "$DEV" || true
    kill -INT "$B"; wait "$B" || true
  done
done | tee "$D/rounds.txt"

python3 - "$D/rounds.txt" <<'PY'
import statistics, sys
rows = {"false": [], "true": []}
for line in open(sys.argv[1]):
    w = line.split()
    rows[w[3]].append((float(w[5]), int(w[7]), float(w[9]), float(w[14])))
med = {k: [statistics.median(r[i] for r in v) for i in range(4)] for k, v in rows.items()}
off, on = med["false"], med["true"]
print("| | history off | history on | change |")
print("|---|---:|---:|---:|")
print(f"| broker CPU, 1,000 devices at 1 msg/s each, % of a core | {off[0]:.2f} | {on[0]:.2f} | {on[0] - off[0]:+.2f} points |")
print(f"| broker RSS, MiB | {off[1] / 1024:.1f} | {on[1] / 1024:.1f} | {(on[1] - off[1]) / 1024:+.1f} |")
print(f"| max throughput (fan-in QoS 0, devices running), median msg/s | {off[2]:,.0f} | {on[2]:,.0f} | {on[2] / off[2] - 1:+.1%} |")
print(f"| broker CPU per message at 100k msg/s, median µs | {off[3]:.2f} | {on[3]:.2f} | {on[3] / off[3] - 1:+.1%} |")
PY

if [ "${DAY:-1}" != 0 ]; then
  echo
  echo "A simulated day (1,000 devices, a telemetry message a second each, 24 hours; about 15 minutes):"
  target/release/examples/history_day "$D/day" 1000 1 24
fi
