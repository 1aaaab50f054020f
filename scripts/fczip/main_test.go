package main

import (
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestWriteKeepsModesAndIsReproducible(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main"), []byte("\x7fELF fake"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ppter.yaml"), []byte("redis: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	a, b := filepath.Join(out, "a.zip"), filepath.Join(out, "b.zip")
	if err := run([]string{"-o", a, dir}); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(filepath.Join(dir, "main"), time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC), time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	if err := run([]string{"-o", b, dir}); err != nil {
		t.Fatal(err)
	}
	da, _ := os.ReadFile(a)
	db, _ := os.ReadFile(b)
	if !bytes.Equal(da, db) {
		t.Error("two zips of the same files differ")
	}
	zr, err := zip.OpenReader(a)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	want := map[string]os.FileMode{"main": 0o755, "ppter.yaml": 0o644}
	if len(zr.File) != len(want) {
		t.Fatalf("got %d entries, want %d", len(zr.File), len(want))
	}
	for _, f := range zr.File {
		if f.Mode().Perm() != want[f.Name] {
			t.Errorf("%s: got mode %v, want %v", f.Name, f.Mode().Perm(), want[f.Name])
		}
	}
}

func TestRunErrors(t *testing.T) {
	for name, args := range map[string][]string{
		"no output":    {t.TempDir()},
		"no directory": {"-o", filepath.Join(t.TempDir(), "x.zip")},
		"empty dir":    {"-o", filepath.Join(t.TempDir(), "x.zip"), t.TempDir()},
		"missing dir":  {"-o", filepath.Join(t.TempDir(), "x.zip"), filepath.Join(t.TempDir(), "nope")},
	} {
		if err := run(args); err == nil {
			t.Errorf("%s: got nil, want an error", name)
		}
	}
}
