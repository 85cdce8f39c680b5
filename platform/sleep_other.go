//go:build !linux && !darwin && !windows

package platform

import (
	"context"
	"fmt"
	"runtime"
)

func inhibitSleep(ctx context.Context, why string) (func(), error) {
	return nil, fmt.Errorf("keep awake: not implemented on %s: %w; %s", runtime.GOOS, ErrSleepInhibitUnsupported, sleepAdvice)
}
