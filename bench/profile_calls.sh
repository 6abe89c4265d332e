#!/usr/bin/env bash
# Per-call cost of dragoman's hot path, in counts that do not drift with a noisy machine:
# instructions per call (valgrind --tool=callgrind) and system calls per call (strace -c), for
# the line door and the HTTP door in front of a real memcached on loopback (docs/benchmarks.md).
#
#   bench/profile_calls.sh [DRAGOMAN [LOADGEN]]   (scripts/build --target dragoman dragoman_loadgen)
#
# Environment: CALLS (20000 line calls under callgrind; strace runs use 5000 at c=1 and 20000 at
# c=16), OUT (a directory for the callgrind files: inspect them with callgrind_annotate).
# Needs valgrind, strace, wrk, memcached (scripts/bench installs all but valgrind and strace).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dragoman=${1:-$root/build/dragoman}
loadgen=${2:-$root/build/dragoman_loadgen}
calls=${CALLS:-20000}
out=${OUT:-$root/bench/work/profile-$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$out"
for tool in valgrind strace wrk memcached callgrind_annotate; do
  command -v "$tool" >/dev/null || { echo "profile_calls: $tool is missing" >&2; exit 2; }
done

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

read -r mc_port line_port http_port < <(python3 -c '
import socket
ss=[socket.socket() for _ in range(3)]
for s in ss: s.bind(("127.0.0.1",0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')
user=()
[ "$(id -u)" -eq 0 ] && user=(-u nobody)
memcached "${user[@]}" -l 127.0.0.1 -p "$mc_port" -U 0 -t 1 >/dev/null 2>&1 &
pids+=($!)
until (exec 3<>"/dev/tcp/127.0.0.1/$mc_port") 2>/dev/null; do sleep 0.05; done
"$loadgen" preload --proto memcached --port "$mc_port" >/dev/null

serve=(serve --profile "$root/profiles/memcached-text.json" --upstream "127.0.0.1:$mc_port"
  --line "127.0.0.1:$line_port" --http "127.0.0.1:$http_port" --threads 1
  --upstream-connections 2 --log-level warn)
wait_line() { for _ in $(seq 600); do (exec 3<>"/dev/tcp/127.0.0.1/$line_port") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
requests_of() { sed -n 's/.*"requests":\([0-9]*\).*/\1/p' "$1"; }

# ---- instructions per call --------------------------------------------------------------------------
# One dragoman under callgrind per load. Start-up and shutdown (about 7.5M instructions) are
# measured by a run with no load and subtracted, so the figure does not depend on how many calls
# a run completed (wrk's count varies with the machine); the raw quotient is printed beside it.
total_of() {
  callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/{gsub(",","",$1); print $1}'
}
for mode in idle line http; do
  valgrind --tool=callgrind --callgrind-out-file="$out/$mode.callgrind" "$dragoman" "${serve[@]}" \
    >"$out/$mode.log" 2>&1 &
  vg=$!
  pids+=($vg)
  wait_line
  if [ "$mode" = line ]; then
    "$loadgen" load --proto line --port "$line_port" --connections 16 --requests "$calls" \
      --duration-s 120 >"$out/$mode.load"
  elif [ "$mode" = http ]; then
    wrk -t1 -c16 -d5s -s "$root/bench/wrk_ops.lua" "http://127.0.0.1:$http_port" 2>&1 |
      grep '^{' >"$out/$mode.load"
  fi
  kill -INT "$vg"
  # Valgrind 3.19 holds a signal for a thread blocked in io_uring_enter until the call returns:
  # connections wake it (the io_uring build) until it has stopped.
  while kill -0 "$vg" 2>/dev/null; do
    (exec 3<>"/dev/tcp/127.0.0.1/$line_port") 2>/dev/null || true
    sleep 0.2
  done
  wait "$vg" || true
  total=$(total_of "$out/$mode.callgrind")
  if [ "$mode" = idle ]; then
    idle=$total
    continue
  fi
  n=$(requests_of "$out/$mode.load")
  printf '%-5s door, c=16: %7d instructions per call, start-up subtracted (%d raw; %s calls)\n' \
    "$mode" $(((total - idle) / n)) $((total / n)) "$n"
done

# ---- system calls per call --------------------------------------------------------------------------
"$dragoman" "${serve[@]}" >"$out/strace-serve.log" 2>&1 &
d=$!
pids+=($d)
wait_line
"$loadgen" load --proto line --port "$line_port" --connections 4 --requests 2000 >/dev/null
for spec in "line 1 5000" "line 16 20000" "http 1 0" "http 16 0"; do
  read -r mode c n <<<"$spec"
  strace -c -f -p "$d" -o "$out/strace-$mode-$c.txt" 2>/dev/null &
  st=$!
  sleep 0.5
  if [ "$mode" = line ]; then
    "$loadgen" load --proto line --port "$line_port" --connections "$c" --requests "$n" \
      --duration-s 60 >/dev/null
  else
    wrk -t1 -c"$c" -d2s -s "$root/bench/wrk_ops.lua" "http://127.0.0.1:$http_port" 2>&1 |
      grep '^{' >"$out/strace-$mode-$c.load"
    n=$(requests_of "$out/strace-$mode-$c.load")
  fi
  sleep 0.2
  kill -INT "$st"
  wait "$st" 2>/dev/null || true
  awk -v n="$n" -v what="$mode door, c=$c" '
    $NF == "total" { total = ($4 ~ /^[0-9]+$/) ? $4 : $3 }
    $NF != "total" && $NF != "syscall" && NF >= 5 { calls = ($4 ~ /^[0-9]+$/) ? $4 : $3; if (calls / n >= 0.05) parts = parts sprintf(" %s %.2f", $NF, calls / n) }
    END { printf "%-16s %5.2f system calls per call:%s\n", what ":", total / n, parts }' \
    "$out/strace-$mode-$c.txt"
done
echo "callgrind files and strace tables: $out"
