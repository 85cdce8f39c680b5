package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/nextvisit/scribe/platform"
	"github.com/nextvisit/scribe/sync/api"
	"github.com/nextvisit/scribe/sync/store"
)

// ErrSignedOut means there is no usable session: nobody signed in on this
// server in this profile, or the server no longer accepts the token.
var ErrSignedOut = errors.New("not signed in")

// revokeTimeout bounds the best-effort server-side revocation at sign-out:
// the local token goes regardless, so a slow server must not hold it up.
const revokeTimeout = 5 * time.Second

// secretsTimeout bounds writing or deleting the token when the caller's
// context is no longer usable (see endSession).
const secretsTimeout = 5 * time.Second

func tokenKey(server string) string { return secretToken + server }

// SignIn checks the server address and email, signs in with password,
// keeps the token in Secrets (under a key of the server's URL) and the
// server and email in the profile, and returns the user. Bad input is
// refused before anything is sent.
func (c *Core) SignIn(ctx context.Context, serverURL, email, password string) (api.User, error) {
	u, err := api.ParseBaseURL(serverURL)
	if err != nil {
		return api.User{}, &inputError{msg: err.Error()}
	}
	server := u.String()
	email = strings.TrimSpace(email)
	if err := checkEmail(email); err != nil {
		return api.User{}, err
	}
	if password == "" {
		return api.User{}, &inputError{msg: "The password is empty — enter your Nextvisit password."}
	}
	client, err := c.newClient(server, "")
	if err != nil {
		return api.User{}, &inputError{msg: err.Error()}
	}
	c.log.Info("signing in", "server", hostOf(server))
	tok, err := client.Login(ctx, email, password, platform.DeviceName())
	if err != nil {
		return api.User{}, &signInError{&serverError{host: hostOf(server), op: "sign in", err: err}}
	}
	authed := client.WithToken(tok.Token)
	user, err := authed.User(ctx)
	if err != nil {
		// The token exists at the server but is of no use without the
		// user; do not leave it behind.
		c.revoke(ctx, authed, server)
		return api.User{}, &signInError{&serverError{host: hostOf(server), op: "sign in", err: err}}
	}
	previous, _ := c.secretsFor(server).Get(ctx, tokenKey(server))
	if err := c.secretsFor(server).Set(ctx, tokenKey(server), tok.Token); err != nil {
		c.revoke(ctx, authed, server)
		return api.User{}, fmt.Errorf("keep the sign-in token: %w", err)
	}
	if previous != "" && previous != tok.Token {
		// Signing in again replaces the session; the old token would
		// otherwise stay valid at the server, unused, until it expires.
		if old, err := c.newClient(server, previous); err == nil {
			c.revoke(ctx, old, server)
		}
	}
	s := &session{server: server, token: tok.Token, client: authed, user: user}
	if err := c.remember(ctx, s); err != nil {
		return api.User{}, err
	}
	// The lock screen checks the password offline against this (lock.go).
	if err := c.keepVerifier(ctx, s, password); err != nil {
		return api.User{}, err
	}
	if server != c.embedded {
		if err := c.db.SetSetting(ctx, settingEmail, email); err != nil {
			return api.User{}, fmt.Errorf("save the session: %w", err)
		}
	}
	c.mu.Lock()
	c.server, c.email, c.sess = server, email, s
	c.mu.Unlock()
	c.log.Info("signed in", "server", hostOf(server), "user_id", user.Id)
	// Jobs that waited for a sign-in go now.
	if _, err := c.queue.RetryNow(ctx); err != nil {
		c.log.Warn("cannot wake the jobs waiting for sign-in", "error", err)
	}
	return user, nil
}

// checkEmail refuses what is not a bare email address.
func checkEmail(email string) error {
	if email == "" {
		return &inputError{msg: "The email address is empty — enter the one you sign in to Nextvisit with."}
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email {
		return &inputError{msg: fmt.Sprintf("%q is not an email address — enter one such as clinician@example.com.", email)}
	}
	return nil
}

// rememberedUser is what the profile keeps of the last user seen on a
// server, so that a session can start while that server is out of reach.
type rememberedUser struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

// remember saves the server and user of a session in the profile (not
// for the embedded sandbox, whose address is gone after this run).
func (c *Core) remember(ctx context.Context, s *session) error {
	if s.server == c.embedded {
		return nil
	}
	b, err := json.Marshal(rememberedUser{ID: s.user.Id, Name: s.user.Name, Email: s.user.Email})
	if err != nil {
		return fmt.Errorf("save the session: %w", err)
	}
	for _, kv := range [][2]string{{settingServer, s.server}, {settingUser + s.server, string(b)}} {
		if err := c.db.SetSetting(ctx, kv[0], kv[1]); err != nil {
			return fmt.Errorf("save the session: %w", err)
		}
	}
	return nil
}

func (c *Core) rememberedUser(ctx context.Context, server string) (api.User, bool) {
	v, err := c.db.Setting(ctx, settingUser+server)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			c.log.Warn("cannot read the remembered user", "error", err)
		}
		return api.User{}, false
	}
	var r rememberedUser
	if err := json.Unmarshal([]byte(v), &r); err != nil || r.ID == 0 {
		c.log.Warn("the remembered user is unreadable; ignoring it")
		return api.User{}, false
	}
	return api.User{Id: r.ID, Name: r.Name, Email: r.Email}, true
}

