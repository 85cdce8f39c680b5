# Scribe. `make run` opens the app on the embedded sandbox; `make test` runs everything CI runs.
# Each target first installs the system packages it needs (scripts/deps.sh: quick when all are present).

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

# Fyne logs a locale error under C; deps.sh generates this locale where it is missing.
export LANG := en_US.UTF-8
unexport LC_ALL
# The GLFW driver, PortAudio and -race all need cgo.
export CGO_ENABLED := 1

GO ?= go
BIN := bin/scribe
HOST_OS = $(shell $(GO) env GOOS)

# migrated_fynedo is what `fyne build`/`fyne package` add for FyneApp.toml's `fyneDo = true`; a plain
# `go build` does not read FyneApp.toml, so the tag is given here, to every build, test and check alike.
TAGS ?= migrated_fynedo

# Tools run pinned with `go run`, nothing installed globally.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
GOVULNCHECK := golang.org/x/vuln/cmd/govulncheck@v1.8.0
# fyne.io/tools (the newer CLI) is refused by our module proxy; this one packages the same way.
FYNE := fyne.io/fyne/v2/cmd/fyne@v2.7.1

ARGS ?=
TESTFLAGS ?=
BENCH ?= .
BENCHFLAGS ?=
SMOKE_OUT ?= bin/smoke.png
VULNDB ?= https://vuln.go.dev
VULNCHECK ?= 1
PACKAGE_FLAGS ?=


.PHONY: fuzz
.PHONY: run build test vet unit smoke bench lint generate package clean deps deps-build deps-test deps-package

## run: build, then open the app on the embedded sandbox, signed in (ARGS="..." adds flags)
run: build
	./$(BIN) --sandbox $(ARGS)

## build: bin/scribe
build: deps-build
	$(GO) build -tags '$(TAGS)' -o $(BIN) ./cmd/scribe

## test: go vet, every test with -race (fyne/test UI tests included), then the real window under Xvfb
test: deps-test
	$(GO) vet -tags '$(TAGS)' ./...
	$(GO) test -tags '$(TAGS)' -race -shuffle=on -timeout 45m $(TESTFLAGS) ./...
	$(MAKE) --no-print-directory fuzz
	$(MAKE) --no-print-directory smoke

## fuzz: a short run of every fuzz target over outside input (FUZZTIME=2m for a longer one)
FUZZTIME ?= 8s
FUZZ_TARGETS := ./audio/importer:FuzzImportWAV ./audio/importer:FuzzImportMP3 \
	./sync/sandbox/recognize:FuzzDecodeAudio ./sync/api:FuzzDecodeResponse \
	./sync/sandbox:FuzzJSONBodies ./sync/sandbox:FuzzDraft ./audio/flacenc:FuzzRoundTrip \
	./sync/stream:FuzzServerMessage ./sync/ehr/oauthflow:FuzzCallback ./sync/ehr/mapping:FuzzReadCSV \
	./sync/ehr/oauthehr:FuzzReplies ./sync/ehr/simplepractice:FuzzReplies ./sync/ehr/nexhealth:FuzzReplies \
	./internal/logs:FuzzRedact
fuzz: deps-build
	@for t in $(FUZZ_TARGETS); do \
	  echo "fuzz $${t#*:} ($${t%%:*}) for $(FUZZTIME)"; \
	  $(GO) test -tags '$(TAGS)' -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s "$${t%%:*}" || exit 1; \
	done

vet: deps-build
	$(GO) vet -tags '$(TAGS)' ./...

unit: deps-build
	$(GO) test -tags '$(TAGS)' -race -shuffle=on -timeout 45m $(TESTFLAGS) ./...

## smoke: open bin/scribe --sandbox under Xvfb and photograph it into $(SMOKE_OUT)
smoke: build deps-test
	SMOKE_OUT='$(SMOKE_OUT)' bash scripts/xvfb-smoke.sh $(BIN)

## bench: every benchmark once (BENCH=regexp, BENCHFLAGS="-count 10" for benchstat)
bench: deps-build
	$(GO) test -tags '$(TAGS)' -run '^$$' -bench '$(BENCH)' -benchmem $(BENCHFLAGS) ./...

## lint: staticcheck and govulncheck (VULNDB=<mirror URL> where vuln.go.dev is unreachable)
lint: deps-build
	$(GO) run $(STATICCHECK) -tags '$(TAGS)' ./...
	@if [[ '$(VULNCHECK)' == 0 ]]; then echo 'lint: govulncheck SKIPPED because VULNCHECK=0' >&2; exit 0; fi; \
	echo '$(GO) run $(GOVULNCHECK) -db $(VULNDB) -tags $(TAGS) ./...'; \
	$(GO) run $(GOVULNCHECK) -db '$(VULNDB)' -tags '$(TAGS)' ./... || { rc=$$?; \
	  echo "lint: govulncheck failed (exit $$rc): exit 3 means the vulnerabilities listed above;" \
	       "a fetch error means $(VULNDB) is unreachable: point VULNDB at a mirror, or skip it knowingly" \
	       "with VULNCHECK=0." >&2; exit $$rc; }

## generate: go generate (API client, Icon.png)
generate:
	$(GO) generate ./...

## package: an installable package for this OS in bin/package (PACKAGE_FLAGS=-release for a release)
# fyne package bumps Build in the FyneApp.toml it reads, so it reads a copy and the tracked file stays put.
package: build deps-package
	rm -rf bin/package
	mkdir -p bin/package
	cp FyneApp.toml Icon.png bin/package/
	cd bin/package && $(GO) run $(FYNE) package -os $(HOST_OS) -executable '$(abspath $(BIN))' $(PACKAGE_FLAGS)
	rm bin/package/FyneApp.toml bin/package/Icon.png
	@ls -l bin/package

clean:
	rm -rf bin

deps:
	bash scripts/deps.sh all
deps-build:
	@bash scripts/deps.sh build
deps-test:
	@bash scripts/deps.sh test
deps-package:
	@bash scripts/deps.sh package
