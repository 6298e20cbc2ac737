#!/usr/bin/env bash
# test_sched_window.sh SCRIPT — sched_window reads perf sched timehist's
# text: the kernel's threads are those the list names (a process of one
# thread looks the same in the trace), their CPU a second and longest run;
# the waits of qb- and wrk threads over 2 and 4 ms, and which of them were
# at least half covered by a kernel thread's run.
set -euo pipefail
script=$1
source "$(dirname "$0")/lib.sh"

# The kernel's threads: kdamond.0 (84) and a kworker (30); nginx (500) is not one.
printf '84\n30\n2\n' >"$dir/kthreads"

# time, cpu, task, wait, scheduling delay, run (ms). A run ends at its time and
# began run ms before; a wait ended as the run began and began delay ms before.
cat >"$dir/timehist" <<'T'
           time    cpu  task name                       wait time  sch delay   run time
                        [tid/pid]                          (msec)     (msec)     (msec)
--------------- ------  ------------------------------  ---------  ---------  ---------
  100.010000 [0000]  kdamond.0[84]                      502.018      0.017      5.000
  100.010100 [0000]  qb-ledger[11/10]                     1.000      3.000      0.100
  100.011600 [0001]  wrk[21/20]                           0.400      2.500      0.100
  100.024600 [0001]  qb-http-0[12/10]                     0.300      4.500      0.100
  100.030000 [0000]  kworker/0:1-events[30]               9.000      0.010      0.500
  100.035000 [0001]  qb-syncer[13/10]                     2.000      1.000      0.100
  100.040000 [0001]  Web Content[33/30]                   0.100      9.000      0.200
  100.050000 [0001]  nginx[500]                           1.000      0.000      7.000
  100.060000 [0000]  <idle>                               0.000      0.000     10.000
  101.005000 [0001]  qb-http-1[14/10]                     0.500      0.000      0.100
T
# The window: from kdamond's run's start (100.005) to the last run's end (101.005).
# The ledger's wait [100.0070, 100.0100] lies in kdamond's run [100.005, 100.010]: the
# kernel's. wrk's [100.0090, 100.0115] overlaps it 1 ms of 2.5: under half, not the
# kernel's. The HTTP thread's [100.0200, 100.0245] meets no kernel run.
out=$("$script" "$dir/timehist" "$dir/kthreads")
[[ $(value sched_seconds) == 1.0 ]] || fail "seconds: $out"
[[ $(value sched_kernel_ms_per_s) == 5.5 ]] || fail "kernel ms a second (5 + 0.5): $out"
[[ $(value sched_kernel_run_max_ms) == 5.0 ]] || fail "longest kernel run (not nginx's 7): $out"
[[ $(value sched_kernel_run_max_name) == kdamond.0 ]] || fail "longest run's name: $out"
[[ $(value sched_kernel_runs_over_1ms) == 1 ]] || fail "kernel runs over 1 ms: $out"
[[ $(value sched_waits_over_2ms) == 3 ]] || fail "waits over 2 ms (not Web Content's): $out"
[[ $(value sched_waits_over_2ms_kernel) == 1 ]] || fail "waits over 2 ms behind the kernel: $out"
[[ $(value sched_waits_over_4ms) == 1 ]] || fail "waits over 4 ms: $out"
[[ $(value sched_waits_over_4ms_kernel) == 0 ]] || fail "waits over 4 ms behind the kernel: $out"

# With no kernel threads named, nothing is the kernel's.
: >"$dir/none"
out=$("$script" "$dir/timehist" "$dir/none")
[[ $(value sched_kernel_ms_per_s) == 0.0 && $(value sched_waits_over_2ms) == 3 &&
  $(value sched_waits_over_2ms_kernel) == 0 && -z $(value sched_kernel_run_max_name) ]] ||
  fail "no kernel threads: $out"

set +e
head -n 3 "$dir/timehist" >"$dir/empty"
"$script" "$dir/empty" "$dir/kthreads" >/dev/null 2>&1; [[ $? -eq 1 ]] || fail "an empty trace not refused with 1"
"$script" "$dir/timehist" >/dev/null 2>&1; [[ $? -eq 2 ]] || fail "one file not refused with 2"
echo "ok sched_window"
