package app

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/nextvisit/scribe/sync/store"
)

// The idle lock: after Config.IdleLock without activity the window covers
// itself, and only the account password opens it again. The server may be
// out of reach, so the password is checked here, against a verifier made at
// the last online sign-in on this computer: an argon2id hash of the
// password with a random salt. A verifier is not the password, cannot be
// sent anywhere in its place, and never leaves this computer; argon2id
// makes guessing passwords from a stolen profile slow (each guess costs
// verifierMemory of RAM and about 0.2 s of CPU).

// Verifier parameters, the OWASP minimum for argon2id raised to 64 MiB.
// They are written into each verifier, so changing them later still reads
// the verifiers made before.
const (
	verifierTime    = 2         // passes over the memory
	verifierMemory  = 64 * 1024 // KiB, 64 MiB
	verifierThreads = 2
	verifierSaltLen = 16
	verifierKeyLen  = 32
)

// Wrong passwords: after lockFreeTries wrong ones in a row, each further
// check waits lockFirstWait after the last failure, doubling up to
// lockMaxWait, so guessing at the lock screen is slow.
const (
	lockFreeTries = 5
	lockFirstWait = 5 * time.Second
	lockMaxWait   = 60 * time.Second
)

// DefaultIdleLock is how long the window waits without activity before it
// locks, unless Settings says otherwise.
const DefaultIdleLock = 10 * time.Minute

// Settings keys of the lock.
const (
	settingVerifier = "lock-verifier:"   // + account scope: the password verifier
	settingIdleLock = "idle-lock"        // a time.Duration string
	settingConsent  = "consent-required" // "true" or "false"
	settingLocked   = "lock-state"       // a lockRecord (JSON)
)

var (
	// ErrWrongPassword means Unlock was given a password other than the
	// one of the last online sign-in.
	ErrWrongPassword = errors.New("wrong password")
	// ErrNoVerifier means there is nothing to check a password against:
	// the account never signed in online on this computer.
	ErrNoVerifier = errors.New("no password verifier on this computer")
	// ErrTooManyTries means Unlock refused to check the password because
	// of earlier wrong ones; LockoutError says how long to wait.
	ErrTooManyTries = errors.New("too many wrong passwords")
)

// LockoutError is Unlock's answer while it waits after repeated wrong
// passwords. It matches ErrTooManyTries.
type LockoutError struct {
	Wait time.Duration // until the next password is checked
}

func (e *LockoutError) Error() string {
	secs := int((e.Wait + time.Second - 1) / time.Second)
	unit := "seconds"
	if secs == 1 {
		unit = "second"
	}
	return fmt.Sprintf("Too many wrong passwords — wait %d %s, then try again.", secs, unit)
}

func (e *LockoutError) Is(target error) bool { return target == ErrTooManyTries }

// lockState holds the lock's settings, whether the window is locked, and
// the count of wrong passwords. The last two are also kept in the profile
// (lockRecord), so that quitting and starting Scribe again neither opens
// the lock nor resets the wait.
type lockState struct {
	now func() time.Time // time.Now; tests move it

	// mu is held through a check (about 0.2 s), so concurrent guesses
	// queue and each counts.
	mu        sync.Mutex
	locked    bool              // Lock was called and no Unlock succeeded since
	fails     int               // wrong passwords in a row
	notBefore time.Time         // no check before this
	mem       map[string]string // verifiers of the embedded sandbox's accounts, whose address changes every run

	// setMu guards the settings apart from mu, so reading them never
	// waits for a password check.
	setMu   sync.Mutex
	idle    time.Duration // IdleLock
	consent bool          // ConsentRequired
}

func newLockState() *lockState { return &lockState{now: time.Now, mem: map[string]string{}} }

// lockRecord is what the profile keeps of lockState across restarts.
type lockRecord struct {
	Locked    bool      `json:"locked"`
	Fails     int       `json:"fails,omitempty"`
	NotBefore time.Time `json:"not_before,omitzero"`
}

// saveLock writes l's state to the profile; l.mu is held.
func (c *Core) saveLock(ctx context.Context) error {
	l := c.lock
	b, err := json.Marshal(lockRecord{Locked: l.locked, Fails: l.fails, NotBefore: l.notBefore})
	if err != nil {
		return fmt.Errorf("save the lock: %w", err)
	}
	if err := c.db.SetSetting(ctx, settingLocked, string(b)); err != nil {
		return fmt.Errorf("save the lock: %w", err)
	}
	return nil
}

// Lock marks the window locked, in this profile, until Unlock succeeds or
// the clinician signs in again: a Scribe started meanwhile opens locked.
func (c *Core) Lock(ctx context.Context) error {
	c.lock.mu.Lock()
	defer c.lock.mu.Unlock()
	c.lock.locked = true
	return c.saveLock(ctx)
}

