# lib.sh — what the tests of the benchmark's scripts share; sourced after
# "set -euo pipefail": a scratch directory $dir, removed at exit; fail
# MESSAGE; value NAME, the VALUE of the "bench: NAME=VALUE" line in $out.
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
value() { awk -F= -v k="bench: $1" '$1 == k {print $2}' <<<"$out"; }
