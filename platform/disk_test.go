package platform

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRecordingTime(t *testing.T) {
	for _, tc := range []struct {
		free uint64
		want time.Duration
	}{
		{0, 0},
		{1, 31250 * time.Nanosecond}, // one byte of 32,000 per second
		{16000, 500 * time.Millisecond},
		{32000, time.Second},
		{BytesPerMinute, time.Minute},
		{30 * BytesPerMinute, 30 * time.Minute},
		{1 << 30, 33554*time.Second + 432*time.Millisecond}, // 1 GiB ≈ 9 h 19 min
		{math.MaxUint64, time.Duration(math.MaxInt64)},
	} {
		if got := recordingTime(tc.free); got != tc.want {
			t.Errorf("recordingTime(%d) = %v, want %v", tc.free, got, tc.want)
		}
	}
}

func TestRecordingTimeMonotonicNearCap(t *testing.T) {
	// Around the largest free space that still fits a Duration, more space
	// must never mean less time.
	limit := uint64(math.MaxInt64/int64(time.Second)) * (BytesPerMinute / 60)
	prev := recordingTime(limit - 2*(BytesPerMinute/60))
	for free := limit - 2*(BytesPerMinute/60); free < limit+2*(BytesPerMinute/60); free += 997 {
		got := recordingTime(free)
		if got < prev || got < 0 {
			t.Fatalf("recordingTime(%d) = %v after %v for less space", free, got, prev)
		}
		prev = got
	}
}

func TestFreeSpaceTempDir(t *testing.T) {
	dir := t.TempDir()
	free, err := FreeSpace(dir)
	if err != nil {
		t.Fatalf("FreeSpace(%s): %v", dir, err)
	}
	if free == 0 {
		t.Fatalf("FreeSpace(%s) = 0 on a disk where the test just made a folder", dir)
	}
	// A file on the same disk reports the same space, give or take what
	// other processes write meanwhile.
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ffree, err := FreeSpace(file)
	if err != nil {
		t.Fatalf("FreeSpace(%s): %v", file, err)
	}
	if diff := int64(ffree) - int64(free); diff > 64<<20 || diff < -64<<20 {
		t.Errorf("FreeSpace: %d for the folder but %d for a file in it", free, ffree)
	}
	left, err := RecordingTimeLeft(dir)
	if err != nil {
		t.Fatalf("RecordingTimeLeft: %v", err)
	}
	if want := recordingTime(free); left < want-time.Hour || left > want+time.Hour {
		t.Errorf("RecordingTimeLeft = %v, want about %v for %d bytes", left, want, free)
	}
}

func TestFreeSpaceBadPath(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-folder")
	if _, err := FreeSpace(missing); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("FreeSpace(missing) = %v, want a not-exist error naming the path", err)
	}
	if _, err := FreeSpace(""); err == nil || !strings.Contains(err.Error(), "empty path") {
		t.Errorf(`FreeSpace("") = %v, want an empty-path error`, err)
	}
	if _, err := RecordingTimeLeft(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("RecordingTimeLeft(missing) = %v, want a not-exist error", err)
	}
}

func TestCheckRecordingSpace(t *testing.T) {
	dir := t.TempDir()
	free, err := FreeSpace(dir)
	if err != nil {
		t.Fatal(err)
	}
	have := recordingTime(free)
	if have < 2*time.Hour {
		t.Skipf("only %v of space here; the test needs 2 h", have)
	}
	left, err := CheckRecordingSpace(dir, MinRecordingTime)
	if err != nil || left < time.Hour {
		t.Errorf("CheckRecordingSpace(%v) with %v free = %v, %v; want no error", MinRecordingTime, have, left, err)
	}
	// Asking for far more than any disk holds must be refused with advice.
	need := time.Duration(math.MaxInt64)
	left, err = CheckRecordingSpace(dir, need)
	if !errors.Is(err, ErrLowDisk) {
		t.Fatalf("CheckRecordingSpace(%v) = %v, want ErrLowDisk", need, err)
	}
	if left < time.Hour {
		t.Errorf("CheckRecordingSpace returned %v left with its error, want the time left (about %v)", left, have)
	}
	for _, part := range []string{dir, "minutes of recording space left", "free up disk space"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("CheckRecordingSpace error %q does not say %q", err, part)
		}
	}
	if _, err := CheckRecordingSpace(filepath.Join(dir, "missing"), MinRecordingTime); err == nil || errors.Is(err, ErrLowDisk) {
		t.Errorf("CheckRecordingSpace(missing) = %v, want a path error, not ErrLowDisk", err)
	}
}
