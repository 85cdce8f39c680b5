package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A profile whose database file is something else (a text file copied over
// it, a truncated download) must fail at Open with a clear error and be left
// untouched.
func TestOpenFileThatIsNotSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	junk := bytes.Repeat([]byte("this is not a database\n"), 400)
	if err := os.WriteFile(path, junk, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(t.Context(), path, nil)
	if err == nil {
		s.Close()
		t.Fatal("Open of a text file succeeded")
	}
	if !errors.Is(err, ErrNotADatabase) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "move it out of the profile folder") {
		t.Errorf("Open of a text file: %v, want an error naming the file and saying it is not a database", err)
	}
	got, rerr := os.ReadFile(path)
	if rerr != nil || !bytes.Equal(got, junk) {
		t.Errorf("the file was changed by the failed Open (%v)", rerr)
	}
}
