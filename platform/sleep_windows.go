package platform

import (
	"context"
	"fmt"
	"runtime"

	"golang.org/x/sys/windows"
)

var procSetThreadExecutionState = windows.NewLazySystemDLL("kernel32.dll").NewProc("SetThreadExecutionState")

const (
	esSystemRequired = 0x00000001
	esContinuous     = 0x80000000
)

// inhibitSleep sets ES_SYSTEM_REQUIRED|ES_CONTINUOUS. The execution state
// belongs to the calling thread, so a goroutine locked to its own OS thread
// sets it, holds it until release, and resets it on that same thread.
func inhibitSleep(ctx context.Context, why string) (func(), error) {
	if err := procSetThreadExecutionState.Find(); err != nil {
		return nil, fmt.Errorf("keep awake: %v: %w; %s", err, ErrSleepInhibitUnsupported, sleepAdvice)
	}
	started := make(chan error, 1)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Never unlocked: when this goroutine returns the runtime ends the
		// thread, which drops its execution state even if the reset below
		// did not take.
		runtime.LockOSThread()
		if prev, _, err := procSetThreadExecutionState.Call(esContinuous | esSystemRequired); prev == 0 {
			started <- fmt.Errorf("keep awake: SetThreadExecutionState: %w; %s", err, sleepAdvice)
			return
		}
		started <- nil
		<-stop
		_, _, _ = procSetThreadExecutionState.Call(esContinuous)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return func() {
		close(stop)
		<-done
	}, nil
}
