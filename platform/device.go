package platform

import (
	"os"
	"strings"
)

// DeviceName names this computer for the server's token list, e.g.
// "Scribe on exam-room-3", so a clinician can tell their sessions apart
// when revoking one. Only the first label of the hostname is used: the
// domain part adds nothing a person recognises.
func DeviceName() string {
	host, err := os.Hostname()
	if err != nil {
		return appDirName
	}
	host, _, _ = strings.Cut(strings.TrimSpace(host), ".")
	if host == "" {
		return appDirName
	}
	return appDirName + " on " + host
}
