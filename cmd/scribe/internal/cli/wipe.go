package cli

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"strings"
)

const wipeUsage = `Usage: scribe wipe [--yes] [flags]

Signs out and wipes this computer's Scribe data: revokes the session's token at the server (if it can be
reached), removes every token and EHR credential this profile keeps in the keyring, and deletes the
profile's database, the visits' audio, the logs and the secrets file. Notes already at the server stay
there. Refused while a visit is being recorded. Asks you to type WIPE first, unless --yes.

  --yes   do not ask
` + globalUsage

const deleteLocalUsage = `Usage: scribe encounters delete-local ENCOUNTER [flags]

Deletes an encounter's audio, transcript and draft from this computer now (see scribe encounters). The
note stays at the server and the encounter stays listed. Refused while it is being recorded, or while one
of its jobs (scribe queue) still needs the audio or the text.
` + globalUsage

// wipeWord is what the user types to confirm a wipe.
const wipeWord = "WIPE"

// runEncountersOrDeleteLocal is scribe encounters, with its delete-local
// subcommand.
func runEncountersOrDeleteLocal(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 && args[0] == "delete-local" {
		return runDeleteLocal(ctx, e, args[1:])
	}
	return runEncounters(ctx, e, args)
}

func runDeleteLocal(ctx context.Context, e *env, args []string) error {
	fs := e.flags("encounters delete-local", deleteLocalUsage)
	if err := parseFlags(fs, deleteLocalUsage, args, false); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErr(deleteLocalUsage, "delete-local needs one encounter id, e.g. scribe encounters delete-local 20260122-093012-3fa9c1d2e4b5")
	}
	p, err := e.openLocal(ctx)
	if err != nil {
		return err
	}
	defer p.Close()
	id := strings.TrimSpace(fs.Arg(0))
	if err := p.core.DeleteLocalData(ctx, id); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Deleted the audio, transcript and draft of encounter %s from this computer; its note stays at the server.\n", id)
	return nil
}

func runWipe(ctx context.Context, e *env, args []string) error {
	fs := e.flags("wipe", wipeUsage)
	yes := fs.Bool("yes", false, "")
	if err := parseFlags(fs, wipeUsage, args, false); err != nil {
		return err
	}
	if err := noArgs(fs, wipeUsage); err != nil {
		return err
	}
	dir, err := e.profileDir()
	if err != nil {
		return err
	}
	if !*yes {
		fmt.Fprintf(e.stdout, "This signs out and deletes all of Scribe's data in %s — recordings, transcripts, drafts,\n"+
			"logs — and every sign-in token and EHR credential it keeps. Notes at the server stay there.\n"+
			"Type %s to go on: ", dir, wipeWord)
		line, _ := bufio.NewReader(e.stdin).ReadString('\n')
		if strings.TrimSpace(line) != wipeWord {
			return messageErr("not wiped: the answer was not %s — run scribe wipe again and type %s, or pass --yes", wipeWord, wipeWord)
		}
	}
	p, err := e.openProfile(ctx, e.stderrLog(slog.LevelWarn))
	if err != nil {
		return err
	}
	defer p.Close()
	if err := p.core.WipeAndSignOut(ctx); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Signed out and wiped Scribe's data from this computer (%s).\n", dir)
	return nil
}
