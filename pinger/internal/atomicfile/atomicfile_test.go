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

// TestWriteFileFailsWithoutTouchingTarget makes the final rename fail (the target is a
// directory that is not empty, which stops root too) and wants an error, the target as it
// was and no temp file left.
func TestWriteFileFailsWithoutTouchingTarget(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x")
	if err := os.MkdirAll(filepath.Join(path, "keep"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("x"), 0o600); err == nil {
		t.Fatal("got nil error replacing a directory")
	}
	if _, err := os.Stat(filepath.Join(path, "keep")); err != nil {
		t.Errorf("target touched: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("got %d entries, want 1 (the temp file must be removed)", len(entries))
	}
}
