package platform

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/zalando/go-keyring"
)

// These tests cover Scribe's own wrapping logic around go-keyring (error
// mapping, context bounds, the probe and the fallback choice). The OS
// keyring itself is replaced by keyring.MockInit / MockInitWithError, or by
// a backend that never answers; no test here touches a real keyring.

// logRecorder is an slog.Handler that keeps records for inspection.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logRecorder) WithGroup(string) slog.Handler            { return h }
func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	return nil
}

func (h *logRecorder) atLeast(level slog.Level) []slog.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []slog.Record
	for _, r := range h.records {
		if r.Level >= level {
			out = append(out, r)
		}
	}
	return out
}

// hangingBackend never answers until the test ends, like a D-Bus call to a
// Secret Service that is stuck.
type hangingBackend struct{ release chan struct{} }

func newHangingBackend(t *testing.T) hangingBackend {
	h := hangingBackend{release: make(chan struct{})}
	t.Cleanup(func() { close(h.release) })
	return h
}

func (h hangingBackend) Get(string, string) (string, error) {
	<-h.release
	return "", errors.New("released")
}
func (h hangingBackend) Set(string, string, string) error { <-h.release; return errors.New("released") }
func (h hangingBackend) Delete(string, string) error      { <-h.release; return errors.New("released") }

func TestKeyringWrapperWithMock(t *testing.T) {
	keyring.MockInit()
	ctx := t.Context()
	a, b := NewKeyring("Scribe-aaaa"), NewKeyring("Scribe-bbbb")

	if err := a.Set(ctx, "api-token", "tok-a"); err != nil {
		t.Fatal(err)
	}
	if got, err := a.Get(ctx, "api-token"); err != nil || got != "tok-a" {
		t.Errorf("Get = %q, %v; want tok-a", got, err)
	}
	// Another profile's service does not see it.
	if _, err := b.Get(ctx, "api-token"); !errors.Is(err, ErrSecretNotFound) {
		t.Errorf("other service Get: %v, want ErrSecretNotFound", err)
	}
	if err := a.Delete(ctx, "api-token"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Get(ctx, "api-token"); !errors.Is(err, ErrSecretNotFound) {
		t.Errorf("Get after Delete: %v, want ErrSecretNotFound", err)
	}
	if err := a.Delete(ctx, "api-token"); err != nil {
		t.Errorf("Delete of absent key: %v, want nil", err)
	}
	if err := a.Set(ctx, "", "x"); err == nil {
		t.Error("Set with empty key succeeded")
	}
	if err := NewKeyring("").Set(ctx, "k", "x"); err == nil {
		t.Error("Set with empty service succeeded")
	}
}

func TestKeyringWrapperMapsErrors(t *testing.T) {
	keyring.MockInitWithError(keyring.ErrSetDataTooBig)
	err := NewKeyring("Scribe-x").Set(t.Context(), "k", "v")
	if !errors.Is(err, keyring.ErrSetDataTooBig) || !strings.Contains(err.Error(), "too large") {
		t.Errorf("Set = %v, want a too-large error wrapping keyring.ErrSetDataTooBig", err)
	}
	if errors.Is(err, ErrSecretNotFound) {
		t.Errorf("too-large error mistaken for not-found: %v", err)
	}
}

func TestKeyringCallStopsWithContext(t *testing.T) {
	k := newKeyring("Scribe-x", newHangingBackend(t))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := k.Get(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get on a stuck keyring with a cancelled context: %v, want context.Canceled", err)
	}
}

func TestOpenSecretsAutoUsesWorkingKeyring(t *testing.T) {
	t.Setenv(SecretsEnv, "")
	keyring.MockInit()
	rec := &logRecorder{}
	s, err := OpenSecrets(t.Context(), t.TempDir(), "Scribe-test", slog.New(rec))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*Keyring); !ok {
		t.Fatalf("OpenSecrets returned %T, want *Keyring", s)
	}
	if w := rec.atLeast(slog.LevelWarn); len(w) != 0 {
		t.Errorf("unexpected warnings: %v", w)
	}
	// The probe cleans up after itself.
	if _, err := keyring.Get("Scribe-test", "scribe-keyring-probe"); !errors.Is(err, keyring.ErrNotFound) {
		t.Errorf("probe key left in keyring: %v", err)
	}
}

