#!/usr/bin/env bash
# test_thread_cpu.sh SCRIPT — thread_cpu divides each kind of thread's CPU in
# the window by the commands: threads grouped by name, new ones from zero,
# gone ones left out, the total and the rate the cores would carry.
set -euo pipefail
script=$1
source "$(dirname "$0")/lib.sh"

cat >"$dir/before" <<'S'
qianbaod 100 0.50
qb-ledger 101 10.00
qb-syncer 102 1.00
qb-http-0 103 4.00
qb-http-1 104 4.50
qb-verify 105 2.00
S
# 100,000 commands later: the writer used 1.8 s, the HTTP threads 0.8 and
# 0.8, the syncer 0.2; the verify thread ended; the load generator, new,
# used 1.4 s.
cat >"$dir/after" <<'S'
qianbaod 100 0.50
qb-ledger 101 11.80
qb-syncer 102 1.20
qb-http-0 103 4.80
qb-http-1 104 5.30
wrk 0 1.40
S
out=$("$script" "$dir/before" "$dir/after" 100000 2)
[[ $(value cpu_us_qb-ledger) == 18.00 ]] || fail "writer: $out"
[[ $(value cpu_us_qb-http) == 16.00 ]] || fail "HTTP threads together: $out"
[[ $(value cpu_us_wrk) == 14.00 ]] || fail "load generator from zero: $out"
[[ $(value cpu_us_qb-syncer) == 2.00 ]] || fail "syncer: $out"
[[ -z $(value cpu_us_qianbaod) && -z $(value cpu_us_qb-verify) ]] ||
  fail "an idle thread or one gone printed: $out"
[[ $(value cpu_us_total) == 50.00 ]] || fail "total: $out"
# 2 cores at 50 us a command: 40,000 a second.
[[ $(value cpu_full_use_rate) == 40000 ]] || fail "full-use rate: $out"
# Largest first.
[[ $(grep -m1 cpu_us_ <<<"$out") == "bench: cpu_us_qb-ledger=18.00" ]] || fail "order: $out"

# No commands: nothing.
[[ -z $("$script" "$dir/before" "$dir/after" 0 2) ]] || fail "no commands printed something"

set +e
"$script" "$dir/before" >/dev/null 2>&1; [[ $? -eq 2 ]] || fail "one snapshot not refused with 2"
echo "ok thread_cpu"
