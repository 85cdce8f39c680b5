package logs

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func TestRotateKeepsNFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "logs")
	f, err := OpenFile(dir, RotateOptions{MaxBytes: 100, Keep: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// 40-byte lines: two fit in 100 bytes, the third rotates.
	line := func(i int) []byte { return fmt.Appendf(nil, "%-39d\n", i) }
	for i := range 20 {
		if n, err := f.Write(line(i)); err != nil || n != 40 {
			t.Fatalf("write %d: %d, %v", i, n, err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := "scribe.log scribe.log.1 scribe.log.2 scribe.log.3"; strings.Join(names, " ") != want {
		t.Fatalf("files = %v, want %s", names, want)
	}
	// Newest last: 18,19 in scribe.log; 16,17 in .1; 14,15 in .2; 12,13 in .3.
	for name, first := range map[string]int{"scribe.log": 18, "scribe.log.1": 16, "scribe.log.2": 14, "scribe.log.3": 12} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if want := append(line(first), line(first+1)...); !bytes.Equal(b, want) {
			t.Errorf("%s = %q, want %q", name, b, want)
		}
		if runtime.GOOS != "windows" {
			fi, err := os.Stat(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if perm := fi.Mode().Perm(); perm != 0o600 {
				t.Errorf("%s mode %o, want 600", name, perm)
			}
		}
	}
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o700 {
			t.Errorf("folder mode %o, want 700", perm)
		}
	}
	if _, err := f.Write([]byte("late\n")); !errors.Is(err, ErrClosed) {
		t.Errorf("write after close: %v, want ErrClosed", err)
	}
}

func TestOpenAppendsAndTightens(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	if err := os.WriteFile(path, []byte("old line\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		if err := os.Chmod(path, 0o644); err != nil { // umask may have narrowed it
			t.Fatal(err)
		}
	}
	f, err := OpenFile(dir, RotateOptions{MaxBytes: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("new line\n")); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "old line\nnew line\n" {
		t.Errorf("file = %q", b)
	}
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("mode %o, want 600", perm)
		}
	}
}

func TestOpenRejectsBadOptions(t *testing.T) {
	for _, o := range []RotateOptions{{MaxBytes: -1}, {Keep: -2}} {
		if _, err := OpenFile(t.TempDir(), o); err == nil {
			t.Errorf("OpenFile(%+v) succeeded", o)
		}
	}
	file := filepath.Join(t.TempDir(), "not-a-folder")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFile(file, RotateOptions{}); err == nil {
		t.Error("OpenFile on a file succeeded")
	}
}

// Concurrent loggers through the redacting handler: under -race, and every
// line must come out whole (no torn or lost lines across rotations).
func TestConcurrentWriters(t *testing.T) {
	dir := t.TempDir()
	const writers, lines = 8, 200
	// Keep enough files that nothing is dropped.
	f, err := OpenFile(dir, RotateOptions{MaxBytes: 4 << 10, Keep: 200})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(NewHandler(slog.NewTextHandler(f, nil)))
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			l := log.With("writer", w)
			for i := range lines {
				l.Info("line", "i", i, "email", "jane@example.com")
			}
		})
	}
	wg.Wait()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < 2 {
		t.Fatalf("only %d files: no rotation happened", len(entries))
	}
	seen := map[string]bool{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 4<<10 {
			t.Errorf("%s has %d bytes, over the limit", e.Name(), len(b))
		}
		for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			if !strings.Contains(l, "msg=line") || !strings.HasSuffix(l, "email=[redacted]") {
				t.Fatalf("torn or unredacted line in %s: %q", e.Name(), l)
			}
			seen[l[strings.Index(l, "writer="):]] = true
		}
	}
	if len(seen) != writers*lines {
		t.Errorf("%d distinct lines, want %d", len(seen), writers*lines)
	}
}
