package platform

import (
	"sync"
	"testing"
	"unsafe"

	"golang.org/x/sys/windows"
)

var procCallNtPowerInformation = windows.NewLazySystemDLL("powrprof.dll").NewProc("CallNtPowerInformation")

// systemExecState reads the execution state in force for the whole system
// (POWER_INFORMATION_LEVEL SystemExecutionState = 16): the OR of every
// thread's requests.
func systemExecState(t *testing.T) uint32 {
	t.Helper()
	var state uint32
	status, _, _ := procCallNtPowerInformation.Call(16, 0, 0, uintptr(unsafe.Pointer(&state)), unsafe.Sizeof(state))
	if status != 0 {
		t.Fatalf("CallNtPowerInformation(SystemExecutionState): NTSTATUS %#x", status)
	}
	return state
}

func TestInhibitSleepWindows(t *testing.T) {
	release, err := InhibitSleep(t.Context(), "recording a visit")
	if err != nil {
		t.Fatalf("InhibitSleep: %v", err)
	}
	// Another program may hold the same request, so only the held state is
	// checked, not its clearing.
	if systemExecState(t)&esSystemRequired == 0 {
		t.Error("ES_SYSTEM_REQUIRED is not in the system's execution state while held")
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(release)
	}
	wg.Wait()
	release()
}
