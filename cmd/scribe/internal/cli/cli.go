// Package cli is Scribe's command line: flag parsing, the subcommands, and
// the preparation of the window, all on app.Core. It holds no Fyne code, so
// it builds and tests without cgo; cmd/scribe supplies the window.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/nextvisit/scribe/app"
)

// Window is what the graphical interface needs.
type Window struct {
	Core *app.Core
	// Servers are offered on the sign-in screen besides app.KnownServers
	// (the embedded sandbox, when one runs).
	Servers []app.Server
	Logger  *slog.Logger
}

// Options connect Run to the rest of the program.
type Options struct {
	// OpenWindow shows the window and returns when its last window is
	// closed or ctx ends. nil in builds without a window.
	OpenWindow func(ctx context.Context, w Window) error
	// Version is the program's version; "" reads it from the build info.
	Version string
}

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

const mainUsage = `Scribe records a visit, has Nextvisit draft the progress note, and keeps it safe until it is signed.

Usage:
  scribe [flags]                 open the Scribe window
  scribe login [--email E] [--password P | --password-stdin]
  scribe logout
  scribe patients [--search S] [--page N] [--per-page N] [--json]
  scribe patients create --first F --last L [--middle M] [--dob YYYY-MM-DD] [--gender G] [--notes TEXT] [--json]
  scribe notes [--patient ID] [--sort latest|oldest] [--page N] [--per-page N] [--json]
  scribe notes show ID [--json]
  scribe devices [--json]
  scribe record [--device NAME] [--duration D] [--patient ID] [--template ID] [--context TEXT] [--consent]
  scribe import FILE [--patient ID] [--template ID] [--context TEXT] [--consent]
  scribe note show|edit|sign|unsign ENCOUNTER [--json]
  scribe export ENCOUNTER OUT.wav
  scribe encounters [--json]
  scribe encounters delete-local ENCOUNTER
  scribe queue [--state S | --all] [--json]
  scribe queue retry ID | scribe queue cancel ID
  scribe sync [--wait D]
  scribe ehr list [--json] | scribe ehr status [KIND] [--json]
  scribe ehr connect KIND [--url URL] [--token T | --api-key K --subdomain S --location L] [--no-browser]
  scribe ehr disconnect|confirm|sync KIND
  scribe ehr settings KIND [--when sign|unsign|both] [--what note-codes-metadata|note-only] [--update append|replace]
  scribe ehr test KIND ENCOUNTER
  scribe providers [--ehr KIND] [--json]
  scribe providers map [--ehr KIND] CLINICIAN PROVIDER | confirm [--ehr KIND]
  scribe providers export|import [--ehr KIND] FILE
  scribe sandbox [--addr 127.0.0.1:PORT] [--dir DIR] [--processing-delay D] [--recognizer vad|openai] [--openai-url URL] [--openai-model NAME]
  scribe wipe [--yes]            sign out and delete this computer's Scribe data
  scribe version
  scribe help [COMMAND]
` + globalUsage + `
Examples:
  scribe --sandbox                         the window on a built-in sandbox server, signed in
  scribe login --email you@clinic.example  sign in to Nextvisit (asks for the password)
  scribe patients --search doe
  scribe record --duration 15m             record a visit from the default microphone for 15 minutes
  scribe record --patient 4 --template 1 --consent
                                           record a visit with patient 4 for a SOAP note, the transcript printed live
  scribe note show ENCOUNTER               the visit's status, transcript and drafted note
  scribe ehr connect simplepractice --token - < token.txt
                                           connect SimplePractice with the API token in a file
`

const globalUsage = `
Flags for every command:
  --server URL    the Nextvisit server (default: the last one signed in to, else ` + defaultServerText + `)
  --profile DIR   the data folder (default: the per-user data folder, e.g. ~/.local/share/Scribe)
  --sandbox       run a sandbox server inside Scribe for this run and use it, signed in as the sample clinician
  -v              debug logs (on stderr; the window logs to <profile>/logs/scribe.log)
`

// command is one subcommand.
type command struct {
	usage string
	run   func(ctx context.Context, e *env, args []string) error
}

