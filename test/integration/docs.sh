#!/usr/bin/env bash
# The README is the user's manual: every setting the library defines is in its
# Configuration table (with the default the server reports), and every
# public function and procedure of the extension is documented.
set -euo pipefail
source "$(dirname "$0")/../lib/itest.sh"
it_db it_docs
readme=$MO_ROOT/README.md
missing=()
settings=$(it_val "SELECT name || '|' || boot_val || '|' || coalesce(unit, '') FROM pg_settings
                    WHERE name LIKE 'migrate_ops.%' ORDER BY name")
while read -r line; do missing+=("$line"); done < <(SETTINGS="$settings" README="$readme" python3 - <<'PY'
import os, re
readme = open(os.environ["README"]).read()
time = {"us": 0.001, "ms": 1, "s": 1000, "min": 60000, "h": 3600000, "d": 86400000}
size = {"B": 1, "kB": 1024, "MB": 1024**2, "GB": 1024**3}
def base(value, unit):
    """value as written in the README, in the setting's own unit (None if unparseable)"""
    m = re.fullmatch(r"(-?\d+(?:\.\d+)?)\s*([a-zA-Z]*)", value)
    if not m: return None
    n, u = float(m.group(1)), m.group(2)
    if not u: return n
    table = time if unit in time else size if unit in size else None
    if table is None or u not in table: return None
    return n * table[u] / table[unit]
for line in os.environ["SETTINGS"].splitlines():
    name, boot, unit = line.split("|")
    row = re.search(r"^\| `" + re.escape(name) + r"` \| `([^`]*)` \|", readme, re.M)
    if not row:
        print(f"setting {name} (no row with a default in the Configuration table)"); continue
    doc = row.group(1)
    if unit:
        ok = base(doc, unit) is not None and abs(base(doc, unit) - float(boot)) < 1e-9
    else:
        ok = doc == boot or (doc in ("''", "") and boot == "")
    if not ok:
        print(f"setting {name}: README says `{doc}`, the server's default is {boot}{unit}")
PY
)
n_settings=$(it_val "SELECT count(*) FROM pg_settings WHERE name LIKE 'migrate_ops.%'")
while read -r fn; do
    grep -qE "migrate_ops\.$fn\(|\`$fn\(|### .*\b$fn\b" "$readme" || missing+=("function $fn")
done < <(it_val "SELECT DISTINCT proname FROM pg_proc WHERE pronamespace = 'migrate_ops'::regnamespace
                   AND prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype) ORDER BY 1")
if [ ${#missing[@]} -gt 0 ]; then
    printf '  undocumented: %s\n' "${missing[@]}"
    it_fail "the README misses ${#missing[@]} settings/functions"
fi
it_ok "all $n_settings settings (with their defaults) and every public function are in the README"
