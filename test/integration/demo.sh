#!/usr/bin/env bash
# The README's demo command runs and tells its story (it checks itself and
# exits non-zero when a step goes wrong); it uses its own throwaway cluster.
set -euo pipefail
source "$(dirname "$0")/../lib/itest.sh"
log=$MO_WORK/demo.log
if ! (unset MO_WORK MO_DATA MO_SOCK MO_LOG PGHOST PGPORT PGDATABASE; "$MO_ROOT/test/demo") >"$log" 2>&1; then
    tail -40 "$log"
    it_fail "test/demo failed"
fi
grep -q "Demo finished" "$log" || it_fail "test/demo did not finish"
it_ok "test/demo ran its story: $(grep -c '✓' "$log") checks, $(grep -o '[0-9]* Slack messages delivered' "$log")"