// Locked reports whether the window was locked and not unlocked since,
// in this run or an earlier one.
func (c *Core) Locked() bool {
	c.lock.mu.Lock()
	defer c.lock.mu.Unlock()
	return c.lock.locked
}

// keepVerifier stores the verifier of password for s's account, made at a
// successful online sign-in. It also opens the lock and clears the count of
// wrong passwords: whoever just signed in knows the password.
func (c *Core) keepVerifier(ctx context.Context, s *session, password string) error {
	v, err := newVerifier(password)
	if err != nil {
		return fmt.Errorf("keep the password verifier: %w", err)
	}
	c.lock.mu.Lock()
	defer c.lock.mu.Unlock()
	c.lock.locked, c.lock.fails, c.lock.notBefore = false, 0, time.Time{}
	if s.server == c.embedded {
		c.lock.mem[s.scope()] = v
	} else if err := c.db.SetSetting(ctx, settingVerifier+s.scope(), v); err != nil {
		return fmt.Errorf("keep the password verifier: %w", err)
	}
	return c.saveLock(ctx)
}

// Unlock checks password against the verifier of the signed-in account,
// without the network. It returns nil when it matches; ErrWrongPassword
// when not; a *LockoutError (ErrTooManyTries) while it waits after
// lockFreeTries wrong ones in a row; ErrNoVerifier when this computer has
// no verifier (sign in again); ErrSignedOut when nobody is signed in.
func (c *Core) Unlock(ctx context.Context, password string) error {
	s, err := c.current()
	if err != nil {
		return err
	}
	l := c.lock
	l.mu.Lock()
	defer l.mu.Unlock()
	if wait := l.notBefore.Sub(l.now()); wait > 0 {
		return &LockoutError{Wait: wait}
	}
	v, ok := l.mem[s.scope()]
	if !ok {
		v, err = c.db.Setting(ctx, settingVerifier+s.scope())
		if errors.Is(err, store.ErrNotFound) {
			return explained("This computer cannot check your password yet — sign out and sign in again "+
				"while online, then the lock screen will accept it.", ErrNoVerifier)
		}
		if err != nil {
			return fmt.Errorf("unlock: %w", err)
		}
	}
	match, err := checkVerifier(v, password)
	if err != nil {
		c.log.Warn("the stored password verifier is unreadable", "error", err)
		return explained("The password check stored on this computer is damaged — sign out and sign in again.",
			fmt.Errorf("%w: %w", ErrNoVerifier, err))
	}
	if match {
		l.locked, l.fails, l.notBefore = false, 0, time.Time{}
		return c.saveLock(ctx)
	}
	l.fails++
	c.log.Info("wrong password at the lock screen", "tries_in_a_row", l.fails)
	if l.fails < lockFreeTries {
		if err := c.saveLock(ctx); err != nil {
			return err
		}
		return explained("Wrong password — type the password you sign in to Nextvisit with.", ErrWrongPassword)
	}
	wait := lockMaxWait
	if n := l.fails - lockFreeTries; n < 4 { // 5 s · 2^4 > 60 s
		wait = min(lockFirstWait<<n, lockMaxWait)
	}
	l.notBefore = l.now().Add(wait)
	if err := c.saveLock(ctx); err != nil {
		return err
	}
	return explained(fmt.Sprintf("Wrong password — after %d wrong tries, wait %d seconds before the next.",
		l.fails, int(wait/time.Second)), fmt.Errorf("%w (%w)", ErrWrongPassword, &LockoutError{Wait: wait}))
}

// newVerifier makes the verifier of password:
// "argon2id$v=19$t=2$m=65536$p=2$<salt>$<hash>", base64 without padding.
func newVerifier(password string) (string, error) {
	return makeVerifier(password, verifierTime, verifierMemory, verifierThreads)
}

