package platform

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func newTestVault(t *testing.T) (*FileVault, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "profile")
	v, err := NewFileVault(dir)
	if err != nil {
		t.Fatal(err)
	}
	return v, dir
}

func TestFileVaultRoundTrip(t *testing.T) {
	ctx := t.Context()
	v, dir := newTestVault(t)

	if err := v.Set(ctx, "api-token", "tok-1"); err != nil {
		t.Fatal(err)
	}
	if err := v.Set(ctx, "osmind-refresh", "r-1"); err != nil {
		t.Fatal(err)
	}
	if err := v.Set(ctx, "api-token", "tok-2"); err != nil { // overwrite
		t.Fatal(err)
	}

	// A fresh instance reads what the first wrote: the data is on disk.
	v2, err := NewFileVault(dir)
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"api-token": "tok-2", "osmind-refresh": "r-1"} {
		got, err := v2.Get(ctx, key)
		if err != nil || got != want {
			t.Errorf("Get(%q) = %q, %v; want %q", key, got, err, want)
		}
	}

	if err := v2.Delete(ctx, "api-token"); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Get(ctx, "api-token"); !errors.Is(err, ErrSecretNotFound) {
		t.Errorf("Get after Delete: %v, want ErrSecretNotFound", err)
	}
	if got, err := v.Get(ctx, "osmind-refresh"); err != nil || got != "r-1" {
		t.Errorf("Delete removed the wrong key: Get = %q, %v", got, err)
	}
	if err := v.Delete(ctx, "api-token"); err != nil {
		t.Errorf("second Delete: %v, want nil", err)
	}

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != VaultFileName {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("profile folder holds %v, want only %s (no temp files left)", names, VaultFileName)
	}
}

func TestFileVaultNotFound(t *testing.T) {
	v, _ := newTestVault(t)
	// No file at all yet.
	if _, err := v.Get(t.Context(), "missing"); !errors.Is(err, ErrSecretNotFound) {
		t.Errorf("Get on empty vault: %v, want ErrSecretNotFound", err)
	}
	if err := v.Set(t.Context(), "other", "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Get(t.Context(), "missing"); !errors.Is(err, ErrSecretNotFound) {
		t.Errorf("Get of absent key: %v, want ErrSecretNotFound", err)
	}
	if err := v.Set(t.Context(), "", "x"); err == nil {
		t.Error("Set with empty key succeeded")
	}
}

