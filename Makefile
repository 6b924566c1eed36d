# brokerbench: the two commands a new user needs are `make run` and `make test`.
GO       ?= go
BIN      := bin
PKGS     := ./...
# Packages with goroutines of their own get the race detector in `make test`.
RACE_PKGS := ./metrics/... ./workloads/... ./refbroker/... ./adapters/... ./checkers/... ./gate/... ./chaos/... ./internal/... ./suite/... ./distributed/...
# The main job: smoke plus the mission scenarios, shortened to finish in
# about three minutes on a 2-core machine against the embedded refbroker.
# capacity-partitions is a saturation search per partition count; its probes
# are shortened to 1s and each search to 8s (see docs/capacity.md).
RUN_WORKLOADS := --workload smoke --workload throughput-per-partition --workload capacity-partitions --workload hot-keys --workload rebalance-storm
RUN_FLAGS ?= --duration 5s --warmup 1s --probe-duration 1s --probe-warmup 500ms --search-budget 8s --search-repeat 1
# staticcheck, pinned: `go run pkg@version` builds it through the module
# proxy without touching go.mod. The import-grouping check is a test
# (internal/lint), so every `go test ./...` runs it.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all build run report test test-short race bench lint fmt vet clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/brokerbench ./cmd/refbroker

## run: the main job on the embedded reference broker
run: build
	./$(BIN)/brokerbench run $(RUN_WORKLOADS) $(RUN_FLAGS)

## report: redraw the report of the latest results folder
report: build
	./$(BIN)/brokerbench report

## test: vet, lint, unit and integration tests, race detector on concurrent packages
test: lint
	$(GO) test -count=1 -timeout 30m $(PKGS)
	$(GO) test -count=1 -race -short -timeout 30m $(RACE_PKGS)
	@# Every benchmark once, so that none rots between `make bench` runs
	@# (-short: one round of each harness-overhead comparison).
	$(GO) test -count=1 -short -run '^$$' -bench . -benchtime 1x -timeout 30m $(PKGS)

test-short:
	$(GO) test -short $(PKGS)

## bench: the performance benchmarks recorded in docs/performance.md
bench:
	$(GO) test -run '^$$' -bench . -benchmem -timeout 30m $(PKGS)

## lint: gofmt, staticcheck (pinned) and the import-grouping check
lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) run $(STATICCHECK) ./...
	$(GO) test -count=1 -run TestImportGroups ./internal/lint

vet:
	$(GO) vet $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf $(BIN)
