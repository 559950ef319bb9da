#!/usr/bin/env bash
# test/memcheck/asan.sh — the pg_regress and pgTAP suites (test/run sql)
# against an AddressSanitizer build of migrate_ops: the extension is built
# with clang -fsanitize=address (in a copy of the tree, so the normal build
# is untouched) and the server, which is not instrumented, runs with the ASan
# runtime LD_PRELOADed, so every access our code makes to malloc'd memory,
# the stack and globals is checked.  PostgreSQL's own palloc chunks live
# inside larger malloc'd blocks, so an overrun of a palloc'd chunk is caught
# only at the edge of its block.  detect_leaks=0: PostgreSQL exits without
# freeing what its memory contexts hold.  Exits non-zero on any ASan report
# (printed).  A few minutes:
#
#   test/memcheck/asan.sh              # test/run sql: regress + pgTAP
#   test/memcheck/asan.sh integration  # or any part test/run takes
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$root/test/lib/cluster.sh"
source "$root/test/lib/asan.sh"
mo_clang_install libclang_rt.asan-x86_64.so
runtime=$(clang -print-file-name=libclang_rt.asan-x86_64.so)
[ -e "$runtime" ] || mo_die "no ASan runtime ($runtime)"

work=$(mktemp -d "${TMPDIR:-/tmp}/migrate_ops_asan.XXXXXX")
chmod 777 "$work"
trap 'rm -rf "$work/build"' EXIT
# a copy of the tree to build in
mo_copy_tree "$root" "$work/build"

export MO_BUILD_ROOT=$work/build
export MO_MAKE_ARGS="CC=clang
with_llvm=no
CFLAGS=-O1 -g -fno-omit-frame-pointer
LDFLAGS_SL=-fsanitize=address -shared-libasan"
export MO_EXTRA_CFLAGS="-Wno-ignored-attributes -fsanitize=address"
export MO_SERVER_ENV="LD_PRELOAD=$(mo_asan_preload "$runtime") \
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:log_path=$work/asan:print_suppressions=0"

rc=0
"$root/test/run" "${1:-sql}" "${2:-}" || rc=$?
reports=0
if ls "$work"/asan.* >/dev/null 2>&1; then
    echo "---- AddressSanitizer reports ----"
    for f in "$work"/asan.*; do sed -n '1,60p' "$f"; echo; done
    reports=1
    rc=1
fi
if [ "$rc" = 0 ]; then
    rm -rf "$work"; echo "ASan: clean"
elif [ "$reports" = 1 ]; then
    echo "ASan: reports kept in $work"
else
    # (bad_input's memory bounds do not hold under ASan's allocator: redzones and quarantine)
    rm -rf "$work"; echo "ASan: no report, but a test failed (above)"
fi
exit "$rc"
