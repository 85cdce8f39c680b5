package app

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nextvisit/scribe/platform"
	"github.com/nextvisit/scribe/sync/sandbox"
)

// lockProfile is a profile folder and its vault, opened as often as a test
// restarts Scribe.
type lockProfile struct {
	dir   string
	vault *platform.FileVault
}

func newLockProfile(t *testing.T) *lockProfile {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "profile")
	vault, err := platform.NewFileVault(dir)
	if err != nil {
		t.Fatal(err)
	}
	return &lockProfile{dir: dir, vault: vault}
}

func (p *lockProfile) open(t *testing.T, idle time.Duration) *Core {
	t.Helper()
	c, err := Open(t.Context(), Config{ProfileDir: p.dir, Secrets: p.vault, MaxAttempts: 1, IdleLock: idle})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func lockSandbox(t *testing.T) (*sandbox.Server, string) {
	t.Helper()
	srv, err := sandbox.New(t.Context(), sandbox.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	url, err := srv.Start(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return srv, url
}

// The verifier made at sign-in opens the lock with the right password only,
// keeps no trace of the password, and still works after a restart with the
// server gone.
func TestUnlockOfflineWithVerifierFromSignIn(t *testing.T) {
	srv, url := lockSandbox(t)
	p := newLockProfile(t)
	c := p.open(t, 0)
	ctx := t.Context()

	if err := c.Unlock(ctx, sandbox.SamplePassword); !errors.Is(err, ErrSignedOut) {
		t.Errorf("Unlock before any sign-in: %v; want ErrSignedOut", err)
	}
	if _, err := c.SignIn(ctx, url, sandbox.SampleEmail, sandbox.SamplePassword); err != nil {
		t.Fatal(err)
	}
	s, err := c.current()
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.db.Setting(ctx, settingVerifier+s.scope())
	if err != nil {
		t.Fatalf("no verifier stored at sign-in: %v", err)
	}
	if !strings.HasPrefix(v, "argon2id$v=19$t=2$m=65536$p=2$") || strings.Contains(v, sandbox.SamplePassword) {
		t.Errorf("stored verifier %q: want argon2id with t=2, 64 MiB, 2 threads, and no password", v)
	}
	if err := c.Unlock(ctx, sandbox.SamplePassword); err != nil {
		t.Errorf("Unlock with the right password: %v", err)
	}
	err = c.Unlock(ctx, sandbox.SamplePassword+"x")
	if !errors.Is(err, ErrWrongPassword) || errors.Is(err, ErrTooManyTries) {
		t.Errorf("Unlock with a wrong password: %v; want ErrWrongPassword alone", err)
	}
	if msg := Explain(err); !strings.Contains(msg, "Wrong password") {
		t.Errorf("wrong password explained as %q", msg)
	}
	c.Close()

	// Restart with the server gone: the session resumes offline and the
	// lock still opens, checked on this computer.
	srv.Close()
	c = p.open(t, 0)
	if _, err := c.Resume(ctx); !errors.Is(err, ErrOffline) {
		t.Fatalf("resume with the server gone: %v; want ErrOffline", err)
	}
	if err := c.Unlock(ctx, sandbox.SamplePassword); err != nil {
		t.Errorf("offline Unlock with the right password: %v", err)
	}
	if err := c.Unlock(ctx, "not it"); !errors.Is(err, ErrWrongPassword) {
		t.Errorf("offline Unlock with a wrong password: %v", err)
	}
}

// A cheap verifier stands in for the real one where a test checks many
// passwords; the parameters travel inside the verifier.
func cheapVerifier(t *testing.T, password string) string {
	t.Helper()
	v, err := makeVerifier(password, 1, 64, 1)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// signedInAs gives c a session of an account whose verifier is v (none
// when v is ""), without a server.
func signedInAs(t *testing.T, c *Core, userID int64, v string) *session {
	t.Helper()
	s := &session{server: "http://127.0.0.1:1", token: "t"}
	s.user.Id = userID
	if v != "" {
		if err := c.db.SetSetting(t.Context(), settingVerifier+s.scope(), v); err != nil {
			t.Fatal(err)
		}
	}
	c.mu.Lock()
	c.server, c.sess = s.server, s
	c.mu.Unlock()
	return s
}

// After five wrong passwords in a row each further check waits 5 s, 10 s,
// 20 s, 40 s, then 60 s at most; meanwhile even the right password is not
// checked; the right one, once checked, starts the count again.
func TestUnlockBackoff(t *testing.T) {
	c := newLockProfile(t).open(t, 0)
	ctx := t.Context()
	now := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	c.lock.now = func() time.Time { return now }
	signedInAs(t, c, 7, cheapVerifier(t, "right"))

	lockout := func(err error) time.Duration {
		var le *LockoutError
		if !errors.As(err, &le) {
			return 0
		}
		return le.Wait
	}
	for i := 1; i < lockFreeTries; i++ {
		err := c.Unlock(ctx, "wrong")
		if !errors.Is(err, ErrWrongPassword) || lockout(err) != 0 {
			t.Fatalf("wrong try %d: %v; want ErrWrongPassword without a wait", i, err)
		}
	}
	for i, want := range []time.Duration{5, 10, 20, 40, 60, 60} {
		want *= time.Second
		err := c.Unlock(ctx, "wrong")
		if !errors.Is(err, ErrWrongPassword) || lockout(err) != want {
			t.Fatalf("wrong try %d: %v; want ErrWrongPassword and a wait of %v", lockFreeTries+i, err, want)
		}
		now = now.Add(want - time.Second)
		err = c.Unlock(ctx, "right")
		if !errors.Is(err, ErrTooManyTries) || errors.Is(err, ErrWrongPassword) || lockout(err) != time.Second {
			t.Fatalf("right password 1 s before the wait ends: %v; want ErrTooManyTries, 1 s left", err)
		}
		if msg := Explain(err); !strings.Contains(msg, "wait 1 second,") {
			t.Errorf("the wait is explained as %q", msg)
		}
		now = now.Add(time.Second)
	}
	if err := c.Unlock(ctx, "right"); err != nil {
		t.Fatalf("right password after the wait: %v", err)
	}
	for i := 1; i < lockFreeTries; i++ {
		if err := c.Unlock(ctx, "wrong"); lockout(err) != 0 {
			t.Fatalf("after a right password, wrong try %d waits: %v", i, err)
		}
	}
}

// Without a verifier for the account, or with a damaged one, Unlock says
// to sign in again instead of accepting or refusing the password.
func TestUnlockWithoutVerifier(t *testing.T) {
	c := newLockProfile(t).open(t, 0)
	ctx := t.Context()
	signedInAs(t, c, 8, "")
	err := c.Unlock(ctx, "anything")
	if !errors.Is(err, ErrNoVerifier) || errors.Is(err, ErrWrongPassword) {
		t.Errorf("Unlock without a verifier: %v; want ErrNoVerifier", err)
	}
	if msg := Explain(err); !strings.Contains(msg, "sign in again") {
		t.Errorf("no verifier explained as %q", msg)
	}
	// Another account's verifier does not open this one.
	signedInAs(t, c, 9, cheapVerifier(t, "right"))
	signedInAs(t, c, 8, "")
	if err := c.Unlock(ctx, "right"); !errors.Is(err, ErrNoVerifier) {
		t.Errorf("Unlock with only another account's verifier: %v; want ErrNoVerifier", err)
	}

	good := cheapVerifier(t, "right")
	for _, bad := range []string{
		"",
		"bcrypt$whatever",
		strings.Replace(good, "$m=64$", "$m=99999999$", 1), // would take 95 GiB
		strings.Replace(good, "$t=1$", "$t=0$", 1),
		strings.Replace(good, "$p=1$", "$p=x$", 1),
		good[:strings.LastIndex(good, "$")] + "$!!",
	} {
		signedInAs(t, c, 8, bad)
		if err := c.Unlock(ctx, "right"); !errors.Is(err, ErrNoVerifier) {
			t.Errorf("Unlock against verifier %q: %v; want ErrNoVerifier", bad, err)
		}
	}
}

// The idle time and the consent setting start from their defaults and
// last across restarts; out-of-range values are refused.
func TestLockSettingsPersist(t *testing.T) {
	p := newLockProfile(t)
	ctx := t.Context()
	if _, err := Open(ctx, Config{ProfileDir: p.dir, Secrets: p.vault, IdleLock: -time.Minute}); err == nil {
		t.Error("Open accepted a negative IdleLock")
	}
	c := p.open(t, 0)
	if got := c.IdleLock(); got != 10*time.Minute {
		t.Errorf("default IdleLock = %v; want 10m", got)
	}
	if !c.ConsentRequired() {
		t.Error("consent is not required by default")
	}
	for _, d := range []time.Duration{-time.Minute, 0, 30 * time.Second, 9 * time.Hour} {
		err := c.SetIdleLock(ctx, d)
		var in *inputError
		if !errors.As(err, &in) {
			t.Errorf("SetIdleLock(%v) = %v; want a refusal", d, err)
		}
	}
	if err := c.SetIdleLock(ctx, 25*time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := c.SetConsentRequired(ctx, false); err != nil {
		t.Fatal(err)
	}
	if c.IdleLock() != 25*time.Minute || c.ConsentRequired() {
		t.Errorf("after setting: IdleLock %v, consent %v", c.IdleLock(), c.ConsentRequired())
	}
	c.Close()

	// Config.IdleLock is only the default: the clinician's choice wins.
	c = p.open(t, 3*time.Minute)
	if c.IdleLock() != 25*time.Minute || c.ConsentRequired() {
		t.Errorf("after reopening: IdleLock %v, consent %v; want 25m, false", c.IdleLock(), c.ConsentRequired())
	}
	if err := c.SetConsentRequired(ctx, true); err != nil {
		t.Fatal(err)
	}
	c.Close()
	c = p.open(t, 0)
	if !c.ConsentRequired() {
		t.Error("consent turned on again did not last")
	}

	// A fresh profile takes Config.IdleLock as its default.
	if got := newLockProfile(t).open(t, 3*time.Minute).IdleLock(); got != 3*time.Minute {
		t.Errorf("IdleLock with Config.IdleLock 3m = %v", got)
	}
}

// A locked window stays locked across a restart, and so does the wait
// after wrong passwords; the right password, or a new sign-in, opens it.
func TestLockSurvivesRestart(t *testing.T) {
	_, url := lockSandbox(t)
	p := newLockProfile(t)
	ctx := t.Context()
	c := p.open(t, 0)
	if c.Locked() {
		t.Fatal("a fresh profile starts locked")
	}
	if _, err := c.SignIn(ctx, url, sandbox.SampleEmail, sandbox.SamplePassword); err != nil {
		t.Fatal(err)
	}
	if err := c.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	for range lockFreeTries {
		if err := c.Unlock(ctx, "wrong"); !errors.Is(err, ErrWrongPassword) {
			t.Fatalf("wrong password: %v", err)
		}
	}
	c.Close()

	c = p.open(t, 0)
	if !c.Locked() {
		t.Fatal("the lock did not survive a restart")
	}
	if _, err := c.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Unlock(ctx, sandbox.SamplePassword); !errors.Is(err, ErrTooManyTries) {
		t.Fatalf("right password during the wait, after a restart: %v; want ErrTooManyTries", err)
	}
	c.lock.now = func() time.Time { return time.Now().Add(lockFirstWait) }
	if err := c.Unlock(ctx, sandbox.SamplePassword); err != nil {
		t.Fatalf("right password after the wait: %v", err)
	}
	if c.Locked() {
		t.Error("still locked after the right password")
	}
	if err := c.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	c.Close()

	c = p.open(t, 0)
	if !c.Locked() {
		t.Fatal("locked again, but open after a restart")
	}
	if _, err := c.SignIn(ctx, url, sandbox.SampleEmail, sandbox.SamplePassword); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if c = p.open(t, 0); c.Locked() {
		t.Error("a new sign-in did not open the lock")
	}
}
