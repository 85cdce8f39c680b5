package cli

import (
	"context"
	"fmt"
	"log/slog"
)

const devicesUsage = `Usage: scribe devices [--json] [flags]

Lists the microphones (input devices) Scribe can record from; the system default is marked with *.
Give one of the names to scribe record --device.

  --json   print JSON: an array of {"name", "default", "channels", "sample_rate", "host_api"}
` + globalUsage

// jsonDevice is a microphone as --json prints it.
type jsonDevice struct {
	Name       string  `json:"name"`
	Default    bool    `json:"default"`
	Channels   int     `json:"channels"`
	SampleRate float64 `json:"sample_rate"`
	HostAPI    string  `json:"host_api"`
}

func runDevices(ctx context.Context, e *env, args []string) error {
	fs := e.flags("devices", devicesUsage)
	asJSON := fs.Bool("json", false, "")
	if err := parseFlags(fs, devicesUsage, args, false); err != nil {
		return err
	}
	if err := noArgs(fs, devicesUsage); err != nil {
		return err
	}
	p, err := e.openLocal(ctx)
	if err != nil {
		return err
	}
	defer p.Close()
	devs, err := p.core.Devices(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		out := make([]jsonDevice, len(devs))
		for i, d := range devs {
			out[i] = jsonDevice{Name: d.Name, Default: d.Default, Channels: d.Channels, SampleRate: d.SampleRate, HostAPI: d.HostAPI}
		}
		return writeJSON(e.stdout, out)
	}
	t := newTable(e.stdout, " ", "NAME", "CHANNELS", "RATE", "HOST API")
	for _, d := range devs {
		mark := " "
		if d.Default {
			mark = "*"
		}
		t.row(mark, d.Name, d.Channels, fmt.Sprintf("%g Hz", d.SampleRate), orDash(d.HostAPI))
	}
	return t.flush()
}

// openLocal opens the profile for a command that works offline, without
// a session: recording, import, export, the encounter list.
func (e *env) openLocal(ctx context.Context) (*profile, error) {
	return e.openProfile(ctx, e.stderrLog(slog.LevelWarn))
}
