package platform

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// ErrSleepInhibitUnsupported is returned (wrapped) by InhibitSleep when this
// system offers Scribe no way to keep itself awake: no logind on Linux, no
// caffeinate on macOS, or another OS. Recording goes on; the caller shows the
// error's advice as a warning.
var ErrSleepInhibitUnsupported = errors.New("keeping the computer awake is not supported here")

// sleepAdvice ends every InhibitSleep error: what the clinician can do
// instead while the recording goes on.
const sleepAdvice = "keep the computer awake and plugged in, lid open, while recording"

// InhibitSleep keeps the computer from going to sleep on its own (idle
// sleep) until release is called: a logind "sleep:idle" block inhibitor on
// Linux, a caffeinate power assertion on macOS, SetThreadExecutionState on
// Windows. why is shown by the OS to anyone who lists inhibitors (for
// example `systemd-inhibit --list`), so it must not name a patient.
//
// ctx bounds only the setup; the inhibitor lasts until release, which is
// idempotent and safe to call from any goroutine. Release is never nil:
// on error it does nothing, so a caller that records on after showing the
// warning can defer it unconditionally. An error wrapping
// ErrSleepInhibitUnsupported means this system has no mechanism; any other
// error means the mechanism refused. Either way the computer may sleep, and
// the error says what to do about it.
func InhibitSleep(ctx context.Context, why string) (release func(), err error) {
	noop := func() {}
	why = strings.TrimSpace(why)
	if why == "" {
		return noop, errors.New(`keep awake: empty reason; say why, e.g. "recording a visit"`)
	}
	if err := ctx.Err(); err != nil {
		return noop, fmt.Errorf("keep awake: %w", context.Cause(ctx))
	}
	stop, err := inhibitSleep(ctx, why)
	if err != nil {
		return noop, err
	}
	var once sync.Once
	return func() { once.Do(stop) }, nil
}
