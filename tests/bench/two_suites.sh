#!/usr/bin/env bash
# Issue 12's robustness check: `make test` RUNS times in a row in clone X while clone Y runs
# `make test` in a loop on the same machine. Both are fresh clones of this repository's HEAD.
#
#   bash tests/bench/two_suites.sh [RUNS]      (default 3; logs and a summary in $OUT)
#
# Stops at X's first failure. Y's loop stops after X finishes (its run in progress completes).
# Only loopback servers are started; everything lives under a temporary directory.
set -u
RUNS=${1:-3}
REPO=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/two-suites-XXXXXX")}
X=$OUT/x Y=$OUT/y
git clone -q "$REPO" "$X" && git clone -q "$REPO" "$Y"
(cd "$X" && make install >"$OUT/x-install.log" 2>&1) && (cd "$Y" && make install >"$OUT/y-install.log" 2>&1) || exit 1
echo "commit $(git -C "$X" log --oneline -1)" | tee "$OUT/summary"
touch "$OUT/running"
(
  n=0
  while [ -e "$OUT/running" ]; do
    n=$((n + 1)); start=$(date +%s)
    (cd "$Y" && make test >"$OUT/y-run$n.log" 2>&1); rc=$?
    echo "Y run $n rc=$rc $(( $(date +%s) - start )) s" >>"$OUT/summary"
  done
) &
status=0
for i in $(seq 1 "$RUNS"); do
  start=$(date +%s)
  (cd "$X" && make test >"$OUT/x-run$i.log" 2>&1); rc=$?
  echo "X run $i rc=$rc $(( $(date +%s) - start )) s" | tee -a "$OUT/summary"
  if [ $rc -ne 0 ]; then status=1; break; fi
done
rm -f "$OUT/running"
wait
cat "$OUT/summary"; echo "logs in $OUT"
exit $status
