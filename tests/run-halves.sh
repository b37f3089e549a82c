#!/usr/bin/env bash
# `make test`: the suite in two halves at once, each its own pytest process: everything on
# Apache Kafka (its session cluster, the drills' cluster, the secured cluster, the peers'
# node), and everything else (the embedded broker, and what needs no broker). Much of
# either half waits on brokers and processes, so together they take little more than the
# longer one. Each half's output is printed whole once both are done, then one line
# with the totals.
set -u
# Job control: without it a script's background commands start with SIGINT ignored, and so
# would every process the tests start (a test that stops `tail --follow` with Ctrl-C's
# signal would wait for ever). Each half is then a process group of its own: Ctrl-C or a
# stop of this script stops both.
set -m
trap 'for group in ${embedded:-} ${apache:-}; do kill -TERM -- "-$group"; done 2>/dev/null
      exit 130' INT TERM
python=${PYTHON:-.venv/bin/python}
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
CXR_TEST_BROKERS=embedded "$python" -m pytest -q -m "not apache" "$@" >"$logs/embedded" 2>&1 &
embedded=$!
CXR_TEST_BROKERS=apache "$python" -m pytest -q -m apache "$@" >"$logs/apache" 2>&1 &
apache=$!
wait "$embedded"; embedded_rc=$?
wait "$apache"; apache_rc=$?
for half in embedded apache; do
    echo "=== the $half half"
    cat "$logs/$half"
done
# the totals of both halves' closing lines ("N failed, N passed, N deselected in ...")
count() {
    for half in embedded apache; do tail -n 1 "$logs/$half"; done \
        | grep -Eo "[0-9]+ $1" | awk '{n += $1} END {print n + 0}'
}
echo "tests: $(count passed) passed, $(( $(count failed) + $(count error) )) failed"
[ "$embedded_rc" -eq 0 ] && [ "$apache_rc" -eq 0 ]
