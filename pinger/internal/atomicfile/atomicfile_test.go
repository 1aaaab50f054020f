package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileReplaces(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b.conf")
	for _, body := range []string{"one\n", "two\n"} {
		if err := WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != body {
			t.Errorf("got %q, want %q", got, body)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("got %d entries, want 1 (temp files must not be left behind)", len(entries))
	}
}

func TestWriteFileFailsWithoutTouchingTarget(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o700)
	if os.Geteuid() == 0 {
		t.Skip("root ignores directory permissions")
	}
	if err := WriteFile(filepath.Join(dir, "x"), []byte("x"), 0o600); err == nil {
		t.Fatal("got nil error writing into a read-only directory")
	}
}
