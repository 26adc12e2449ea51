#!/usr/bin/env bash
# test.sh — the whole test suite (`make test`): formatting, vet, and every
# package's tests under the race detector, ending with one summary line
# ("tests: N passed, N failed, N skipped"). The raw `go test -json` stream
# is kept in var/test.json.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p var

echo ">> gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './var/*'))
if [[ -n $unformatted ]]; then
	echo "gofmt would change:"; echo "$unformatted"
	echo "tests: 0 passed, 1 failed, 0 skipped (gofmt)"
	exit 1
fi
echo ">> go vet ./..."
if ! go vet ./...; then
	echo "tests: 0 passed, 1 failed, 0 skipped (go vet)"
	exit 1
fi
go build -o var/testreport ./scripts/testreport || exit 1

echo ">> go test -race ./..."
go test -race -count=1 -timeout 20m -json ./... 2>&1 | tee var/test.json | var/testreport
