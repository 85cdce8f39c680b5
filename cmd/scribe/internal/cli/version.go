package cli

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

const versionUsage = `Usage: scribe version

Prints Scribe's version and the Go version and platform it was built for.
`

func runVersion(_ context.Context, e *env, args []string) error {
	fs := e.flags("version", versionUsage)
	if err := parseFlags(fs, versionUsage, args, false); err != nil {
		return err
	}
	if err := noArgs(fs, versionUsage); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "scribe %s (%s %s/%s)\n", e.version(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}

// version is Options.Version, else the module version the binary was built
// from ("dev" for a build from a working tree).
func (e *env) version() string {
	if e.opts.Version != "" {
		return e.opts.Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
