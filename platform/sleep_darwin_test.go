package platform

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// TestCaffeinateHoldsAssertion checks with pmset that the caffeinate
// process holds an idle-sleep assertion until stopped.
func TestCaffeinateHoldsAssertion(t *testing.T) {
	if _, err := exec.LookPath("pmset"); err != nil {
		t.Skip("pmset is not available")
	}
	h, err := startCaffeinate()
	if err != nil {
		t.Fatalf("startCaffeinate: %v", err)
	}
	tag := fmt.Sprintf("pid %d(caffeinate)", h.cmd.Process.Pid)
	held := func() bool {
		out, err := exec.CommandContext(t.Context(), "pmset", "-g", "assertions").Output()
		if err != nil {
			t.Fatalf("pmset -g assertions: %v", err)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, tag) && strings.Contains(line, "PreventUserIdleSystemSleep") {
				return true
			}
		}
		return false
	}
	waitFor(t, "caffeinate's assertion in pmset", held)
	h.stop()
	waitFor(t, "caffeinate's assertion to go", func() bool { return !held() })
}

func TestInhibitSleepReleaseIsIdempotent(t *testing.T) {
	release, err := InhibitSleep(t.Context(), "recording a visit")
	if err != nil {
		t.Fatalf("InhibitSleep: %v", err)
	}
	done := make(chan struct{})
	for range 4 {
		go func() { release(); done <- struct{}{} }()
	}
	for range 4 {
		<-done
	}
	release()
}
