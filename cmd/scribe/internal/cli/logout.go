package cli

import (
	"context"
	"fmt"
	"log/slog"
)

const logoutUsage = `Usage: scribe logout [flags]

Signs out of the server: revokes the session's token there (if the server can be reached) and always
removes it from this computer.
` + globalUsage

func runLogout(ctx context.Context, e *env, args []string) error {
	fs := e.flags("logout", logoutUsage)
	if err := parseFlags(fs, logoutUsage, args, false); err != nil {
		return err
	}
	if err := noArgs(fs, logoutUsage); err != nil {
		return err
	}
	p, err := e.openProfile(ctx, e.stderrLog(slog.LevelWarn))
	if err != nil {
		return err
	}
	defer p.Close()
	if err := p.core.SignOut(ctx); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Signed out of %s\n", p.server)
	return nil
}
