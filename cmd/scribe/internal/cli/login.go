package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"golang.org/x/term"
)

const loginUsage = `Usage: scribe login [--email E] [--password P | --password-stdin] [flags]

Signs in to the Nextvisit server and keeps the session's token in the OS keyring (or, where there is
none, in an encrypted file in the profile). Asks for what is not given: the email (offering the last
one), then the password, without echo when typing at a terminal. When stdin is not a terminal, the
email (if asked for) and the password are read from its lines.

  --email E          the email you sign in to Nextvisit with
  --password P       the password (visible to other users in the process list; prefer a prompt or stdin)
  --password-stdin   read the password from the first line of stdin
` + globalUsage

func runLogin(ctx context.Context, e *env, args []string) error {
	fs := e.flags("login", loginUsage)
	email := fs.String("email", "", "")
	password := fs.String("password", "", "")
	fromStdin := fs.Bool("password-stdin", false, "")
	if err := parseFlags(fs, loginUsage, args, false); err != nil {
		return err
	}
	if err := noArgs(fs, loginUsage); err != nil {
		return err
	}
	if *fromStdin && *password != "" {
		return usageErr(loginUsage, "--password and --password-stdin both give the password; use one")
	}
	p, err := e.openProfile(ctx, e.stderrLog(slog.LevelWarn))
	if err != nil {
		return err
	}
	defer p.Close()

	in := bufio.NewReader(e.stdin)
	tty := isTerminal(e.stdin)
	if *email == "" {
		if *fromStdin {
			return usageErr(loginUsage, "--password-stdin needs --email: stdin holds only the password")
		}
		last := p.core.LastEmail()
		if tty {
			if last != "" {
				fmt.Fprintf(e.stderr, "Email [%s]: ", last)
			} else {
				fmt.Fprint(e.stderr, "Email: ")
			}
		}
		*email, err = readLine(in)
		if errors.Is(err, io.EOF) {
			return usageErr(loginUsage, "no email given: stdin ended; pass --email E")
		}
		if err != nil {
			return fmt.Errorf("read the email from stdin: %w", err)
		}
		if *email == "" {
			*email = last
		}
	}
	if *password == "" {
		switch {
		case tty && !*fromStdin:
			fmt.Fprint(e.stderr, "Password: ")
			b, err := term.ReadPassword(int(e.stdin.(*os.File).Fd()))
			fmt.Fprintln(e.stderr)
			if err != nil {
				return fmt.Errorf("read the password: %w", err)
			}
			*password = string(b)
		default:
			*password, err = readLine(in)
			if errors.Is(err, io.EOF) {
				return usageErr(loginUsage, "no password given: stdin ended before a password line")
			}
			if err != nil {
				return fmt.Errorf("read the password from stdin: %w", err)
			}
		}
	}
	u, err := p.core.SignIn(ctx, p.server, *email, *password)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Signed in as %s <%s> on %s\n", u.Name, u.Email, p.core.Server())
	return nil
}

// readLine reads one line without its line ending. End of input after
// some text is a line; end of input before any is io.EOF.
func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if errors.Is(err, io.EOF) && line != "" {
		err = nil
	}
	if err != nil {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
