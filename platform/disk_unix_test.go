//go:build linux || darwin

package platform

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// TestFreeSpaceMatchesDF compares FreeSpace with the "Available" column of
// POSIX `df -Pk`, an independent reading of the same figure.
func TestFreeSpaceMatchesDF(t *testing.T) {
	if _, err := exec.LookPath("df"); err != nil {
		t.Skip("df is not installed")
	}
	dir := t.TempDir()
	free, err := FreeSpace(dir)
	if err != nil {
		t.Fatalf("FreeSpace: %v", err)
	}
	out, err := exec.CommandContext(t.Context(), "df", "-Pk", dir).Output()
	if err != nil {
		t.Fatalf("df -Pk %s: %v", dir, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	fields := strings.Fields(lines[len(lines)-1])
	if len(lines) != 2 || len(fields) < 6 {
		t.Fatalf("df -Pk printed %q, want a header and one row", out)
	}
	availKB, err := strconv.ParseInt(fields[3], 10, 64)
	if err != nil {
		t.Fatalf("df's Available column %q: %v", fields[3], err)
	}
	// Other processes write to the disk between the two readings.
	const slack = 64 << 20
	if diff := int64(free) - availKB*1024; diff > slack || diff < -slack {
		t.Errorf("FreeSpace(%s) = %d bytes, df says %d KiB available (off by %d bytes)", dir, free, availKB, diff)
	}
}
