package cli

import (
	"context"
	"fmt"
)

const exportUsage = `Usage: scribe export ENCOUNTER OUT.wav [flags]

Writes the whole audio of an encounter (see scribe encounters) to OUT.wav: 16 kHz, 16-bit, mono.
The file is readable only by you (it is patient audio), appears complete or not at all, and
replaces any file of that name.
` + globalUsage

func runExport(ctx context.Context, e *env, args []string) error {
	fs := e.flags("export", exportUsage)
	if err := parseFlags(fs, exportUsage, args, false); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return usageErr(exportUsage, "export needs an encounter id and an output file, e.g. scribe export 20260122-093012-3fa9c1d2e4b5 visit.wav")
	}
	id, out := fs.Arg(0), fs.Arg(1)
	p, err := e.openLocal(ctx)
	if err != nil {
		return err
	}
	defer p.Close()
	if err := p.core.ExportEncounter(ctx, id, out); err != nil {
		return err
	}
	en, err := p.core.Encounter(ctx, id)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Wrote %s: %s of 16 kHz mono audio from encounter %s.\n", out, clock(en.Duration, false), en.ID)
	return nil
}
