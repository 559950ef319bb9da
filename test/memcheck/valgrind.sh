#!/usr/bin/env bash
# test/memcheck/valgrind.sh — the pg_regress and pgTAP suites (test/run sql)
# with the whole server under valgrind's memcheck: the postmaster is started
# as `valgrind --trace-children=yes --suppressions=test/memcheck/valgrind.supp
# postgres -D ...`, so every backend and the background worker (forked) run
# under it, then each process's report is read.  Exits non-zero when valgrind
# reported an error that is not suppressed, printing it (a frame in
# migrate_ops.so is marked).  Slow (the suites run 20 to 50 times slower):
#
#   test/memcheck/valgrind.sh              # test/run sql: regress + pgTAP
#   test/memcheck/valgrind.sh pgtap lint   # one part, as test/run takes it
#
# Debian's server is not built with USE_VALGRIND: memory handed out by
# palloc from a context's block is not tracked chunk by chunk, so a read
# past a palloc'd chunk inside its block is invisible; everything at the
# malloc level (libcurl, OpenSSL, ICU, blocks themselves), uninitialised
# values reaching a branch or a system call, and invalid frees are caught.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
command -v valgrind >/dev/null || { apt-get install -y -qq valgrind >/dev/null; }

logs=$(mktemp -d "${TMPDIR:-/tmp}/migrate_ops_valgrind.XXXXXX")
chmod 777 "$logs"
# (TMPDIR: valgrind writes its temporary files there, as the server's owner)
export MO_SERVER_WRAPPER="env TMPDIR=$logs valgrind --quiet --trace-children=yes --leak-check=no --num-callers=40 \
--error-markers=VALGRINDERROR-BEGIN,VALGRINDERROR-END --gen-suppressions=all \
--suppressions=$here/valgrind.supp --log-file=$logs/%p.log"

rc=0
"$root/test/run" "${1:-sql}" "${2:-}" || rc=$?

python3 - "$logs" <<'PY' || rc=1
import glob, os, re, sys
errors, procs = [], 0
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.log"))):
    text = open(path, errors="replace").read()
    procs += 1
    for block in re.findall(r"VALGRINDERROR-BEGIN\n(.*?)VALGRINDERROR-END", text, re.S):
        errors.append((os.path.basename(path), block))
seen = {}
for proc, block in errors:
    # one line per distinct error: its kind and first frames
    lines = [l.split("==", 2)[-1].strip() for l in block.splitlines()]
    lines = [l for l in lines if l]
    key = "\n".join(lines[:6])
    seen.setdefault(key, []).append(proc)
for key, where in seen.items():
    # ours: a frame near the top is in migrate_ops.so (file names of src/*.c, or the library)
    top = key.splitlines()[1:5]
    ours = any("migrate_ops.so" in l or re.search(r"\((capture|catalog|drift|events|gates|http|ledger|lint|migrate_ops|outbox|plan|script|tools|util|worker)\.c:\d+\)", l) for l in top)
    print(("OUR CODE " if ours else "") + f"valgrind error in {len(where)} process(es) ({', '.join(where[:3])}):")
    print("    " + key.replace("\n", "\n    "))
print(f"valgrind: {procs} process logs, {len(errors)} errors, {len(seen)} distinct")
sys.exit(1 if errors else 0)
PY
if [ "$rc" = 0 ]; then rm -rf "$logs"; echo "valgrind: clean"; else echo "valgrind logs kept in $logs"; fi
exit "$rc"
