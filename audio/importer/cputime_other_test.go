//go:build !unix

package importer

import "time"

func cpuTime() (time.Duration, bool) { return 0, false }
