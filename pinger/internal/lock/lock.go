// Package lock holds an exclusive advisory lock on a file so that overlapping pinger runs
// (a slow cron run and the next one, or cron and --watch) never apply changes at once.
package lock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrLocked means another process holds the lock.
var ErrLocked = errors.New("another ppter-pinger run holds the lock")

// Lock is a held lock; Release frees it.
type Lock struct {
	f *os.File
}

// Acquire takes the lock at path without waiting, creating the file (and its directory)
// when missing. It returns an error wrapping ErrLocked when another process holds it.
func Acquire(path string) (*Lock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := tryLock(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return &Lock{f: f}, nil
}

// Release frees the lock. The file stays, so its inode is stable for the next run.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := unlock(l.f)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}
