package cli

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/nextvisit/scribe/sync/sandbox/ehr/nexhealth"
	"github.com/nextvisit/scribe/sync/sandbox/ehr/oauthehr"
	"github.com/nextvisit/scribe/sync/sandbox/ehr/simplepractice"

	"github.com/nextvisit/scribe/sync/sandbox"
)

// defaultSandboxAddr is a fixed port, so that a standalone sandbox keeps
// its URL (and the sessions signed in to it) from one run to the next.
const defaultSandboxAddr = "127.0.0.1:8765"

const sandboxUsage = `Usage: scribe sandbox [--addr 127.0.0.1:PORT] [--dir DIR] [--processing-delay D] [--recognizer vad|openai] [--openai-url URL] [--openai-model NAME] [flags]

Runs the Nextvisit sandbox, a local stand-in for the Nextvisit API with a sample workspace, until
Ctrl-C. It prints its URL, for scribe --server URL or another client, and the sample sign-in.

  --addr HOST:PORT         where to listen (default ` + defaultSandboxAddr + `; port 0 picks a free one)
  --dir DIR                where its state lives (default <profile>/sandbox)
  --processing-delay D     how long a new note takes to be transcribed and drafted (default 3s)
  --recognizer vad|openai  vad (default) reports the speech regions it hears; openai sends the audio
                           to an OpenAI-compatible transcription server (whisper.cpp, faster-whisper)
  --openai-url URL         that server's base URL, e.g. http://127.0.0.1:8080
  --openai-model NAME      the model name to ask it for
` + globalUsage

func runSandbox(ctx context.Context, e *env, args []string) error {
	fs := e.flags("sandbox", sandboxUsage)
	addr := fs.String("addr", defaultSandboxAddr, "")
	dir := fs.String("dir", "", "")
	cfg := sandbox.Config{}
	fs.DurationVar(&cfg.ProcessingDelay, "processing-delay", sandbox.DefaultProcessingDelay, "")
	fs.StringVar(&cfg.Recognizer, "recognizer", "vad", "")
	fs.StringVar(&cfg.OpenAIURL, "openai-url", "", "")
	fs.StringVar(&cfg.OpenAIModel, "openai-model", "", "")
	if err := parseFlags(fs, sandboxUsage, args, false); err != nil {
		return err
	}
	if err := noArgs(fs, sandboxUsage); err != nil {
		return err
	}
	if e.g.sandbox || e.g.server != "" {
		return usageErr(sandboxUsage, "scribe sandbox is a server itself; --sandbox and --server do not apply")
	}
	if cfg.ProcessingDelay <= 0 {
		return usageErr(sandboxUsage, "--processing-delay must be positive, e.g. 3s, not %s", cfg.ProcessingDelay)
	}
	switch cfg.Recognizer {
	case "vad":
	case "openai":
		if cfg.OpenAIURL == "" {
			return usageErr(sandboxUsage, "--recognizer openai needs --openai-url")
		}
	default:
		return usageErr(sandboxUsage, "--recognizer must be vad or openai, not %q", cfg.Recognizer)
	}
	cfg.Dir = *dir
	if cfg.Dir == "" {
		profile, err := e.profileDir()
		if err != nil {
			return err
		}
		cfg.Dir = filepath.Join(profile, "sandbox")
	}
	cfg.Logger = e.stderrLog(slog.LevelInfo)
	srv, url, err := startSandbox(ctx, cfg, *addr)
	if err != nil {
		return err
	}
	base := strings.TrimSuffix(url, "/api")
	fmt.Fprintf(e.stdout, "Sandbox running at %s\nSign in as %s / %s\n", url, sandbox.SampleEmail, sandbox.SamplePassword)
	fmt.Fprintf(e.stdout, "Sample EHRs:\n"+
		"  Osmind          %s/osmind (OAuth; sign in as %s / %s)\n"+
		"  Kalix           %s/kalix (OAuth; sign in as %s / %s)\n"+
		"  SimplePractice  %s/simplepractice (API token %s)\n"+
		"  NexHealth       %s/nexhealth (API key %s, subdomain %s, location %d)\n",
		base, oauthehr.AdminEmail("Osmind"), oauthehr.AdminPassword,
		base, oauthehr.AdminEmail("Kalix"), oauthehr.AdminPassword,
		base, simplepractice.SampleToken,
		base, nexhealth.SampleAPIKey, nexhealth.SampleSubdomain, nexhealth.SampleLocationID)
	fmt.Fprintf(e.stdout, "State in %s\nPress Ctrl-C to stop.\n", cfg.Dir)
	<-ctx.Done()
	cfg.Logger.Info("stopping the sandbox")
	if err := srv.Close(); err != nil {
		return fmt.Errorf("stop the sandbox: %w", err)
	}
	return nil
}
