package platform

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
)

// inhibitSleep runs caffeinate rather than calling IOPMAssertionCreateWithName
// through cgo: platform stays cgo-free and cross-compiles, at the cost of
// the assertion being named "caffeinate command-line tool" instead of
// carrying why. -i prevents idle sleep; -w makes caffeinate exit when Scribe
// does, so a crash never leaves the Mac unable to sleep.
func inhibitSleep(ctx context.Context, why string) (func(), error) {
	h, err := startCaffeinate()
	if err != nil {
		return nil, err
	}
	return h.stop, nil
}

// caffeinateHold is a running caffeinate process.
type caffeinateHold struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

func startCaffeinate() (*caffeinateHold, error) {
	path, err := exec.LookPath("caffeinate")
	if err != nil {
		return nil, fmt.Errorf("keep awake: no caffeinate command (%v): %w; %s", err, ErrSleepInhibitUnsupported, sleepAdvice)
	}
	// Not CommandContext: the assertion must outlive the setup's ctx.
	cmd := exec.Command(path, "-i", "-w", strconv.Itoa(os.Getpid()))
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("keep awake: start caffeinate: %w; %s", err, sleepAdvice)
	}
	h := &caffeinateHold{cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(h.exited)
	}()
	return h, nil
}

// stop ends caffeinate and waits for it to be reaped, so the assertion is
// gone when release returns.
func (h *caffeinateHold) stop() {
	_ = h.cmd.Process.Kill()
	<-h.exited
}
