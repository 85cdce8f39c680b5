package platform

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// Secrets stores small secrets (API tokens, OAuth refresh tokens) by key.
type Secrets interface {
	// Get returns the value stored under key, or an error wrapping
	// ErrSecretNotFound when there is none.
	Get(ctx context.Context, key string) (string, error)
	// Set stores value under key, replacing any earlier value.
	Set(ctx context.Context, key, value string) error
	// Delete removes key. Deleting a key that is not there is not an error,
	// so sign-out can be repeated safely.
	Delete(ctx context.Context, key string) error
}

// ErrSecretNotFound is returned (wrapped) by Secrets.Get when nothing is
// stored under the key.
var ErrSecretNotFound = errors.New("secret not found")

// SecretsEnv is the environment variable that chooses where secrets are
// kept: "file" forces the encrypted file vault (tests, CI), "keyring" forces
// the OS keyring and fails if there is none; unset or "auto" tries the
// keyring and falls back to the file.
const SecretsEnv = "SCRIBE_SECRETS"

// keyringProbeTimeout bounds the keyring probe: on Linux a Secret Service
// call goes over D-Bus, which can hang when no service answers.
const keyringProbeTimeout = 2 * time.Second

// KeyringService returns the keyring service name for a profile folder:
// "Scribe-" and a short hash of its absolute path, so two profiles on one
// account keep separate secrets.
func KeyringService(profileDir string) (string, error) {
	abs, err := filepath.Abs(profileDir)
	if err != nil {
		return "", fmt.Errorf("keyring service name for %s: %w", profileDir, err)
	}
	sum := sha256.Sum256([]byte(abs))
	return appDirName + "-" + hex.EncodeToString(sum[:6]), nil
}

// OpenSecrets returns the OS keyring under service when it works, and
// otherwise the encrypted FileVault in profileDir, logging one warning. The
// SecretsEnv variable can force either. log may be nil.
func OpenSecrets(ctx context.Context, profileDir, service string, log *slog.Logger) (Secrets, error) {
	return openSecrets(ctx, profileDir, newKeyring(service, osKeyring{}), log)
}

func openSecrets(ctx context.Context, profileDir string, kr *Keyring, log *slog.Logger) (Secrets, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	switch mode := os.Getenv(SecretsEnv); mode {
	case "file":
		log.Info("secrets are kept in an encrypted file in the profile folder", "reason", SecretsEnv+"=file")
		return NewFileVault(profileDir)
	case "keyring":
		if err := probeKeyring(ctx, kr); err != nil {
			return nil, fmt.Errorf("open OS keyring (%s=keyring): %w; unset %s to fall back to an encrypted file", SecretsEnv, err, SecretsEnv)
		}
		return kr, nil
	case "", "auto":
		err := probeKeyring(ctx, kr)
		if err == nil {
			return kr, nil
		}
		if ctx.Err() != nil {
			// The caller gave up; that says nothing about the keyring.
			return nil, fmt.Errorf("open secrets: %w", context.Cause(ctx))
		}
		v, verr := NewFileVault(profileDir)
		if verr != nil {
			return nil, fmt.Errorf("no OS keyring (%w) and no file vault: %w", err, verr)
		}
		log.Warn("no OS keyring available; secrets are kept in an encrypted file in the profile folder",
			"file", v.Path(), "keyring_error", err)
		return v, nil
	default:
		return nil, fmt.Errorf("%s=%q is not understood; use file, keyring or auto", SecretsEnv, mode)
	}
}

// probeKeyring proves the keyring works end to end with a throwaway entry;
// merely connecting is not enough (a locked or half-started Secret Service
// accepts the connection and then fails or hangs on use).
func probeKeyring(ctx context.Context, kr *Keyring) error {
	ctx, cancel := context.WithTimeout(ctx, keyringProbeTimeout)
	defer cancel()
	const key = "scribe-keyring-probe"
	want := rand.Text()
	if err := kr.Set(ctx, key, want); err != nil {
		return fmt.Errorf("probe keyring: %w", err)
	}
	got, err := kr.Get(ctx, key)
	if derr := kr.Delete(ctx, key); err == nil && derr != nil {
		err = derr
	}
	if err != nil {
		return fmt.Errorf("probe keyring: %w", err)
	}
	if got != want {
		return errors.New("probe keyring: read back a different value than was stored")
	}
	return nil
}
