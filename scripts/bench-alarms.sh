#!/usr/bin/env bash
# The alarm engine's cost: broker throughput (kite-bench fan-in QoS 0, as fast as
# possible) and broker CPU per message at 100k msg/s, with 1,000 devices publishing,
# with 0 and with 100 alarm rules, interleaved over 5 rounds. Needs `make bench-setup`.
# The broker runs on core 0 and everything else on core 1, so that where the
# scheduler happens to put threads does not swamp a difference of a few percent;
# each measurement starts 5 s after the rules change, past the burst of raises
# (or clears) that a rule change causes, so it sees the steady state.
set -euo pipefail
cd "$(dirname "$0")/.."
D=$(mktemp -d)
taskset -c 0 target/release/kite-server --tcp 127.0.0.1:19883 --http 127.0.0.1:19080 --data-dir "$D" --sys-interval 0 --dashboard-dir /nonexistent --max-queued-messages 100000 >"$D/broker.log" 2>&1 &
B=$!
sleep 1
taskset -c 1 target/release/kite-devices --broker 127.0.0.1:19883 --count 1000 --interval 1 >"$D/devices.log" 2>&1 &
DEV=$!
sleep 5
set_rules() {
  for i in $(seq 1 100); do
    case $((i % 3)) in
      0) m=battery; c='<'; t=$((10 + i % 30));;
      1) m=temperature; c='>'; t=$((20 + i % 10));;
      2) m=signal; c='<'; t=$((-95 + i % 30));;
    esac
    if [ "$1" = on ]; then
      mosquitto_pub -p 19883 -r -q 1 -t "\$kite/alarms/rules/r$i" -m "{\"device\":\"sim-*\",\"measurement\":\"$m\",\"condition\":\"$c\",\"threshold\":$t,\"hysteresis\":2}"
    else
      mosquitto_pub -p 19883 -r -q 1 -t "\$kite/alarms/rules/r$i" -n
    fi
  done
}
bench() {
  taskset -c 1 target/release/kite-bench traffic --tcp 127.0.0.1:19883 --broker-pid $B --publishers 100 --qos 0 --seconds 3 "$@" --json 2>/dev/null | python3 -c 'import json,sys; d=json.load(sys.stdin); print(round(d["msgs_per_s"]), round(d["broker"]["cpu_us_per_unit"],3), d["problem"])'
}
for round in 1 2 3 4 5; do
  set_rules off; sleep 5; echo "round $round, 0 rules, max: $(bench) ; 100k/s: $(bench --rate 100000)"
  set_rules on; sleep 5; echo "round $round, 100 rules, max: $(bench) ; 100k/s: $(bench --rate 100000)"
done | tee "$D/rounds.txt"
events=$(timeout 10 mosquitto_sub -p 19883 -t '$kite/alarms/events' | wc -l || true)
python3 - "$D/rounds.txt" "$events" <<'PY'
import statistics, sys
rows = {"0": [], "100": []}
for line in open(sys.argv[1]):
    words = line.replace(",", "").split()
    rows[words[2]].append((float(words[5]), float(words[11])))
med = {k: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v)) for k, v in rows.items()}
print(f"median max throughput: {med['0'][0]:,.0f} -> {med['100'][0]:,.0f} msg/s ({med['100'][0] / med['0'][0] - 1:+.1%})")
print(f"median broker CPU per message at 100k msg/s: {med['0'][1]:.2f} -> {med['100'][1]:.2f} us ({med['100'][1] / med['0'][1] - 1:+.1%})")
print(f"alarm events with 100 rules: {int(sys.argv[2]) / 10:,.0f} per second")
PY

kill -INT $DEV; wait $DEV || true
kill -INT $B; wait $B || true
rm -rf "$D"
