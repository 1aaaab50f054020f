# Build targets of the office pinger; included by the top-level Makefile.
#   make pinger   → bin/ppter-pinger for this machine
#   make cross    → stripped static binaries for routers and desktops in dist/
#   make dist     → make cross, plus .deb and OpenWrt .ipk packages and dist/SHA256SUMS

PINGER_PKG     := ./pinger/cmd/ppter-pinger
PINGER_VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
PINGER_LDFLAGS := -s -w -X main.version=$(PINGER_VERSION)
PINGER_MAX_BYTES := 8388608

.PHONY: pinger cross dist

pinger:
	CGO_ENABLED=0 go build -trimpath -ldflags "$(PINGER_LDFLAGS)" -o bin/ppter-pinger $(PINGER_PKG)

# target: GOOS GOARCH extra-env output-suffix
PINGER_TARGETS := \
	linux,amd64,,linux-amd64 \
	linux,arm64,,linux-arm64 \
	linux,arm,GOARM=7,linux-armv7 \
	linux,mipsle,GOMIPS=softfloat,linux-mipsle-softfloat \
	linux,mips,GOMIPS=softfloat,linux-mips-softfloat \
	windows,amd64,,windows-amd64.exe \
	darwin,arm64,,darwin-arm64

cross:
	@mkdir -p dist
	@set -e; for t in $(PINGER_TARGETS); do \
		oldifs=$$IFS; IFS=,; set -- $$t; IFS=$$oldifs; os=$$1; arch=$$2; extra=$$3; suffix=$$4; \
		out=dist/ppter-pinger-$$suffix; \
		env CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $$extra go build -trimpath -ldflags "$(PINGER_LDFLAGS)" -o $$out $(PINGER_PKG); \
		printf '%-45s %9d bytes\n' $$out $$(wc -c < $$out); \
	done
	@size=$$(wc -c < dist/ppter-pinger-linux-amd64); \
	if [ $$size -gt $(PINGER_MAX_BYTES) ]; then echo "dist/ppter-pinger-linux-amd64 is $$size bytes, over $(PINGER_MAX_BYTES)"; exit 1; fi

# The packaging tool (scripts/dist, nfpm as a library) reads the binaries cross left.
dist: cross
	go run ./scripts/dist --dir dist --src . --version "$(PINGER_VERSION)"
