# ppter — see README.md for what each target does.
SHELL := /bin/bash
GO ?= go
RUN_ADDR ?= 127.0.0.1:9000
FUZZTIME ?= 20s
# staticcheck at a pinned version, fetched through the module proxy like any module; its
# checks are chosen in staticcheck.conf.
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all function admin run test vet fmt-check staticcheck bench package deploy fuzz clean

all: function admin

## function: the deployable Function Compute binary (linux/amd64, static) at bin/fc/main
function:
	@mkdir -p bin/fc
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -ldflags "-s -w" -o bin/fc/main ./functions/ppter

## admin: the operator's CLI at bin/ppter-admin
admin:
	@mkdir -p bin
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o bin/ppter-admin ./functions/admin

## run: serve the function locally under the FC emulator on its embedded example config
## (memory store; Redis when PPTER_REDIS_URL is set). Keys are random per run unless set.
run: function
	@set -e; \
	export PPTER_KEY_HZ="$${PPTER_KEY_HZ:-local-$$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')}"; \
	export PPTER_KEY_BJ="$${PPTER_KEY_BJ:-local-$$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')}"; \
	export PPTER_ADMIN_TOKEN="$${PPTER_ADMIN_TOKEN:-local-$$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')}"; \
	export PPTER_STATE_KEY="$${PPTER_STATE_KEY:-$$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')}"; \
	if [ -n "$${PPTER_REDIS_URL:-}" ] && [ -z "$${PPTER_CONFIG:-}" ]; then \
	  sed -e 's|url: "memory://"|url: "$${PPTER_REDIS_URL}"|' -e 's|# single_node: true|single_node: true|' functions/internal/config/ppter.example.yaml > bin/ppter.local.yaml; \
	  export PPTER_CONFIG=bin/ppter.local.yaml; fi; \
	echo "Local keys for this run: hz=$$PPTER_KEY_HZ bj=$$PPTER_KEY_BJ admin=$$PPTER_ADMIN_TOKEN"; \
	echo "Ping as office hz:  curl -u hz:$$PPTER_KEY_HZ -X POST http://$(RUN_ADDR)/v1/ping"; \
	exec $(GO) run ./internal/fcemu/fclocal --binary bin/fc/main --listen $(RUN_ADDR)

## test: everything CI runs — vet, gofmt, staticcheck, and the whole suite under the race detector
test: vet fmt-check staticcheck
	$(GO) test -race -count=1 -timeout 20m ./...

vet:
	$(GO) vet ./...

staticcheck:
	$(STATICCHECK) ./...
	$(STATICCHECK) -tags e2e ./e2e/

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

## bench: the ping handler against a real Redis, next to a bare Redis round trip
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 2000x ./functions/internal/app/

## package: dist/fc (the code directory s.yaml deploys) and dist/ppter-fc.zip for manual upload
package:
	scripts/package.sh

## deploy: build and deploy with Serverless Devs (needs `s` configured with your account)
deploy: package
	s deploy -y

## fuzz: each fuzz target for FUZZTIME
fuzz:
	@set -e; $(GO) list -f '{{.ImportPath}} {{.Dir}}' ./... | while read pkg dir; do \
	  for fz in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/func //'); do \
	    echo "== $$pkg $$fz"; $(GO) test -run '^$$' -fuzz "^$$fz\$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; done

clean:
	rm -rf bin dist

-include pinger/pinger.mk
-include e2e/e2e.mk
