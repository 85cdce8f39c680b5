// Package platform holds what differs between operating systems: where
// Scribe keeps its data, where secrets live, how the browser is opened, and
// a cheap network reachability probe. It imports no other package of Scribe
// and nothing from Fyne, so the CLI and tests can use it headless.
package platform

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// appDirName is the folder Scribe owns inside the OS's per-user data dir.
const appDirName = "Scribe"

// DefaultProfileDir returns the per-user data folder for Scribe:
// $XDG_DATA_HOME/Scribe or ~/.local/share/Scribe on Linux and other unixes,
// ~/Library/Application Support/Scribe on macOS and %AppData%\Scribe on
// Windows. It does not create the folder; see EnsureDir.
func DefaultProfileDir() (string, error) {
	switch runtime.GOOS {
	case "windows", "darwin", "ios", "plan9":
		// os.UserConfigDir is exactly the data location on these systems
		// (%AppData%, ~/Library/Application Support).
		dir, err := os.UserConfigDir()
		if err != nil {
			return "", fmt.Errorf("find user data folder: %w (pass --profile DIR)", err)
		}
		return filepath.Join(dir, appDirName), nil
	}
	// The XDG spec says a relative XDG_DATA_HOME is invalid and must be ignored.
	if dir := os.Getenv("XDG_DATA_HOME"); dir != "" && filepath.IsAbs(dir) {
		return filepath.Join(dir, appDirName), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find user data folder: %w (set HOME or XDG_DATA_HOME, or pass --profile DIR)", err)
	}
	return filepath.Join(home, ".local", "share", appDirName), nil
}

// EnsureDir creates path (and missing parents) with mode 0700. On unix an
// existing folder that others can read or enter is tightened to 0700,
// because profile folders hold patient data and the secrets vault.
func EnsureDir(path string) error {
	if path == "" {
		return errors.New("ensure folder: empty path")
	}
	if err := os.MkdirAll(path, 0o700); err != nil {
		return fmt.Errorf("create folder %s: %w", path, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("create folder %s: %w", path, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("create folder %s: it exists and is not a folder; move it away or choose another --profile", path)
	}
	// Windows has no unix permission bits; its ACLs under %AppData% are
	// already per-user.
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(path, 0o700); err != nil {
			return fmt.Errorf("restrict folder %s to its owner: %w", path, err)
		}
	}
	return nil
}