// Resume picks up the session stored for the current server: it checks
// the token with the server and returns the user. ErrSignedOut when there
// is no token or the server rejects it (the token is then forgotten).
//
// When the server cannot be reached but a token and the last user seen
// there are stored, Resume still starts the session, so that data kept on
// this computer (the patient roster) stays usable: it returns that user
// together with an error matching ErrOffline and api.ErrUnreachable.
func (c *Core) Resume(ctx context.Context) (api.User, error) {
	server := c.Server()
	if server == "" {
		return api.User{}, ErrSignedOut
	}
	tok, err := c.secretsFor(server).Get(ctx, tokenKey(server))
	if errors.Is(err, platform.ErrSecretNotFound) {
		return api.User{}, ErrSignedOut
	}
	if err != nil {
		return api.User{}, fmt.Errorf("read the sign-in token: %w", err)
	}
	client, err := c.newClient(server, tok)
	if err != nil {
		return api.User{}, fmt.Errorf("resume session: %w", err)
	}
	user, err := client.User(ctx)
	switch {
	case err == nil:
	case errors.Is(err, api.ErrUnreachable):
		remembered, ok := c.rememberedUser(ctx, server)
		if !ok {
			return api.User{}, &serverError{host: hostOf(server), op: "resume session", err: err}
		}
		c.log.Info("server unreachable; resuming offline with the remembered user", "server", hostOf(server))
		c.start(ctx, &session{server: server, token: tok, client: client, user: remembered})
		return remembered, &offlineError{&serverError{host: hostOf(server), op: "resume session", err: err}}
	default:
		return api.User{}, c.failed(ctx, &session{server: server, token: tok, client: client}, "resume session", err)
	}
	s := &session{server: server, token: tok, client: client, user: user}
	if err := c.remember(ctx, s); err != nil {
		return api.User{}, err
	}
	c.start(ctx, s)
	c.log.Info("resumed session", "server", hostOf(server), "user_id", user.Id)
	return user, nil
}

// start makes s the session, unless the current server changed meanwhile.
func (c *Core) start(ctx context.Context, s *session) {
	c.mu.Lock()
	started := c.server == s.server
	if started {
		c.sess = s
	}
	c.mu.Unlock()
	if started {
		// Jobs that waited for a session go now.
		if _, err := c.queue.RetryNow(ctx); err != nil {
			c.log.Warn("cannot wake the jobs waiting for sign-in", "error", err)
		}
	}
}

// SignOut ends the session with the current server: it revokes the token at
// the server (best effort, a few seconds at most) and always forgets it
// here. An error means the token could not be removed from this computer.
func (c *Core) SignOut(ctx context.Context) error {
	c.mu.Lock()
	server, s := c.server, c.sess
	c.sess = nil
	c.mu.Unlock()
	if server == "" {
		return nil
	}
	var client *api.Client
	if s != nil {
		client = s.client
	} else {
		// Not resumed in this process (the command line): revoke with the
		// stored token, if there is one.
		tok, err := c.secretsFor(server).Get(ctx, tokenKey(server))
		if err == nil {
			client, err = c.newClient(server, tok)
		}
		if err != nil && !errors.Is(err, platform.ErrSecretNotFound) {
			c.log.Warn("cannot read the token to revoke it at the server", "error", err)
		}
	}
	if client != nil {
		c.revoke(ctx, client, server)
	}
	if err := c.forgetToken(ctx, server); err != nil {
		return err
	}
	c.log.Info("signed out", "server", hostOf(server))
	return nil
}

// revoke asks the server to revoke client's token, logging a failure: the
// caller forgets the token locally either way.
func (c *Core) revoke(ctx context.Context, client *api.Client, server string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), revokeTimeout)
	defer cancel()
	if err := client.Logout(ctx); err != nil && !errors.Is(err, api.ErrUnauthorized) {
		c.log.Warn("could not revoke the token at the server; it stays valid there until it expires",
			"server", hostOf(server), "error", err)
	}
}

// endSession forgets s, whose token the server rejected: in memory if it
// is still the session, and in Secrets if its token is still the one
// stored. A request that fails late, after the clinician signed in again,
// must not end the new session.
func (c *Core) endSession(ctx context.Context, s *session) {
	c.mu.Lock()
	if c.sess == s {
		c.sess = nil
	}
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), secretsTimeout)
	defer cancel()
	stored, err := c.secretsFor(s.server).Get(ctx, tokenKey(s.server))
	if err != nil || stored != s.token {
		return
	}
	if err := c.forgetToken(ctx, s.server); err != nil {
		c.log.Warn("could not remove a rejected token", "error", err)
	}
}

// forgetToken deletes server's token from Secrets. It runs even when ctx
// was cancelled (the user closed the window mid sign-out): forgetting a
// credential must not be skipped.
func (c *Core) forgetToken(ctx context.Context, server string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), secretsTimeout)
	defer cancel()
	if err := c.secretsFor(server).Delete(ctx, tokenKey(server)); err != nil {
		return fmt.Errorf("remove the sign-in token from this computer: %w", err)
	}
	return nil
}

// hostOf is what messages and logs name a server by.
func hostOf(server string) string {
	u, err := url.Parse(server)
	if err != nil || u.Host == "" {
		return server
	}
	return u.Host
}
