package platform

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// VaultFileName is the FileVault's file inside the profile folder.
const VaultFileName = "secrets.vault"

// ErrVaultCorrupt is returned (wrapped) when the vault file cannot be read
// or decrypted. The file has then been moved aside, so signing in again
// stores fresh secrets.
var ErrVaultCorrupt = errors.New("secrets vault is damaged or unreadable")

const (
	vaultVersion = 1
	vaultKDF     = "hkdf-sha256"
	vaultKDFInfo = "scribe secrets.vault v1 aes-256-gcm"
	// maxVaultSize bounds what is read: the vault holds a few tokens, so
	// anything bigger is not ours.
	maxVaultSize = 1 << 20
)

// FileVault keeps secrets in one AES-256-GCM encrypted file, for machines
// where no OS keyring service runs (CI, headless Linux).
//
// What it protects against, honestly: the key is derived (HKDF-SHA256) from
// material bound to this machine and user — /etc/machine-id and the uid, or
// the hostname and uid where there is no machine id — and a random salt kept
// in the file. So a copy of the file taken off the machine (a backup, a
// synced folder, a stolen disk image without the OS) does not reveal the
// secrets. It does NOT protect against anyone who can run code as the same
// user on the same machine: they can read the same material and derive the
// same key. The OS keyring is preferred for that reason, and OpenSecrets
// only falls back to this file when no keyring works.
//
// A change of hostname (where there is no machine id) makes the vault
// unreadable; it is then treated as damaged and the user signs in again.
//
// Safe for concurrent use within one process. Writes are atomic (temp file,
// fsync, rename, fsync folder), so readers never see a half-written file.
type FileVault struct {
	dir     string
	path    string
	machine []byte // machine-bound key material; never logged

	mu sync.Mutex // serialises read-modify-write of the file
}

var _ Secrets = (*FileVault)(nil)

// vaultFile is the on-disk form. Salt and nonce are fresh on every write.
type vaultFile struct {
	Version    int    `json:"version"`
	KDF        string `json:"kdf"`
	Salt       []byte `json:"salt"`
	Nonce      []byte `json:"nonce"`
	Ciphertext []byte `json:"ciphertext"`
}

// NewFileVault returns the vault in profileDir (the file is created on the
// first Set).
func NewFileVault(profileDir string) (*FileVault, error) {
	if profileDir == "" {
		return nil, errors.New("open secrets vault: empty profile folder")
	}
	m, err := machineMaterial()
	if err != nil {
		return nil, fmt.Errorf("open secrets vault: %w", err)
	}
	return &FileVault{dir: profileDir, path: filepath.Join(profileDir, VaultFileName), machine: m}, nil
}

// Path is the vault file's location.
func (v *FileVault) Path() string { return v.path }

