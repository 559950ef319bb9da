# test/lib/asan.sh — what the ASan run (test/memcheck/asan.sh) and the fuzzer
# (test/fuzz/run.sh) share: clang and its runtimes, the server's LD_PRELOAD,
# and a copy of the tree to build the instrumented library in.  Sourced after
# test/lib/cluster.sh.

# mo_clang_install RUNTIME...: installs clang and libclang-rt-14-dev unless
# clang and each of the runtime files it names (clang -print-file-name) exist.
mo_clang_install() {
    local f
    if command -v clang >/dev/null; then
        for f in "$@"; do [ -e "$(clang -print-file-name="$f")" ] || break; done
        [ -e "$(clang -print-file-name="$f")" ] && return 0
    fi
    apt-get install -y -qq clang libclang-rt-14-dev >/dev/null 2>&1 || apt-get install -y -qq clang >/dev/null
}

# mo_asan_preload RUNTIME: the server's LD_PRELOAD list.  The runtime first,
# then the libraries whose constructors would otherwise be the first to call
# malloc() (so initialise ASan) while holding a glibc locale lock, which
# deadlocks the server at start-up: libp11-kit (newlocale, via gnutls and
# ldap) and libgpg-error (bindtextdomain).  Preloaded after the runtime they
# are initialised after it.
mo_asan_preload() {
    local list=$1 lib
    for lib in libp11-kit.so libgpg-error.so; do
        lib=$(ldd "/usr/lib/postgresql/$MO_PGMAJOR/bin/postgres" | awk -v l="$lib" 'index($1, l) == 1 {print $3}')
        [ -n "$lib" ] && list="$list:$lib"
    done
    echo "$list"
}

# mo_copy_tree ROOT DEST: the files git tracks or would track (uncommitted
# changes included), so an instrumented build leaves the normal one alone.
mo_copy_tree() {
    mkdir -p "$2"
    (cd "$1" && git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$2")
}
