#!/usr/bin/env bash
# test.sh — the whole test suite (`make test`): formatting, vet, and every
# package's tests under the race detector, ending with one summary line.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p var
log=var/test.log

echo ">> gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './var/*'))
if [[ -n $unformatted ]]; then
	echo "gofmt would change:"; echo "$unformatted"
	echo "tests: 0 passed, 1 failed (gofmt)"
	exit 1
fi
echo ">> go vet ./..."
if ! go vet ./...; then
	echo "tests: 0 passed, 1 failed (go vet)"
	exit 1
fi

echo ">> go test -race ./... (full log: $log)"
go test -race -count=1 -timeout 20m -v ./... >"$log" 2>&1
rc=$?
grep -E '^(ok|FAIL|---|panic:|\s+--- FAIL)|^\s+\S+_test\.go:[0-9]+:' "$log" | grep -vE '^\s+--- (PASS|SKIP)' | grep -v '^--- PASS' | grep -v '^--- SKIP' || true
passed=$(grep -cE '^\s*--- PASS' "$log")
failed=$(grep -cE '^\s*--- FAIL' "$log")
skipped=$(grep -cE '^\s*--- SKIP' "$log")
if [[ $rc -ne 0 && $failed -eq 0 ]]; then
	failed=1 # a build failure or a panic outside a test
fi
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit $rc
