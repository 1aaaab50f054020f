# make e2e: the proof on a real network (needs root; see e2e/doc.go and the README's
# Reliability section). Builds network namespaces, runs Redis, the function under the FC
# emulator, two pingers and real tunnels, moves the offices' addresses and prints heal times.
.PHONY: e2e
e2e:
	$(GO) test -tags e2e -count=1 -v -timeout 15m ./e2e/
