# test/lib/sink.sh — a real HTTP receiver (test/lib/http_sink.py) for webhook
# tests.  Source it after itest.sh (or cluster.sh); it lives under $MO_WORK.
#
#   sink_start [PORT]      start the sink (a fixed PORT to restart it "at the same address")
#   sink_stop              stop it (the sink is "down")
#   sink_url PATH          http://127.0.0.1:$SINK_PORT/PATH
#   sink_q EXPR            evaluate a Python expression over the recorded requests (`reqs`)
#   sink_wait N [SECONDS] [PATH-PREFIX]   wait until N requests (on PATH-PREFIX) arrived

SINK_PY="$(dirname "${BASH_SOURCE[0]}")/http_sink.py"
SINK_DIR=${SINK_DIR:-$(mktemp -d "$MO_WORK/sink.XXXXXX")}
SINK_LOG=$SINK_DIR/requests.jsonl
SINK_PID=
SINK_PORT=

sink_start() {
    rm -f "$SINK_DIR/port"
    python3 "$SINK_PY" serve "$SINK_LOG" "$SINK_DIR/port" "${1:-0}" &
    SINK_PID=$!
    local i
    for i in $(seq 100); do [ -s "$SINK_DIR/port" ] && break; sleep 0.05; done
    [ -s "$SINK_DIR/port" ] || { echo "the HTTP sink did not start" >&2; return 1; }
    SINK_PORT=$(cat "$SINK_DIR/port")
}

sink_stop() {
    if [ -n "$SINK_PID" ]; then
        kill "$SINK_PID" 2>/dev/null || true
        wait "$SINK_PID" 2>/dev/null || true
        SINK_PID=
    fi
}

sink_url() { echo "http://127.0.0.1:$SINK_PORT/$1"; }

sink_q() { python3 "$SINK_PY" query "$SINK_LOG" "$1"; }

sink_count() { sink_q "len([r for r in reqs if r['path'].startswith('/${1:-}')])"; }

sink_wait() {
    local n=$1 deadline=$((SECONDS + ${2:-10})) got=0
    while [ $SECONDS -lt $deadline ]; do
        got=$(sink_count "${3:-}")
        [ "$got" -ge "$n" ] && return 0
        sleep 0.05
    done
    echo "timed out waiting for $n requests on /${3:-} (got $got)" >&2
    return 1
}
