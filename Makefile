# GuardCast — the two commands a newcomer needs are `make demo` and `make test`.
GO      ?= go
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/guardcast/guardcast/controller/internal/cli.Version=$(VERSION) -X main.version=$(VERSION)

# Debian packages the tests use: Mosquitto (the external-broker bus test).
TEST_PACKAGES := mosquitto:mosquitto

.PHONY: build demo test bench clean

build:
	@command -v $(GO) >/dev/null || { echo "Go is required: https://go.dev/doc/install (or apt-get install golang)"; exit 1; }
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/ ./controller/cmd/guardcast-controller ./agent/cmd/guardcast-agent

demo: build
	./scripts/demo.sh

test:
	@./scripts/ensure-packages.sh $(TEST_PACKAGES)
	./scripts/test.sh

bench:
	$(GO) test -run '^$$' -bench . -benchtime 200000x ./controller/internal/store/ ./controller/internal/serve/

clean:
	rm -rf bin var
