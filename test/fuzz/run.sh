#!/usr/bin/env bash
# test/fuzz/run.sh — libFuzzer on the lint parser walk and the catalog
# normaliser, inside a real backend, for a bounded time (not part of CI):
#
#   test/fuzz/run.sh [SECONDS] [lint|catalog|both]     default: 120 s per mode, both modes
#
# Builds a fuzz variant of migrate_ops (clang -fsanitize=fuzzer-no-link,address
# plus test/fuzz/fuzz_target.c, libFuzzer linked into the library) in a copy of
# the tree, starts a throwaway cluster whose server has the ASan runtime
# LD_PRELOADed, and calls migrate_ops_fuzz() (see fuzz_target.c) once per mode
# as an unprivileged role, with the seeds from the repository's own SQL
# (test/fuzz/seeds.py) and the server's keywords as a dictionary.  Prints
# executions, coverage and corpus size, and any crash, sanitizer report or
# backend that died (with its input, kept under the work directory, which is
# then left for a look); exits non-zero when there was one.  FUZZ_KEEP=1
# keeps the work directory (and the grown corpus) in any case.
# FUZZ_SELFTEST=1 plants a heap overflow (fuzz_target.c) and a seed that
# reaches it: the run must then report a finding.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$root/test/lib/cluster.sh"

secs=${1:-120}
modes=${2:-both}
[ "$modes" = both ] && modes="lint catalog"
mo_install_deps
source "$root/test/lib/asan.sh"
mo_clang_install libclang_rt.asan-x86_64.so libclang_rt.fuzzer_no_main-x86_64.a
runtime=$(clang -print-file-name=libclang_rt.asan-x86_64.so)
fuzzer=$(clang -print-file-name=libclang_rt.fuzzer_no_main-x86_64.a)
[ -e "$runtime" ] && [ -e "$fuzzer" ] || mo_die "clang's ASan runtime or libFuzzer is missing (libclang-rt-14-dev)"

work=$(mktemp -d "${TMPDIR:-/tmp}/migrate_ops_fuzz.XXXXXX")
chmod 777 "$work"
mkdir -p "$work/artifacts" "$work/seeds"
chmod 777 "$work/artifacts"
mo_copy_tree "$root" "$work/build"
cp "$here/fuzz_target.c" "$work/build/src/"

export MO_BUILD_ROOT=$work/build
export MO_MAKE_ARGS="CC=clang
with_llvm=no
CFLAGS=-O1 -g -fno-omit-frame-pointer
LDFLAGS_SL=-fsanitize=address -shared-libasan -Wl,-Bsymbolic -Wl,--whole-archive $fuzzer -Wl,--no-whole-archive -lstdc++"
# (-Bsymbolic: the library's coverage callbacks must reach the libFuzzer linked
# into it, not the ASan runtime's no-op defaults, which the preload puts first)
export MO_EXTRA_CFLAGS="-Wno-ignored-attributes -fsanitize=fuzzer-no-link,address${FUZZ_SELFTEST:+ -DMO_FUZZ_SELFTEST}"
export MO_SERVER_ENV="LD_PRELOAD=$(mo_asan_preload "$runtime") ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:log_path=$work/asan"

found=0
finish() {
    mo_cleanup
    if [ "$found" = 0 ] && [ "${FUZZ_KEEP:-0}" != 1 ]; then rm -rf "$work"; else echo "kept $work"; fi
}
trap finish EXIT
mo_setup
mo_cluster_start

db=fuzz
mo_psql -d postgres -c "CREATE DATABASE $db" >/dev/null
mo_psql -d $db >/dev/null <<SQL
CREATE EXTENSION migrate_ops;
CREATE ROLE fuzzer;
CREATE SCHEMA fuzz AUTHORIZATION fuzzer;
CREATE TABLE fuzz.orders (id bigint PRIMARY KEY, customer_id int, total numeric(10,2), note varchar(40));
ALTER TABLE fuzz.orders OWNER TO fuzzer;
-- the relations test/pgtap/lint.sql's scripts (seeds) are about, so their rules fire
SET ROLE fuzzer;
SET search_path = fuzz;
CREATE TABLE lt_customers (id int PRIMARY KEY);
CREATE TABLE lt_orders (id bigint PRIMARY KEY, customer_id int, total numeric(10,2),
                        note varchar(20), status text, flag boolean,
                        CONSTRAINT lt_flag_nn CHECK (flag IS NOT NULL));
