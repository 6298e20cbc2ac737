#!/usr/bin/env bash
# test_disk.sh BENCH_DISK — bench_disk measures, reports in order, cleans up,
# and refuses what it cannot do with the exit codes its usage says.
set -euo pipefail
bin=$1
source "$(dirname "$0")/lib.sh"

out=$("$bin" --dir "$dir" --seconds 0.3 --size 8192)
syncs=$(value disk_syncs); p50=$(value disk_p50_us); p99=$(value disk_p99_us); max=$(value disk_max_us)
[[ -n $syncs && $syncs -gt 0 ]] || fail "no syncs in: $out"
[[ -n $p50 && -n $p99 && -n $max ]] || fail "a percentile missing in: $out"
((p50 <= p99 && p99 <= max)) || fail "percentiles out of order: $out"
grep -q "^disk: $syncs syncs of 8192 bytes" <<<"$out" || fail "no summary line: $out"
[[ -z $(ls -A "$dir") ]] || fail "left behind: $(ls -A "$dir")"

set +e
"$bin" --size 0 --dir "$dir" >/dev/null 2>&1; [[ $? -eq 2 ]] || fail "--size 0 not refused with 2"
"$bin" --seconds 0 --dir "$dir" >/dev/null 2>&1; [[ $? -eq 2 ]] || fail "--seconds 0 not refused with 2"
"$bin" --bogus >/dev/null 2>&1; [[ $? -eq 2 ]] || fail "an unknown option not refused with 2"
"$bin" --dir "$dir/missing" --seconds 0.1 >/dev/null 2>&1; [[ $? -eq 1 ]] || fail "a missing directory not an error"
echo "ok bench_disk"