// Get implements Secrets.
func (v *FileVault) Get(ctx context.Context, key string) (string, error) {
	if key == "" {
		return "", errors.New("secrets vault read: empty key")
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	m, err := v.load()
	if err != nil {
		return "", err
	}
	val, ok := m[key]
	if !ok {
		return "", fmt.Errorf("secrets vault read %q: %w", key, ErrSecretNotFound)
	}
	return val, nil
}

// Set implements Secrets.
func (v *FileVault) Set(ctx context.Context, key, value string) error {
	if key == "" {
		return errors.New("secrets vault store: empty key")
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	m, err := v.load()
	if err != nil {
		return err
	}
	m[key] = value
	return v.store(m)
}

// Delete implements Secrets.
func (v *FileVault) Delete(ctx context.Context, key string) error {
	if key == "" {
		return errors.New("secrets vault delete: empty key")
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	m, err := v.load()
	if err != nil {
		return err
	}
	if _, ok := m[key]; !ok {
		return nil
	}
	delete(m, key)
	return v.store(m)
}

// load reads and decrypts the vault; a missing file is an empty vault. A
// file that cannot be decoded or authenticated is moved aside and reported
// as ErrVaultCorrupt, so the next Set starts a fresh vault.
func (v *FileVault) load() (map[string]string, error) {
	f, err := os.Open(v.path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read secrets vault %s: %w", v.path, err)
	}
	raw, err := io.ReadAll(io.LimitReader(f, maxVaultSize+1))
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("read secrets vault %s: %w", v.path, err)
	}
	m, why := v.decrypt(raw)
	if why == "" {
		return m, nil
	}
	aside := v.path + ".corrupt-" + time.Now().UTC().Format("20060102T150405.000000000Z")
	if err := os.Rename(v.path, aside); err != nil {
		return nil, fmt.Errorf("%w: %s %s, and moving it aside failed (%w); delete the file and sign in again",
			ErrVaultCorrupt, v.path, why, err)
	}
	return nil, fmt.Errorf("%w: %s %s (damaged, or copied from another computer); it was moved to %s — sign in again to store new credentials",
		ErrVaultCorrupt, v.path, why, aside)
}

// decrypt returns the vault's contents, or a reason it cannot.
func (v *FileVault) decrypt(raw []byte) (map[string]string, string) {
	if len(raw) > maxVaultSize {
		return nil, "is too large to be a secrets vault"
	}
	var vf vaultFile
	if err := json.Unmarshal(raw, &vf); err != nil {
		return nil, "is not a secrets vault"
	}
	if vf.Version != vaultVersion || vf.KDF != vaultKDF {
		return nil, fmt.Sprintf("has an unknown format (version %d, kdf %q)", vf.Version, vf.KDF)
	}
	aead, err := v.aead(vf.Salt)
	if err != nil || len(vf.Nonce) != aead.NonceSize() {
		return nil, "has a bad header"
	}
	plain, err := aead.Open(nil, vf.Nonce, vf.Ciphertext, nil)
	if err != nil {
		return nil, "failed its integrity check"
	}
	m := map[string]string{}
	if err := json.Unmarshal(plain, &m); err != nil {
		return nil, "holds unreadable contents"
	}
	return m, ""
}

func (v *FileVault) store(m map[string]string) error {
	plain, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode secrets vault: %w", err)
	}
	salt := make([]byte, 32)
	rand.Read(salt)
	aead, err := v.aead(salt)
	if err != nil {
		return fmt.Errorf("encrypt secrets vault: %w", err)
	}
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	out, err := json.Marshal(vaultFile{
		Version:    vaultVersion,
		KDF:        vaultKDF,
		Salt:       salt,
		Nonce:      nonce,
		Ciphertext: aead.Seal(nil, nonce, plain, nil),
	})
	if err != nil {
		return fmt.Errorf("encode secrets vault: %w", err)
	}
	if err := EnsureDir(v.dir); err != nil {
		return fmt.Errorf("write secrets vault: %w", err)
	}
	if err := writeFileAtomic(v.path, out); err != nil {
		return fmt.Errorf("write secrets vault %s: %w", v.path, err)
	}
	return nil
}

func (v *FileVault) aead(salt []byte) (cipher.AEAD, error) {
	if len(salt) != 32 {
		return nil, errors.New("bad salt length")
	}
	key, err := hkdf.Key(sha256.New, v.machine, salt, vaultKDFInfo, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// machineMaterial is the secret input to the vault's key: the machine id
// where the OS has one, else the hostname; always with the user id, so
// another account on the same machine derives a different key.
func machineMaterial() ([]byte, error) {
	uid := strconv.Itoa(os.Getuid())
	if runtime.GOOS == "windows" { // Getuid is -1 there; the SID names the user
		u, err := user.Current()
		if err != nil {
			return nil, fmt.Errorf("identify current user: %w", err)
		}
		uid = u.Uid
	}
	for _, p := range []string{"/etc/machine-id", "/var/lib/dbus/machine-id"} {
		if b, err := os.ReadFile(p); err == nil {
			if id := bytes.TrimSpace(b); len(id) > 0 {
				return []byte("machine-id\x00" + string(id) + "\x00uid\x00" + uid), nil
			}
		}
	}
	host, err := os.Hostname()
	if err != nil || strings.TrimSpace(host) == "" {
		return nil, fmt.Errorf("no machine id and no hostname to bind the vault key to (hostname: %v)", err)
	}
	return []byte("hostname\x00" + host + "\x00uid\x00" + uid), nil
}

// writeFileAtomic replaces path with data so that a crash leaves either the
// old or the new file, never a mix: write a 0600 temp file in the same
// folder, fsync it, rename it over path, fsync the folder so the rename
// itself survives power loss.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+"-*.tmp") // CreateTemp uses 0600
	if err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	committed = true
	return syncDir(dir)
}

func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		// Windows cannot fsync a folder opened with os.Open; there the
		// rename's durability is left to NTFS's metadata journal.
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
