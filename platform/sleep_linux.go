package platform

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/godbus/dbus/v5"
)

const (
	logindName    = "org.freedesktop.login1"
	logindPath    = dbus.ObjectPath("/org/freedesktop/login1")
	logindInhibit = "org.freedesktop.login1.Manager.Inhibit"
)

// logindTimeout bounds the setup even when the caller's ctx does not: a
// stuck system bus must not hold up the start of a recording. A var so
// tests can shorten it.
var logindTimeout = 5 * time.Second

// inhibitSleep takes a logind block inhibitor. logind hands back one end of
// a FIFO and holds the inhibitor until every copy of that end is closed, so
// the inhibitor dies with Scribe even after a crash, and release is just
// closing it. The D-Bus connection is not needed after the call.
//
// There is no fallback to the systemd-inhibit command: it is a client of
// the same logind over the same system bus, so it cannot succeed where this
// call failed.
func inhibitSleep(ctx context.Context, why string) (func(), error) {
	parent := ctx
	ctx, cancel := context.WithTimeoutCause(ctx, logindTimeout,
		fmt.Errorf("the system D-Bus or logind did not answer within %v: %w", logindTimeout, context.DeadlineExceeded))
	defer cancel()
	// failed reports why the setup ended early: the caller's ctx, or the
	// bus not answering in time (which the clinician must hear about).
	failed := func(step string) error {
		if parent.Err() != nil {
			return fmt.Errorf("keep awake: %s: %w", step, context.Cause(parent))
		}
		return fmt.Errorf("keep awake: %s: %w; %s", step, context.Cause(ctx), sleepAdvice)
	}
	conn, err := dbus.ConnectSystemBus(dbus.WithContext(ctx))
	if err != nil {
		if ctx.Err() != nil {
			return nil, failed("connect to the system D-Bus")
		}
		return nil, fmt.Errorf("keep awake: no system D-Bus, so no logind on this system (%w): %w; %s",
			err, ErrSleepInhibitUnsupported, sleepAdvice)
	}
	defer conn.Close()
	var fd dbus.UnixFD
	err = conn.Object(logindName, logindPath).
		CallWithContext(ctx, logindInhibit, 0, "sleep:idle", appDirName, why, "block").
		Store(&fd)
	if err != nil {
		if ctx.Err() != nil {
			return nil, failed("ask logind for a sleep inhibitor")
		}
		var de dbus.Error
		if errors.As(err, &de) && (de.Name == "org.freedesktop.DBus.Error.ServiceUnknown" ||
			de.Name == "org.freedesktop.DBus.Error.NameHasNoOwner") {
			return nil, fmt.Errorf("keep awake: no logind on this system (%w): %w; %s",
				err, ErrSleepInhibitUnsupported, sleepAdvice)
		}
		return nil, fmt.Errorf("keep awake: logind refused a sleep inhibitor: %w; %s", err, sleepAdvice)
	}
	f := os.NewFile(uintptr(fd), "logind sleep inhibitor")
	return func() { _ = f.Close() }, nil
}