func makeVerifier(password string, time, memory uint32, threads uint8) (string, error) {
	salt := make([]byte, verifierSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("make a salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, time, memory, threads, verifierKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("argon2id$v=%d$t=%d$m=%d$p=%d$%s$%s", argon2.Version, time, memory,
		threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// checkVerifier reports whether password matches the verifier v, comparing
// in constant time. Parameters are bounded so that a tampered verifier
// cannot make the check take all the memory.
func checkVerifier(v, password string) (bool, error) {
	parts := strings.Split(v, "$")
	if len(parts) != 7 || parts[0] != "argon2id" || parts[1] != "v="+strconv.Itoa(argon2.Version) {
		return false, errors.New("not an argon2id verifier of this version")
	}
	param := func(s, name string, hi uint64) (uint64, error) {
		n, err := strconv.ParseUint(strings.TrimPrefix(s, name+"="), 10, 32)
		if err != nil || !strings.HasPrefix(s, name+"=") || n == 0 || n > hi {
			return 0, fmt.Errorf("verifier parameter %s is %q", name, s)
		}
		return n, nil
	}
	t, err := param(parts[2], "t", 16)
	if err != nil {
		return false, err
	}
	m, err := param(parts[3], "m", 1<<20) // at most 1 GiB
	if err != nil {
		return false, err
	}
	p, err := param(parts[4], "p", 16)
	if err != nil {
		return false, err
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[5])
	if err != nil || len(salt) < 8 {
		return false, errors.New("verifier salt is unreadable")
	}
	want, err := b64.DecodeString(parts[6])
	if err != nil || len(want) < 16 || len(want) > 64 {
		return false, errors.New("verifier hash is unreadable")
	}
	got := argon2.IDKey([]byte(password), salt, uint32(t), uint32(m), uint8(p), uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// loadLockSettings reads the idle time and the consent setting at Open, so
// the window can ask for them without waiting on the database.
func (c *Core) loadLockSettings(ctx context.Context, idle time.Duration) error {
	switch {
	case idle < 0:
		return fmt.Errorf("open profile: IdleLock is %v; use 0 for the default of %v", idle, DefaultIdleLock)
	case idle == 0:
		idle = DefaultIdleLock
	}
	v, err := c.setting(ctx, settingIdleLock)
	if err != nil {
		return err
	}
	if v != "" {
		if d, err := time.ParseDuration(v); err == nil && checkIdleLock(d) == nil {
			idle = d
		} else {
			c.log.Warn("the idle lock setting is unreadable; using the default")
		}
	}
	v, err = c.setting(ctx, settingConsent)
	if err != nil {
		return err
	}
	consent := v != "false"
	if v, err = c.setting(ctx, settingLocked); err != nil {
		return err
	}
	if v != "" {
		var r lockRecord
		if err := json.Unmarshal([]byte(v), &r); err != nil {
			// Unreadable: stay on the safe side.
			c.log.Warn("the lock state is unreadable; starting locked")
			r = lockRecord{Locked: true}
		}
		c.lock.mu.Lock()
		c.lock.locked, c.lock.fails, c.lock.notBefore = r.Locked, r.Fails, r.NotBefore
		c.lock.mu.Unlock()
	}
	c.lock.setMu.Lock()
	c.lock.idle, c.lock.consent = idle, consent
	c.lock.setMu.Unlock()
	return nil
}

// Bounds of the idle time: under a minute the window would lock while the
// clinician reads; a working day is the longest that still protects a
// laptop left open overnight.
const (
	minIdleLock = time.Minute
	maxIdleLock = 8 * time.Hour
)

func checkIdleLock(d time.Duration) error {
	if d < minIdleLock || d > maxIdleLock {
		return &inputError{msg: fmt.Sprintf("The idle time before the window locks is %v — choose between %d and %d minutes.",
			d, int(minIdleLock/time.Minute), int(maxIdleLock/time.Minute))}
	}
	return nil
}

// IdleLock is how long the window may go without keyboard or mouse activity
// before it locks (Config.IdleLock, or SetIdleLock's choice).
func (c *Core) IdleLock() time.Duration {
	c.lock.setMu.Lock()
	defer c.lock.setMu.Unlock()
	return c.lock.idle
}

// SetIdleLock keeps d as the idle time before the window locks, in this
// profile. It is refused outside 1 minute to 8 hours.
func (c *Core) SetIdleLock(ctx context.Context, d time.Duration) error {
	if err := checkIdleLock(d); err != nil {
		return err
	}
	if err := c.db.SetSetting(ctx, settingIdleLock, d.String()); err != nil {
		return fmt.Errorf("save the idle lock: %w", err)
	}
	c.lock.setMu.Lock()
	c.lock.idle = d
	c.lock.setMu.Unlock()
	return nil
}

// ConsentRequired reports whether Record waits for the clinician to confirm
// the patient's consent (the default).
func (c *Core) ConsentRequired() bool {
	c.lock.setMu.Lock()
	defer c.lock.setMu.Unlock()
	return c.lock.consent
}

// SetConsentRequired keeps, in this profile, whether Record waits for the
// patient's consent.
func (c *Core) SetConsentRequired(ctx context.Context, required bool) error {
	if err := c.db.SetSetting(ctx, settingConsent, strconv.FormatBool(required)); err != nil {
		return fmt.Errorf("save the consent setting: %w", err)
	}
	c.lock.setMu.Lock()
	c.lock.consent = required
	c.lock.setMu.Unlock()
	return nil
}
