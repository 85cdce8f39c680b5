package platform

import (
	"context"
	"errors"
	"testing"
)

func TestInhibitSleepRejectsEmptyReason(t *testing.T) {
	for _, why := range []string{"", "  \t"} {
		release, err := InhibitSleep(t.Context(), why)
		if err == nil {
			release()
			t.Fatalf("InhibitSleep(%q) succeeded, want an error asking for a reason", why)
		}
		if errors.Is(err, ErrSleepInhibitUnsupported) {
			t.Errorf("InhibitSleep(%q) = %v, want a bad-input error, not ErrSleepInhibitUnsupported", why, err)
		}
		if release == nil {
			t.Fatalf("InhibitSleep(%q) returned a nil release with its error", why)
		}
		release()
	}
}

func TestInhibitSleepCancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	release, err := InhibitSleep(ctx, "recording a visit")
	if !errors.Is(err, context.Canceled) {
		release()
		t.Fatalf("InhibitSleep with a cancelled context = %v, want context.Canceled", err)
	}
	release()
}
