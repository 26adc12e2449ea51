# GuardCast — the two commands a newcomer needs are `make demo` and `make test`.
GO      ?= go
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/guardcast/guardcast/controller/internal/cli.Version=$(VERSION) -X main.version=$(VERSION)

# Debian packages, as CHECK:PACKAGE (a command on PATH or a file).
# Building the agent needs ALSA's headers (oto, through cgo) and a C compiler.
BUILD_PACKAGES := gcc:gcc /usr/include/alsa/asoundlib.h:libasound2-dev
# The tests also use Mosquitto (the external-broker bus test), mpv (the TV
# driver against the real player), alsa-utils (the aplay fallback) and
# Unifont (Chinese on LED signs and keycards; read at run time, never committed).
TEST_PACKAGES := $(BUILD_PACKAGES) mosquitto:mosquitto mpv:mpv aplay:alsa-utils /usr/share/unifont/unifont.hex:unifont

.PHONY: build demo test bench clean

build:
	@command -v $(GO) >/dev/null || { echo "Go is required: https://go.dev/doc/install (or apt-get install golang)"; exit 1; }
	@./scripts/ensure-packages.sh $(BUILD_PACKAGES)
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/ ./controller/cmd/guardcast-controller ./agent/cmd/guardcast-agent

demo: build
	./scripts/demo.sh

test:
	@./scripts/ensure-packages.sh $(TEST_PACKAGES)
	./scripts/test.sh

bench:
	$(GO) test -run '^$$' -bench 'CommitProofs|IngestEndToEnd' -benchtime 200000x ./controller/internal/store/ ./controller/internal/serve/
	$(GO) test -run '^$$' -bench 'AlertPush1000' -benchtime 20x ./controller/internal/serve/
	$(GO) test -run '^$$' -bench 'Compile10k' ./controller/internal/schedule/
	$(GO) test -run '^$$' -bench 'PreviewDay' ./internal/plan/

clean:
	rm -rf bin var
