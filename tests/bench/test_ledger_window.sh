#!/usr/bin/env bash
# test_ledger_window.sh SCRIPT — ledger_window reads two scrapes of /metrics:
# counts and percentiles of the window alone, linear within a bucket, the
# last finite bound past it, nothing for an empty histogram; the syncs past
# 8 and 16 ms.
set -euo pipefail
script=$1
source "$(dirname "$0")/lib.sh"

# Before: 10 commands in 2 batches, all under 256 us (ignored by the window).
cat >"$dir/before" <<'M'
# HELP qianbao_ledger_commands_total Ledger commands completed, with any result.
qianbao_ledger_commands_total 10
qianbao_ledger_batches_total 2
qianbao_ledger_command_duration_seconds_bucket{le="0.000256"} 10
qianbao_ledger_command_duration_seconds_bucket{le="0.000512"} 10
qianbao_ledger_command_duration_seconds_bucket{le="0.001024"} 10
qianbao_ledger_command_duration_seconds_bucket{le="+Inf"} 10
qianbao_ledger_commit_duration_seconds_bucket{le="0.000256"} 2
qianbao_ledger_commit_duration_seconds_bucket{le="0.000512"} 2
qianbao_ledger_commit_duration_seconds_bucket{le="+Inf"} 2
qianbao_ledger_sync_duration_seconds_bucket{le="0.000128"} 1
qianbao_ledger_sync_duration_seconds_bucket{le="0.000256"} 2
qianbao_ledger_sync_duration_seconds_bucket{le="+Inf"} 2
qianbao_http_resume_wait_seconds_bucket{le="0.000016"} 4
qianbao_http_resume_wait_seconds_bucket{le="0.000032"} 8
qianbao_http_resume_wait_seconds_bucket{le="0.000064"} 10
qianbao_http_resume_wait_seconds_bucket{le="+Inf"} 10
qianbao_store_wal_frames 31000
qianbao_store_wal_restarts_total 3
qianbao_store_checkpoint_rounds_total 12
qianbao_store_checkpoint_bytes_total 4096000
qianbao_store_checkpoint_waits_total 3
qianbao_store_checkpoint_wait_seconds_total 0.015000
M
# After: 200 more commands in 40 batches; of the commands 0 under 256 us,
# 100 in (256, 512], 99 in (512, 1024], 1 past 1024; the bounds out of order
# as a scrape may list them. Of the commits, 40 in (512 us, +Inf); 30 syncs,
# 10 of them in (0, 128 us], 20 in (128, 256]. Of the 200 answers' waits for
# an HTTP thread, 100 in (0, 16 us], 80 in (16, 32], 20 in (32, 64].
cat >"$dir/after" <<'M'
qianbao_ledger_commands_total 210
qianbao_ledger_batches_total 42
qianbao_ledger_command_duration_seconds_bucket{le="0.001024"} 209
qianbao_ledger_command_duration_seconds_bucket{le="0.000256"} 10
qianbao_ledger_command_duration_seconds_bucket{le="0.000512"} 110
qianbao_ledger_command_duration_seconds_bucket{le="+Inf"} 210
qianbao_ledger_commit_duration_seconds_bucket{le="0.000256"} 2
qianbao_ledger_commit_duration_seconds_bucket{le="0.000512"} 2
qianbao_ledger_commit_duration_seconds_bucket{le="+Inf"} 42
qianbao_ledger_sync_duration_seconds_bucket{le="0.000128"} 11
qianbao_ledger_sync_duration_seconds_bucket{le="0.000256"} 32
qianbao_ledger_sync_duration_seconds_bucket{le="+Inf"} 32
qianbao_http_resume_wait_seconds_bucket{le="0.000016"} 104
qianbao_http_resume_wait_seconds_bucket{le="0.000032"} 188
qianbao_http_resume_wait_seconds_bucket{le="0.000064"} 210
qianbao_http_resume_wait_seconds_bucket{le="+Inf"} 210
qianbao_http_requests_total{method="POST",route="/v1/transfers",status="201"} 200
qianbao_store_wal_frames 1200
qianbao_store_wal_restarts_total 5
qianbao_store_checkpoint_rounds_total 19
qianbao_store_checkpoint_bytes_total 4915200
qianbao_store_checkpoint_waits_total 5
qianbao_store_checkpoint_wait_seconds_total 0.027400
M
out=$("$script" "$dir/before" "$dir/after")
[[ $(value ledger_commands) == 200 ]] || fail "commands: $out"
[[ $(value ledger_batches) == 40 ]] || fail "batches: $out"
[[ $(value ledger_batch_mean) == 5.0 ]] || fail "batch mean: $out"
# p50: rank 100, the whole of (256, 512]: 512 us. p99: rank 198, 98 of the
# 99 in (512, 1024]: 512 + 512 * 98 / 99 = 1018.8 -> 1019 us.
[[ $(value ledger_command_p50_us) == 512 ]] || fail "command p50: $out"
[[ $(value ledger_command_p99_us) == 1019 ]] || fail "command p99: $out"
# Every commit past the last finite bound: the bound, a floor.
[[ $(value ledger_durable_p50_us) == 512 ]] || fail "durable p50: $out"
[[ $(value ledger_durable_p99_us) == 512 ]] || fail "durable p99: $out"
# Syncs: p50 rank 15, 5 of the 20 in (128, 256]: 128 + 128 * 5 / 20 = 160 us;
# p99 rank 29.7, 19.7 of them: 128 + 128 * 19.7 / 20 = 254.1 -> 254 us.
[[ $(value ledger_sync_p50_us) == 160 ]] || fail "sync p50: $out"
[[ $(value ledger_sync_p99_us) == 254 ]] || fail "sync p99: $out"
# No buckets of 8.192 and 16.384 ms in these scrapes: no counts of slow syncs.
[[ -z $(value ledger_syncs_over_8ms) && -z $(value ledger_syncs_over_16ms) ]] ||
  fail "slow syncs without their buckets: $out"
