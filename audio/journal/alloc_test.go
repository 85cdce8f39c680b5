//go:build !race

package journal

import (
	"path/filepath"
	"testing"
	"time"
)

// TestWriteDoesNotAllocate: steady-state Writes (no rotation) allocate
// nothing, so recording for hours adds no garbage. Not under -race, whose
// instrumentation allocates.
func TestWriteDoesNotAllocate(t *testing.T) {
	w, err := Create(filepath.Join(t.TempDir(), "enc"), "enc-1", Options{SegmentDuration: time.Hour, SyncInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	chunk := signal(0, SampleRate/10)
	if err := w.Write(chunk); err != nil {
		t.Fatal(err)
	}
	if a := testing.AllocsPerRun(200, func() {
		if err := w.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Fatalf("%v allocations per 100 ms Write, want 0", a)
	}
}