var commands = map[string]command{
	"login":    {loginUsage, runLogin},
	"logout":   {logoutUsage, runLogout},
	"patients": {patientsUsage, runPatients},
	"notes":    {notesUsage, runNotes},
	"sandbox":  {sandboxUsage, runSandbox},
	"version":  {versionUsage, runVersion},
	// Recording works offline and needs no sign-in.
	"devices":    {devicesUsage, runDevices},
	"record":     {recordUsage, runRecord},
	"import":     {importUsage, runImport},
	"export":     {exportUsage, runExport},
	"encounters": {encountersUsage, runEncountersOrDeleteLocal},
	"wipe":       {wipeUsage, runWipe},
	"note":       {noteUsage, runNote},
	// The outbox: changes kept on this computer until the server takes them.
	"queue": {queueUsage, runQueue},
	"sync":  {syncUsage, runSync},
	// EHR connections and the provider mapping they push under.
	"ehr":       {ehrUsage, runEHR},
	"providers": {providersUsage, runProviders},
}

// usageError is wrong use of the command line: exit code 2 and the usage.
type usageError struct {
	msg   string
	usage string
}

func (e *usageError) Error() string { return e.msg }

func usageErr(usage, format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...), usage: usage}
}

// messageError is a failure whose message is already written for the
// person at the terminal (what is wrong, then what to do): exit code 1,
// without the usage.
type messageError struct{ msg string }

func (e *messageError) Error() string { return e.msg }

func messageErr(format string, args ...any) error {
	return &messageError{msg: fmt.Sprintf(format, args...)}
}

// helpRequest is -h or --help: the usage on stdout, exit code 0.
type helpRequest struct{ usage string }

func (h *helpRequest) Error() string { return "help requested" }

// Run runs the command line given by args (without the program name) and
// returns the exit code: 0 success, 1 failure, 2 wrong usage.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, opts Options) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, opts: opts}
	err := e.dispatch(ctx, args)
	var (
		ue *usageError
		hr *helpRequest
		me *messageError
	)
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &hr):
		fmt.Fprint(stdout, hr.usage)
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "scribe: %s\n\n%s", ue.msg, ue.usage)
		return exitUsage
	case errors.As(err, &me):
		fmt.Fprintf(stderr, "scribe: %s\n", me.msg)
		return exitError
	default:
		fmt.Fprintf(stderr, "scribe: %s\n", app.Explain(err))
		if errors.Is(err, app.ErrSignedOut) {
			fmt.Fprintf(stderr, "Sign in with: scribe login%s\n", e.serverHint())
		}
		return exitError
	}
}

func (e *env) dispatch(ctx context.Context, args []string) error {
	fs := e.flags("scribe", mainUsage)
	if err := parseFlags(fs, mainUsage, args, true); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return e.runWindow(ctx)
	}
	name, rest := fs.Arg(0), fs.Args()[1:]
	if name == "help" {
		return runHelp(rest)
	}
	cmd, ok := commands[name]
	if !ok {
		return usageErr(mainUsage, "unknown command %q", name)
	}
	return cmd.run(ctx, e, rest)
}

func runHelp(args []string) error {
	if len(args) == 0 {
		return &helpRequest{usage: mainUsage}
	}
	cmd, ok := commands[args[0]]
	if !ok {
		return usageErr(mainUsage, "no help for unknown command %q", args[0])
	}
	return &helpRequest{usage: cmd.usage}
}

// flags returns a flag set for one command with the global flags on it, so
// they may come before or after the command name.
func (e *env) flags(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // Run prints errors and usage itself
	fs.Usage = func() {}
	fs.StringVar(&e.g.server, "server", e.g.server, "")
	fs.StringVar(&e.g.profile, "profile", e.g.profile, "")
	fs.BoolVar(&e.g.sandbox, "sandbox", e.g.sandbox, "")
	fs.BoolVar(&e.g.verbose, "v", e.g.verbose, "")
	return fs
}

// parseFlags parses args into fs. With stopAtFirst it stops at the first
// word that is not a flag (the command name); otherwise flags and
// positional words may be mixed ("notes show 12 --json"), and the
// positional words are left in fs.Args().
func parseFlags(fs *flag.FlagSet, usage string, args []string, stopAtFirst bool) error {
	var positional []string
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			return &helpRequest{usage: usage}
		}
		if err != nil {
			return &usageError{msg: err.Error(), usage: usage}
		}
		rest := fs.Args()
		if stopAtFirst || len(rest) == 0 {
			break
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			positional = append(positional, rest...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	if !stopAtFirst {
		// Leave the positional words where callers look for them.
		return fs.Parse(append([]string{"--"}, positional...))
	}
	return nil
}

// noArgs refuses positional words a command does not take.
func noArgs(fs *flag.FlagSet, usage string) error {
	if fs.NArg() > 0 {
		return usageErr(usage, "unexpected argument %q", strings.Join(fs.Args(), " "))
	}
	return nil
}
