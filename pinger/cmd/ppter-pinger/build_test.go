package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// forbiddenDeps must never be linked into the pinger: it runs on small routers and needs
// no cloud SDK and no Redis client, and not the packaging library of scripts/dist.
var forbiddenDeps = []string{"github.com/alibabacloud-go", "github.com/aliyun", "github.com/redis", "github.com/goreleaser"}

func TestNoCloudOrRedisDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, bad := range forbiddenDeps {
			if strings.HasPrefix(pkg, bad) {
				t.Errorf("ppter-pinger depends on %s", pkg)
			}
		}
	}
}

// maxBinaryBytes is the limit of the stripped linux/amd64 binary.
const maxBinaryBytes = 8 << 20

func TestStrippedBinarySize(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "ppter-pinger")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	fi, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stripped linux/amd64 binary: %d bytes (%.2f MiB)", fi.Size(), float64(fi.Size())/(1<<20))
	if fi.Size() > maxBinaryBytes {
		t.Errorf("binary is %d bytes, limit %d", fi.Size(), maxBinaryBytes)
	}
}
