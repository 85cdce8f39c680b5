package platform

import (
	"context"
	"errors"
	"fmt"

	"github.com/zalando/go-keyring"
)

// Keyring keeps secrets in the OS keyring (macOS Keychain, Windows
// Credential Manager, the Secret Service on Linux) under one service name.
type Keyring struct {
	service string
	backend keyringBackend
}

var _ Secrets = (*Keyring)(nil)

// keyringBackend is the part of go-keyring Keyring uses; tests put a fake
// behind it to check the timeout handling go-keyring's mock cannot show.
type keyringBackend interface {
	Get(service, user string) (string, error)
	Set(service, user, password string) error
	Delete(service, user string) error
}

// osKeyring calls go-keyring's package functions (which keyring.MockInit
// can redirect to its in-memory store).
type osKeyring struct{}

func (osKeyring) Get(service, user string) (string, error) { return keyring.Get(service, user) }
func (osKeyring) Set(service, user, pw string) error       { return keyring.Set(service, user, pw) }
func (osKeyring) Delete(service, user string) error        { return keyring.Delete(service, user) }

// NewKeyring returns the OS keyring under service, which separates Scribe
// profiles (see KeyringService). It does not check that a keyring runs;
// OpenSecrets does.
func NewKeyring(service string) *Keyring {
	return newKeyring(service, osKeyring{})
}

func newKeyring(service string, b keyringBackend) *Keyring {
	return &Keyring{service: service, backend: b}
}

// Get implements Secrets.
func (k *Keyring) Get(ctx context.Context, key string) (string, error) {
	var v string
	err := k.call(ctx, "read", key, func() (err error) {
		v, err = k.backend.Get(k.service, key)
		return err
	})
	if err != nil {
		return "", err
	}
	return v, nil
}

// Set implements Secrets.
func (k *Keyring) Set(ctx context.Context, key, value string) error {
	return k.call(ctx, "store", key, func() error {
		return k.backend.Set(k.service, key, value)
	})
}

// Delete implements Secrets.
func (k *Keyring) Delete(ctx context.Context, key string) error {
	err := k.call(ctx, "delete", key, func() error {
		return k.backend.Delete(k.service, key)
	})
	if errors.Is(err, ErrSecretNotFound) {
		return nil
	}
	return err
}

// call runs f off the caller's goroutine so that ctx bounds it: go-keyring
// takes no context, and a D-Bus call to a stuck Secret Service can block
// indefinitely. If ctx ends first, f's goroutine is left to finish on its
// own; it holds no locks of ours.
func (k *Keyring) call(ctx context.Context, op, key string, f func() error) error {
	if k.service == "" {
		return errors.New("keyring: empty service name")
	}
	if key == "" {
		return fmt.Errorf("keyring %s: empty key", op)
	}
	done := make(chan error, 1)
	go func() { done <- f() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		err = context.Cause(ctx)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, keyring.ErrNotFound):
		return fmt.Errorf("keyring %s %q: %w", op, key, ErrSecretNotFound)
	case errors.Is(err, keyring.ErrSetDataTooBig):
		return fmt.Errorf("keyring %s %q: the value is too large for this OS keyring: %w", op, key, err)
	default:
		return fmt.Errorf("keyring %s %q: %w", op, key, err)
	}
}
