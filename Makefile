# The two commands: `make run` and `make test`. CI runs `make test` (.ci/run).
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -X github.com/vigilhq/vigil/version.Version=$(VERSION) -X github.com/vigilhq/vigil/version.Revision=$(REVISION) -X github.com/vigilhq/vigil/version.BuildDate=$(shell date -u +%Y-%m-%dT%H:%M:%SZ)
FUZZTIME ?= 10s
ARGS ?=

.PHONY: run build test test-deps check unit fuzz ui ui-check e2e bench bench-anomaly clean

## run: build and run Vigil on its embedded defaults (data in ./data, UI on http://127.0.0.1:9090)
run: build
	./bin/vigil serve $(ARGS)

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/vigil ./cmd/vigil

## test: everything CI runs: installs test dependencies, then checks, unit (race), fuzz, UI bundle, end-to-end
test: test-deps check unit fuzz ui-check e2e

test-deps:
	bash scripts/install-test-deps.sh

## check: formatting and vet
check:
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path '*/node_modules/*')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	cd e2e && $(GO) vet ./...

unit:
	$(GO) test -race -count=1 ./...

## fuzz: every fuzz target briefly (FUZZTIME each)
fuzz:
	bash scripts/fuzz.sh $(FUZZTIME)

ui:
	cd ui && npm ci --no-audit --no-fund && npm run build

## ui-check: the committed UI bundle matches its source
ui-check:
	bash ui/check-bundle.sh

e2e:
	cd e2e && $(GO) test -count=1 -timeout 25m ./...

bench:
	bash bench/run.sh $(ARGS)

## bench-anomaly: the detector over the whole NAB corpus, scored (all profiles, -cv), and its per-series cost
bench-anomaly:
	bash bench/anomaly/run.sh

clean:
	rm -rf bin