func TestOpenSecretsFallsBackToFile(t *testing.T) {
	t.Setenv(SecretsEnv, "auto")
	keyring.MockInitWithError(errors.New("org.freedesktop.secrets was not provided by any .service files"))
	rec := &logRecorder{}
	dir := filepath.Join(t.TempDir(), "profile")
	s, err := OpenSecrets(t.Context(), dir, "Scribe-test", slog.New(rec))
	if err != nil {
		t.Fatal(err)
	}
	v, ok := s.(*FileVault)
	if !ok {
		t.Fatalf("OpenSecrets returned %T, want *FileVault", s)
	}
	if want := filepath.Join(dir, VaultFileName); v.Path() != want {
		t.Errorf("vault at %s, want %s", v.Path(), want)
	}
	warns := rec.atLeast(slog.LevelWarn)
	if len(warns) != 1 || !strings.Contains(warns[0].Message, "no OS keyring available") {
		t.Errorf("warnings = %v, want exactly one saying no OS keyring is available", warns)
	}
	if err := s.Set(t.Context(), "api-token", "tok"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(t.Context(), "api-token"); err != nil || got != "tok" {
		t.Errorf("Get = %q, %v", got, err)
	}
}

func TestOpenSecretsFallsBackWhenKeyringHangs(t *testing.T) {
	t.Setenv(SecretsEnv, "")
	rec := &logRecorder{}
	// Bounded by the probe's own timeout, not by the (absent) keyring.
	s, err := openSecrets(t.Context(), t.TempDir(), newKeyring("Scribe-x", newHangingBackend(t)), slog.New(rec))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*FileVault); !ok {
		t.Fatalf("got %T, want *FileVault", s)
	}
	if n := len(rec.atLeast(slog.LevelWarn)); n != 1 {
		t.Errorf("%d warnings, want 1", n)
	}
}

func TestOpenSecretsCallerCancelIsNotAFallback(t *testing.T) {
	t.Setenv(SecretsEnv, "")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	s, err := openSecrets(ctx, t.TempDir(), newKeyring("Scribe-x", newHangingBackend(t)), nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("OpenSecrets with cancelled context = %T, %v; want context.Canceled", s, err)
	}
}

func TestOpenSecretsForced(t *testing.T) {
	t.Run("file", func(t *testing.T) {
		t.Setenv(SecretsEnv, "file")
		keyring.MockInit() // a working keyring is ignored
		s, err := OpenSecrets(t.Context(), t.TempDir(), "Scribe-test", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := s.(*FileVault); !ok {
			t.Errorf("got %T, want *FileVault", s)
		}
	})
	t.Run("keyring unavailable", func(t *testing.T) {
		t.Setenv(SecretsEnv, "keyring")
		keyring.MockInitWithError(errors.New("no dbus"))
		var buf bytes.Buffer
		s, err := OpenSecrets(t.Context(), t.TempDir(), "Scribe-test", slog.New(slog.NewTextHandler(&buf, nil)))
		if err == nil || !strings.Contains(err.Error(), SecretsEnv) {
			t.Errorf("got %T, %v; want an error naming %s", s, err, SecretsEnv)
		}
	})
	t.Run("keyring available", func(t *testing.T) {
		t.Setenv(SecretsEnv, "keyring")
		keyring.MockInit()
		s, err := OpenSecrets(t.Context(), t.TempDir(), "Scribe-test", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := s.(*Keyring); !ok {
			t.Errorf("got %T, want *Keyring", s)
		}
	})
	t.Run("unknown value", func(t *testing.T) {
		t.Setenv(SecretsEnv, "plaintext")
		_, err := OpenSecrets(t.Context(), t.TempDir(), "Scribe-test", nil)
		if err == nil || !strings.Contains(err.Error(), "plaintext") {
			t.Errorf("got %v, want an error naming the bad value", err)
		}
	})
}

func TestKeyringService(t *testing.T) {
	base := t.TempDir()
	a, err := KeyringService(filepath.Join(base, "a"))
	if err != nil {
		t.Fatal(err)
	}
	a2, err := KeyringService(filepath.Join(base, "x", "..", "a"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := KeyringService(filepath.Join(base, "b"))
	if err != nil {
		t.Fatal(err)
	}
	if a != a2 {
		t.Errorf("same folder, different names: %q vs %q", a, a2)
	}
	if a == b {
		t.Errorf("two profiles share the service name %q", a)
	}
	if !strings.HasPrefix(a, "Scribe-") {
		t.Errorf("service %q should start with Scribe-", a)
	}
}
