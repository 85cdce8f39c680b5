package platform

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// OpenURL opens rawURL in the system browser (xdg-open, open, or rundll32).
// Only http, https and file URLs are accepted: the URL comes from servers
// and settings, and handing the OS opener any other scheme could launch an
// arbitrary registered handler.
func OpenURL(ctx context.Context, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("open in browser: %q is not a URL: %w", rawURL, err)
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
		if u.Host == "" {
			return fmt.Errorf("open in browser: %q has no host", rawURL)
		}
	case "file":
	default:
		return fmt.Errorf("open in browser: %q: only http, https and file URLs can be opened", rawURL)
	}
	// u.String() re-encodes the URL so stray spaces or quotes in the input
	// cannot reach the opener as separate words.
	name, args := browserCommand(runtime.GOOS, u.String())
	// Not CommandContext: cancelling ctx must not kill a browser the
	// opener may have started in its own foreground.
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("open in browser with %s: %w; open %s by hand", name, err, u)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	grace := time.NewTimer(openerGrace)
	defer grace.Stop()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("open in browser with %s: %w (%s); open %s by hand", name, err, strings.TrimSpace(out.String()), u)
		}
		return nil
	case <-grace.C:
		// Still running: xdg-open without a desktop environment runs the
		// browser itself in the foreground, so it has launched. The
		// goroutine above reaps it when the browser exits.
		return nil
	case <-ctx.Done():
		return fmt.Errorf("open in browser: %w", context.Cause(ctx))
	}
}

// openerGrace is how long OpenURL waits for the opener to report failure.
// Openers that hand off to a running browser exit well within it.
const openerGrace = 3 * time.Second

func browserCommand(goos, u string) (string, []string) {
	switch goos {
	case "darwin":
		return "open", []string{u}
	case "windows":
		return "rundll32", []string{"url.dll,FileProtocolHandler", u}
	default:
		return "xdg-open", []string{u}
	}
}
