# AshReports: `make run` starts the server with its embedded defaults;
# `make test` runs the whole test suite (what CI runs through .ci/run).

GO ?= go
ADDR ?= 127.0.0.1:8080
DATA_DIR ?= ashreports-data

.PHONY: run test assets build lint check-go test-go fuzz clean

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

# The browser runtime and styles, bundled by esbuild into the embedded
# assets directory.
assets: node_modules/.package-lock.json
	npm run build

build: assets
	$(GO) build -o bin/ashreports ./cmd/ashreports

run: build
	./bin/ashreports serve --addr $(ADDR) --data-dir $(DATA_DIR)

lint: assets
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags portable ./internal/live ./internal/bench
	$(GO) tool staticcheck ./...
	npm run typecheck
	GOOS=darwin $(GO) build ./...
	GOOS=windows $(GO) build ./...

# The portable twins of the Linux fast paths (the live writer's
# non-blocking writes, the bench's epoll pollers) run too, built with the
# tag portable, as they run on macOS and Windows.
test-go: assets
	$(GO) test -race -count=1 ./...
	$(GO) test -race -count=1 -tags portable ./internal/live ./internal/bench

# Brief fuzzing of the decoders of untrusted input: the WebSocket frames
# a client sends, the socket's client messages and the publish payload
# (their seed corpora also run in test-go), about 10 s each on the
# reference machine. The budgets are counts, not durations: a duration
# races Go 1.26's fuzzing coordinator when it ends and fails a run with a
# bare "context deadline exceeded" under load (golang/go#75804, fixed in
# Go 1.27). FUZZTIME=1m (or 1000000x) fuzzes each target that long instead.
FUZZTIME ?=
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzReadMessage$$' -fuzztime $(or $(FUZZTIME),150000x) ./internal/websocket
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeMessage$$' -fuzztime $(or $(FUZZTIME),30000x) ./internal/live
	$(GO) test -run '^$$' -fuzz '^FuzzParseOp$$' -fuzztime $(or $(FUZZTIME),150000x) ./chart

test: lint test-go fuzz

clean:
	rm -rf bin internal/web/assets/dist/app.* test-artifacts
