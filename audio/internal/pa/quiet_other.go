//go:build !linux

package pa

// quietAudioLibs has nothing to silence outside Linux.
func quietAudioLibs() {}