func TestFileVaultPermissions(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no unix permission bits on Windows")
	}
	v, dir := newTestVault(t)
	if err := v.Set(t.Context(), "k", "v"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(v.Path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("vault mode = %o, want 600", fi.Mode().Perm())
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o700 {
		t.Errorf("profile folder mode = %o, want 700", di.Mode().Perm())
	}
}

func TestFileVaultCiphertextHidesPlaintext(t *testing.T) {
	v, _ := newTestVault(t)
	const key, secret = "nextvisit-token", "3|s3cr3t-bearer-token-value-xyz"
	if err := v.Set(t.Context(), key, secret); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(v.Path())
	if err != nil {
		t.Fatal(err)
	}
	for _, needle := range []string{
		secret, key,
		base64.StdEncoding.EncodeToString([]byte(secret)),
		base64.StdEncoding.EncodeToString([]byte(`{"` + key + `":"` + secret + `"}`)),
	} {
		if strings.Contains(string(raw), needle) {
			t.Errorf("vault file contains %q in the clear", needle)
		}
	}
	// Two writes of the same content differ: fresh salt and nonce each time.
	if err := v.Set(t.Context(), key, secret); err != nil {
		t.Fatal(err)
	}
	raw2, err := os.ReadFile(v.Path())
	if err != nil {
		t.Fatal(err)
	}
	if string(raw) == string(raw2) {
		t.Error("rewriting the same secrets produced an identical file; nonce or salt is reused")
	}
}

// corruptAsides lists the files a corrupt vault was moved to.
func corruptAsides(t *testing.T, v *FileVault) []string {
	t.Helper()
	m, err := filepath.Glob(v.Path() + ".corrupt-*")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func checkCorrupt(t *testing.T, v *FileVault, err error) {
	t.Helper()
	if !errors.Is(err, ErrVaultCorrupt) {
		t.Fatalf("got %v, want ErrVaultCorrupt", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, v.Path()) || !strings.Contains(msg, "sign in again") {
		t.Errorf("error %q should name %s and say to sign in again", msg, v.Path())
	}
	asides := corruptAsides(t, v)
	if len(asides) != 1 {
		t.Fatalf("moved-aside files: %v, want exactly one", asides)
	}
	if !strings.Contains(msg, asides[0]) {
		t.Errorf("error %q should name where the file went (%s)", msg, asides[0])
	}
	if _, err := os.Stat(v.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("corrupt vault still in place: %v", err)
	}
	// Signing in again works.
	if err := v.Set(t.Context(), "api-token", "fresh"); err != nil {
		t.Fatalf("Set after corruption: %v", err)
	}
	if got, err := v.Get(t.Context(), "api-token"); err != nil || got != "fresh" {
		t.Errorf("Get after re-sign-in = %q, %v", got, err)
	}
}

func TestFileVaultTamperDetected(t *testing.T) {
	v, _ := newTestVault(t)
	if err := v.Set(t.Context(), "api-token", "tok"); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(v.Path())
	if err != nil {
		t.Fatal(err)
	}
	var vf vaultFile
	if err := json.Unmarshal(raw, &vf); err != nil {
		t.Fatal(err)
	}
	vf.Ciphertext[0] ^= 0x01
	raw, err = json.Marshal(vf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(v.Path(), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = v.Get(t.Context(), "api-token")
	checkCorrupt(t, v, err)
	if !strings.Contains(err.Error(), "integrity") {
		t.Errorf("error %q should say the integrity check failed", err)
	}
}

func TestFileVaultGarbageFile(t *testing.T) {
	for name, content := range map[string][]byte{
		"not json":     []byte("hello, not a vault"),
		"empty":        {},
		"short nonce":  []byte(`{"version":1,"kdf":"hkdf-sha256","salt":"` + base64.StdEncoding.EncodeToString(make([]byte, 32)) + `","nonce":"AAAA","ciphertext":""}`),
		"wrong format": []byte(`{"version":99,"kdf":"rot13"}`),
		"too large":    make([]byte, maxVaultSize+10),
	} {
		t.Run(name, func(t *testing.T) {
			v, dir := newTestVault(t)
			if err := EnsureDir(dir); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(v.Path(), content, 0o600); err != nil {
				t.Fatal(err)
			}
			err := v.Set(t.Context(), "k", "v") // Set reads first, so it sees the damage too
			checkCorrupt(t, v, err)
		})
	}
}

// A vault copied to another machine (different machine-bound material)
// cannot be opened there.
func TestFileVaultBoundToMachine(t *testing.T) {
	v, dir := newTestVault(t)
	if err := v.Set(t.Context(), "api-token", "tok"); err != nil {
		t.Fatal(err)
	}
	other, err := NewFileVault(dir)
	if err != nil {
		t.Fatal(err)
	}
	other.machine = []byte("machine-id\x00some-other-machine\x00uid\x001000")
	_, err = other.Get(t.Context(), "api-token")
	checkCorrupt(t, other, err)
}

func TestFileVaultConcurrentSet(t *testing.T) {
	v, dir := newTestVault(t)
	const n = 24
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			errs <- v.Set(t.Context(), fmt.Sprintf("key-%d", i), fmt.Sprintf("value-%d", i))
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	reopened, err := NewFileVault(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		key := fmt.Sprintf("key-%d", i)
		got, err := reopened.Get(t.Context(), key)
		if want := fmt.Sprintf("value-%d", i); err != nil || got != want {
			t.Errorf("Get(%s) = %q, %v; want %q (a concurrent Set was lost)", key, got, err, want)
		}
	}
}