# Waits: p50 rank 100, the whole of (0, 16]: 16 us; p99 rank 198, 18 of the
# 20 in (32, 64]: 32 + 32 * 18 / 20 = 60.8 -> 61 us.
[[ $(value http_resume_p50_us) == 16 ]] || fail "resume p50: $out"
[[ $(value http_resume_p99_us) == 61 ]] || fail "resume p99: $out"
# The store: 819,200 bytes over 200 commands; 7 rounds, 2 restarts, 2 waits
# of 12.4 ms in all.
[[ $(value store_checkpoint_bytes_per_command) == 4096 ]] || fail "bytes a command: $out"
[[ $(value store_checkpoint_rounds) == 7 ]] || fail "rounds: $out"
[[ $(value store_wal_restarts) == 2 ]] || fail "restarts: $out"
[[ $(value store_checkpoint_waits) == 2 ]] || fail "waits: $out"
[[ $(value store_checkpoint_wait_ms) == 12.4 ]] || fail "wait ms: $out"

# A scrape without the store's families (an older daemon): no store lines.
grep -v '^qianbao_store_' "$dir/before" >"$dir/before-ledger-only"
out=$("$script" "$dir/before-ledger-only" "$dir/after")
[[ $(value ledger_commands) == 200 && -z $(value store_checkpoint_rounds) ]] ||
  fail "store lines without the store's families: $out"

# Nothing in the window: counts of 0, no percentiles.
out=$("$script" "$dir/before" "$dir/before")
[[ $(value ledger_commands) == 0 ]] || fail "empty window commands: $out"
[[ -z $(value ledger_batch_mean) && -z $(value ledger_command_p50_us) &&
  -z $(value ledger_sync_p50_us) ]] || fail "empty window: $out"

# A scrape without the sync's histogram (an older daemon): no sync lines.
grep -v '^qianbao_ledger_sync_' "$dir/before" >"$dir/before-no-sync"
grep -v '^qianbao_ledger_sync_' "$dir/after" >"$dir/after-no-sync"
out=$("$script" "$dir/before-no-sync" "$dir/after-no-sync")
[[ $(value ledger_durable_p50_us) == 512 && -z $(value ledger_sync_p50_us) ]] ||
  fail "sync lines without the sync's histogram: $out"

# The disk's stalls: of the 18 syncs in the window, 13 within 8.192 ms and 15 within
# 16.384 ms, so 5 over 8 ms and 3 over 16 ms (the 2 slow ones before the window left out).
cat >"$dir/before-stalls" <<'M'
qianbao_ledger_commands_total 10
qianbao_ledger_batches_total 2
qianbao_ledger_sync_duration_seconds_bucket{le="0.004096"} 5
qianbao_ledger_sync_duration_seconds_bucket{le="0.008192"} 6
qianbao_ledger_sync_duration_seconds_bucket{le="0.016384"} 7
qianbao_ledger_sync_duration_seconds_bucket{le="+Inf"} 8
M
cat >"$dir/after-stalls" <<'M'
qianbao_ledger_commands_total 100
qianbao_ledger_batches_total 20
qianbao_ledger_sync_duration_seconds_bucket{le="0.016384"} 22
qianbao_ledger_sync_duration_seconds_bucket{le="0.004096"} 15
qianbao_ledger_sync_duration_seconds_bucket{le="0.008192"} 19
qianbao_ledger_sync_duration_seconds_bucket{le="+Inf"} 26
M
out=$("$script" "$dir/before-stalls" "$dir/after-stalls")
[[ $(value ledger_syncs_over_8ms) == 5 ]] || fail "syncs over 8 ms: $out"
[[ $(value ledger_syncs_over_16ms) == 3 ]] || fail "syncs over 16 ms: $out"

set +e
"$script" "$dir/before" >/dev/null 2>&1; [[ $? -eq 2 ]] || fail "one scrape not refused with 2"
echo "ok ledger_window"
