package platform

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestDefaultProfileDirXDG(t *testing.T) {
	switch runtime.GOOS {
	case "windows", "darwin", "ios", "plan9":
		t.Skip("XDG applies to Linux and other unixes")
	}
	data := t.TempDir()
	home := t.TempDir()
	t.Setenv("HOME", home)

	t.Setenv("XDG_DATA_HOME", data)
	got, err := DefaultProfileDir()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(data, "Scribe"); got != want {
		t.Errorf("with XDG_DATA_HOME: got %q, want %q", got, want)
	}

	for _, xdg := range []string{"", "relative/dir"} { // the spec says ignore relative paths
		t.Setenv("XDG_DATA_HOME", xdg)
		got, err := DefaultProfileDir()
		if err != nil {
			t.Fatal(err)
		}
		if want := filepath.Join(home, ".local", "share", "Scribe"); got != want {
			t.Errorf("XDG_DATA_HOME=%q: got %q, want %q", xdg, got, want)
		}
	}
}

func TestEnsureDirCreatesPrivateFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b", "Scribe")
	if err := EnsureDir(dir); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.IsDir() {
		t.Fatalf("%s is not a folder", dir)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o700 {
		t.Errorf("mode = %o, want 700", fi.Mode().Perm())
	}
	if err := EnsureDir(dir); err != nil { // idempotent
		t.Fatalf("second EnsureDir: %v", err)
	}
}

func TestEnsureDirTightensExistingFolder(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no unix permission bits on Windows")
	}
	dir := filepath.Join(t.TempDir(), "open")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // defeat the umask
		t.Fatal(err)
	}
	if err := EnsureDir(dir); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("mode = %o, want 700", fi.Mode().Perm())
	}
}

func TestEnsureDirRejectsFileAndEmpty(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err := EnsureDir(f)
	if err == nil || !strings.Contains(err.Error(), f) {
		t.Errorf("EnsureDir(file) = %v, want an error naming %s", err, f)
	}
	if err := EnsureDir(""); err == nil {
		t.Error("EnsureDir(\"\") succeeded")
	}
}

func TestDeviceName(t *testing.T) {
	host, err := os.Hostname()
	if err != nil || host == "" {
		t.Skip("no hostname on this machine")
	}
	got := DeviceName()
	label, _, _ := strings.Cut(host, ".")
	if want := "Scribe on " + label; got != want {
		t.Errorf("DeviceName() = %q, want %q (hostname %q)", got, want, host)
	}
}