CREATE INDEX lt_orders_status ON lt_orders (status);
CREATE UNIQUE INDEX lt_orders_note_key ON lt_orders (note);
CREATE TYPE lt_mood AS ENUM ('sad', 'happy');
CREATE DOMAIN lt_posint AS int CHECK (VALUE > 0);
CREATE TABLE lt_events (id int, at date) PARTITION BY RANGE (at);
CREATE TABLE lt_events_2025 PARTITION OF lt_events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE lt_loose (id int);
CREATE MATERIALIZED VIEW lt_totals AS SELECT 1 AS id;
CREATE UNIQUE INDEX ON lt_totals (id);
RESET ROLE;
CREATE FUNCTION public.migrate_ops_fuzz(text, text[]) RETURNS integer
    AS '\$libdir/migrate_ops', 'migrate_ops_fuzz' LANGUAGE C STRICT;
GRANT EXECUTE ON FUNCTION public.migrate_ops_fuzz(text, text[]) TO fuzzer;
SQL
mo_psql -At -d $db -c "SELECT word FROM pg_get_keywords()" | python3 "$here/seeds.py" "$root" "$work/seeds" "$work/sql.dict"
[ -n "${FUZZ_SELFTEST:-}" ] && printf 'SELECT 1; -- fuzz-selftest' >"$work/seeds/selftest"

for mode in $modes; do
    mkdir -p "$work/corpus-$mode"
    chmod 777 "$work/corpus-$mode" "$work/seeds"
    chmod 644 "$work"/seeds/* "$work/sql.dict"
    mo_log "fuzzing $mode for $secs s"
    from=$(wc -l <"$MO_LOG")
    # libFuzzer ends the backend when done: psql reports the lost connection
    PGOPTIONS="-c search_path=fuzz -c statement_timeout=0 -c client_min_messages=error" mo_psql -d $db -c "SET ROLE fuzzer" \
        -c "SELECT public.migrate_ops_fuzz('$mode', ARRAY['-max_total_time=$secs', '-timeout=0', '-rss_limit_mb=0',
              '-handle_int=0', '-handle_term=0', '-handle_usr1=0', '-handle_usr2=0', '-max_len=4096',
              '-dict=$work/sql.dict', '-artifact_prefix=$work/artifacts/$mode-', '-print_final_stats=1',
              '$work/corpus-$mode', '$work/seeds'])" >/dev/null 2>"$work/psql-$mode.err" || true
    tail -n +"$from" "$MO_LOG" >"$work/fuzz-$mode.log"
    last=$(grep -E '^#[0-9]+' "$work/fuzz-$mode.log" | tail -1 || true)
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz-$mode.log" | tail -1)
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$work/fuzz-$mode.log" | tail -1)
    outcomes=$(sed -n 's/.*migrate_ops fuzz outcomes: //p' "$work/fuzz-$mode.log" | tail -1)
    echo "$mode: ${runs:-?} inputs in $secs s; last status: ${last:-none}; peak RSS ${rss:-?} MB; corpus $(ls "$work/corpus-$mode" | wc -l) inputs"
    echo "$mode: ${outcomes:-no outcome line}"
    # a harness whose every input fails before the code under test is broken
    if grep -q '^Done [0-9]* runs' "$work/fuzz-$mode.log"; then
        case $outcomes in
            "0 ran through"*|"") found=1; echo "---- $mode: no input ran through (the harness is broken) ----";;
        esac
    fi
    if grep -qE '==ERROR|AddressSanitizer|deadly signal|fuzz target exited|^SUMMARY' "$work/fuzz-$mode.log" ||
        ls "$work"/artifacts/"$mode"-* >/dev/null 2>&1 || ls "$work"/asan.* >/dev/null 2>&1 ||
        ! grep -q '^Done [0-9]* runs' "$work/fuzz-$mode.log"; then
        found=1
        echo "---- $mode: a finding (or the fuzzer did not finish) ----"
        grep -nE -A30 '==ERROR|AddressSanitizer|deadly signal|fuzz target exited' "$work/fuzz-$mode.log" | head -60 || true
        for f in "$work"/asan.*; do [ -e "$f" ] && sed -n '1,40p' "$f"; done
        for f in "$work"/artifacts/"$mode"-*; do [ -e "$f" ] && { echo "input $f:"; head -c 600 "$f" | cat -v; echo; }; done
        tail -5 "$work/fuzz-$mode.log"
    fi
    mo_psql -d $db -c "SELECT 1" >/dev/null || { found=1; echo "the server is gone"; break; }
done
if grep -qE "was terminated by signal|PANIC|TRAP:" "$MO_LOG"; then
    found=1; echo "---- the server log shows a crash ----"; grep -nE "was terminated by signal|PANIC|TRAP:" "$MO_LOG" | head
fi
[ "$found" = 0 ] && echo "fuzz: no finding" || { echo "fuzz: FINDINGS (see above)"; exit 1; }
