package platform

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// BytesPerMinute is what the audio journal writes per minute of recording:
// 16 kHz, 16-bit, mono PCM. Segment headers and the manifest add well
// under 0.1 %, which the MinRecordingTime margin covers.
const BytesPerMinute = 16000 * 2 * 60

// bytesPerSecond divides BytesPerMinute exactly (32,000).
const bytesPerSecond = BytesPerMinute / 60

// MinRecordingTime is the recording time a visit may need: with less space
// left than this, recording should not start.
const MinRecordingTime = 30 * time.Minute

// ErrLowDisk is returned (wrapped) by CheckRecordingSpace when the disk has
// less recording time left than asked for.
var ErrLowDisk = errors.New("not enough disk space to record")

// RecordingTimeLeft returns how long Scribe could record into the folder at
// path before its disk is full, at BytesPerMinute.
func RecordingTimeLeft(path string) (time.Duration, error) {
	free, err := FreeSpace(path)
	if err != nil {
		return 0, err
	}
	return recordingTime(free), nil
}

// CheckRecordingSpace returns the recording time left on path's disk, with
// an error wrapping ErrLowDisk when it is less than need (usually
// MinRecordingTime). The time left is returned in both cases so a caller
// can show it.
func CheckRecordingSpace(path string, need time.Duration) (time.Duration, error) {
	left, err := RecordingTimeLeft(path)
	if err != nil {
		return 0, err
	}
	if left < need {
		return left, fmt.Errorf("only %d minutes of recording space left on %s, need %d: %w; free up disk space or move the profile folder to a larger disk",
			int64(left/time.Minute), path, int64(need/time.Minute), ErrLowDisk)
	}
	return left, nil
}

// recordingTime converts free bytes to recording time without overflowing:
// whole seconds first, then the remainder, capped at the largest Duration
// (some 292 years, or 290 TB).
func recordingTime(free uint64) time.Duration {
	secs := free / bytesPerSecond
	if secs >= uint64(math.MaxInt64/int64(time.Second)) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(secs)*time.Second + time.Duration(free%bytesPerSecond)*time.Second/bytesPerSecond
}
