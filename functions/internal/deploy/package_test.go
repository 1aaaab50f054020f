package deploy_test

import (
	"archive/zip"
	"bytes"
	"context"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Size caps of the deployable: what Function Compute downloads and unpacks on every cold
// start. Both are deterministic for a given toolchain and go.sum.
const (
	maxBinaryBytes = 12 << 20      // bin/fc/main, stripped
	maxZipBytes    = 4_500 * 1_000 // dist/ppter-fc.zip (4.5 MB)
)

// TestNoReflectMethodCalls builds the function with the linker's dependency dump and fails
// when anything reaches reflect.Value.Method or MethodByName (text/template and
// html/template do): from then on the linker must keep every exported method of every
// reachable type, and the binary grows from about 11 MiB to 37 MiB.
func TestNoReflectMethodCalls(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the function; skipped in -short mode")
	}
	root := repoRoot(t)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -dumpdep", "-o", filepath.Join(t.TempDir(), "main"), "./functions/ppter")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	var deps bytes.Buffer
	cmd.Stdout, cmd.Stderr = &deps, &deps
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build -dumpdep: %v\n%s", err, lastLines(deps.String(), 20))
	}
	n := 0
	for _, line := range strings.Split(deps.String(), "\n") {
		// "caller <ReflectMethod> -> reflect.Value.MethodByName" marks the call site.
		if strings.Contains(line, "<ReflectMethod>") {
			if n++; n <= 5 {
				t.Errorf("the function binary calls methods through reflection: %s", line)
			}
		}
	}
	if n == 0 && !strings.Contains(deps.String(), " -> ") {
		t.Fatalf("go build -dumpdep printed no dependency lines; the check proves nothing:\n%s", lastLines(deps.String(), 20))
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// TestPackage runs scripts/package.sh (what `make package` and s.yaml's pre-deploy run)
// into a temporary directory and checks that it produces what s.yaml deploys: the code
// directory with the handler as a static linux/amd64 executable, the config beside it,
// and a zip of the same files with the exec bit kept.
func TestPackage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the function; skipped in -short mode")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not on PATH")
	}
	root := repoRoot(t)
	p := loadProject(t)
	props := p.fc3Resources(t)["ppter"]
	code, _ := props["code"].(string)
	handler, _ := props["handler"].(string)
	// package.sh writes $PPTER_DIST/fc, PPTER_DIST defaulting to <repo>/dist.
	if filepath.Clean(code) != filepath.Join("dist", "fc") {
		t.Fatalf("s.yaml code: got %q, want ./dist/fc (the directory scripts/package.sh fills)", code)
	}
	if mk, err := os.ReadFile(filepath.Join(root, "Makefile")); err == nil && !strings.Contains(string(mk), "scripts/package.sh") {
		t.Error("Makefile: the package target does not run scripts/package.sh")
	}

	dist := t.TempDir()
	config := filepath.Join(root, "functions", "internal", "config", "ppter.example.yaml")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", "package.sh"))
	cmd.Dir = t.TempDir() // the script must not depend on the caller's directory
	cmd.Env = append(os.Environ(), "PPTER_DIST="+dist, "GO="+goBin, "PPTER_PACKAGE_CONFIG="+config)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/package.sh: %v\n%s", err, out)
	}

	bin := filepath.Join(dist, filepath.Base(code), handler)
	fi, err := os.Stat(bin)
	if err != nil {
		t.Fatalf("handler %q not in the code directory: %v", handler, err)
	}
	t.Logf("function binary: %d bytes (%.1f MiB)", fi.Size(), float64(fi.Size())/(1<<20))
	if fi.Size() > maxBinaryBytes {
		t.Errorf("function binary is %d bytes, limit %d (is something reaching reflect.Value.MethodByName? see TestNoReflectMethodCalls)", fi.Size(), maxBinaryBytes)
	}
	if fi.Mode().Perm() != 0o755 {
		t.Errorf("%s: mode %v, want 0755", bin, fi.Mode().Perm())
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("%s is not an ELF executable: %v", bin, err)
	}
	if f.Machine != elf.EM_X86_64 || f.Type != elf.ET_EXEC {
		t.Errorf("%s: %v %v, want a linux/amd64 executable", bin, f.Machine, f.Type)
	}
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP || prog.Type == elf.PT_DYNAMIC {
			t.Errorf("%s: dynamically linked (%v), want static", bin, prog.Type)
		}
	}
	f.Close()
	wantFiles := map[string]os.FileMode{handler: 0o755, "ppter.yaml": 0o644}
	entries, err := os.ReadDir(filepath.Join(dist, "fc"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(wantFiles) {
		t.Errorf("code directory holds %d files, want %v", len(entries), wantFiles)
	}

	zipPath := filepath.Join(dist, "ppter-fc.zip")
	if zfi, err := os.Stat(zipPath); err == nil {
		t.Logf("ppter-fc.zip: %d bytes (%.1f MiB)", zfi.Size(), float64(zfi.Size())/(1<<20))
		if zfi.Size() > maxZipBytes {
			t.Errorf("ppter-fc.zip is %d bytes, limit %d", zfi.Size(), maxZipBytes)
		}
	}
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		t.Fatalf("ppter-fc.zip: %v", err)
	}
	defer zr.Close()
	if len(zr.File) != len(wantFiles) {
		t.Errorf("zip holds %d entries, want %d", len(zr.File), len(wantFiles))
	}
	for _, zf := range zr.File {
		want, ok := wantFiles[zf.Name]
		if !ok || path.Dir(zf.Name) != "." {
			t.Errorf("zip entry %q: unexpected (files sit at the zip's root)", zf.Name)
			continue
		}
		if zf.Mode().Perm() != want || !zf.Mode().IsRegular() {
			t.Errorf("zip entry %q: mode %v, want %v", zf.Name, zf.Mode(), want)
		}
		rc, err := zf.Open()
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		onDisk, _ := os.ReadFile(filepath.Join(dist, "fc", zf.Name))
		if !bytes.Equal(got, onDisk) {
			t.Errorf("zip entry %q differs from the code directory's file", zf.Name)
		}
	}
}
