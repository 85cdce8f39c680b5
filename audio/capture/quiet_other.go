//go:build !linux

package capture

// quietAudioLibs has nothing to silence outside Linux.
func quietAudioLibs() {}
