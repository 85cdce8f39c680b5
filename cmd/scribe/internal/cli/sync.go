package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/sync/outbox"
)

const syncUsage = `Usage: scribe sync [--wait D] [flags]

Sends the changes kept on this computer (see scribe queue) to the server now, cutting short any wait
between retries, then prints what was sent and what needs your attention. It keeps sending until nothing
is left that can go before D has passed, and stops early when the server cannot be reached: the jobs stay
on this computer and are sent by the next scribe sync or while the Scribe window is open.

  --wait D   the longest to keep sending, e.g. 30s or 5m (default 2m); a send under way when D ends
             gets up to 5 s more to finish

Exit status: 0 when no job needs attention (even if the server could not be reached or time ran out:
nothing is lost, the jobs wait); 1 when a job needs attention (scribe queue says what to do) or on an error.
` + globalUsage

func runSync(ctx context.Context, e *env, args []string) error {
	fs := e.flags("sync", syncUsage)
	wait := fs.Duration("wait", 2*time.Minute, "")
	if err := parseFlags(fs, syncUsage, args, false); err != nil {
		return err
	}
	if err := noArgs(fs, syncUsage); err != nil {
		return err
	}
	if *wait <= 0 {
		return usageErr(syncUsage, "--wait must be more than 0, not %s", *wait)
	}
	// Jobs run in the session they were made in, so sign in (offline too:
	// the jobs find out for themselves whether the server is there).
	p, err := e.signedIn(ctx)
	if err != nil {
		return err
	}
	defer p.Close()
	// Visits whose capture ended but whose note was never queued (Scribe
	// stopped in between) go with this sync.
	if err := p.core.FinishPending(ctx); err != nil {
		fmt.Fprintf(e.stderr, "scribe: could not queue a visit for its note: %s\n", app.Explain(err))
	}
	before, err := p.core.Jobs(ctx, app.JobFilter{States: unfinished})
	if err != nil {
		return err
	}
	deadline := time.Now().Add(*wait)
	stop := serveInBackground(ctx, p.core)
	if _, err := p.core.SendNow(ctx); err != nil {
		stop()
		return err
	}
	wctx, cancel := context.WithDeadline(ctx, deadline)
	offline, err := waitSettled(wctx, p.core, deadline)
	cancel()
	stop() // jobs cut off mid-run go back to the queue untouched
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	timedOut := err != nil
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return reportSync(ctx, e.stdout, p, before, offline, timedOut, *wait)
}

// drainWait bounds how long stopping the outbox waits for jobs mid-run to
// finish (see serveInBackground). A variable so tests can cut a send off.
var drainWait = 5 * time.Second

// serveInBackground runs c's outbox until the returned stop is called;
// stop returns once Serve has. Before it cancels Serve, stop waits (at most
// drainWait) for the jobs being sent to finish: a job cancelled after its
// request was answered but before its outcome was recorded would stay
// leased, and so unsent, for the outbox's lease (five minutes).
func serveInBackground(ctx context.Context, c *app.Core) (stop func()) {
	sctx, cancel := context.WithCancel(ctx)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = c.Serve(sctx) // returns ctx's error only
	}()
	return func() {
		dctx, done := context.WithTimeout(ctx, drainWait)
		for dctx.Err() == nil {
			changed := c.JobsChanged()
			running, err := c.Jobs(dctx, app.JobFilter{States: []app.JobState{outbox.Running}, Limit: 1})
			if err != nil || len(running) == 0 {
				break
			}
			select {
			case <-dctx.Done():
			case <-changed:
			}
		}
		done()
		cancel()
		<-served
	}
}

// waitSettled waits until no job can be sent before deadline: none is
// running, and every group's first unfinished job either needs attention
// or is not due before deadline. It returns early with offline true when
// the outbox finds the server unreachable (once no job of this process is
// mid-run), and with ctx's error when ctx ends first.
func waitSettled(ctx context.Context, c *app.Core, deadline time.Time) (offline bool, err error) {
	for {
		changed := c.JobsChanged()
		jobs, err := c.Jobs(ctx, app.JobFilter{States: unfinished})
		if err != nil {
			return false, err
		}
		running, due := false, false
		heads := map[string]bool{}
		for _, j := range jobs {
			if heads[j.Group] {
				continue // it waits behind an earlier job of its group
			}
			heads[j.Group] = true
			switch j.State {
			case outbox.Running:
				running = true
			case outbox.Queued:
				due = due || j.NextAttemptAt.Before(deadline)
			}
		}
		switch {
		case running:
		case !c.Online():
			return true, nil
		case !due:
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-changed:
		}
	}
}

// reportSync prints what scribe sync did: the jobs sent, those that need
// attention, and those still waiting and why. Jobs needing attention make
// it fail (exit 1) after printing, so a script notices.
func reportSync(ctx context.Context, w io.Writer, p *profile, before []app.Job, offline, timedOut bool, wait time.Duration) error {
	var sent []app.Job
	for _, b := range before {
		j, err := p.core.Job(ctx, b.ID)
		if err != nil {
			return err
		}
		if j.State == outbox.Done {
			sent = append(sent, j)
		}
	}
	attention, err := p.core.Jobs(ctx, app.JobFilter{States: []app.JobState{outbox.NeedsAttention}})
	if err != nil {
		return err
	}
	waiting, err := p.core.Jobs(ctx, app.JobFilter{States: []app.JobState{outbox.Queued, outbox.Running}})
	if err != nil {
		return err
	}
	if len(sent)+len(attention)+len(waiting) == 0 {
		fmt.Fprintln(w, "Nothing to send: everything made here has been sent.")
		return nil
	}
	if len(sent) > 0 {
		fmt.Fprintf(w, "Sent %s:\n", plural(len(sent), "job", "jobs"))
		for _, j := range sent {
			fmt.Fprintf(w, "  %d  %s\n", j.ID, clean(app.DescribeJob(j)))
		}
	}
	if len(attention) > 0 {
		fmt.Fprintf(w, "Needs attention (%d):\n", len(attention))
		for _, j := range attention {
			fmt.Fprintf(w, "  %d  %s: %s — %s\n", j.ID, clean(app.DescribeJob(j)), clean(shorten(j.LastError, 200)), clean(whatToDo(j, true)))
		}
	}
	if n := len(waiting); n > 0 {
		switch {
		case offline:
			fmt.Fprintf(w, "Offline: %s cannot be reached. %s wait on this computer; they will be sent when the server can be reached (scribe sync, or while the Scribe window is open).\n",
				hostOf(p.server), plural(n, "job", "jobs"))
		case timedOut:
			fmt.Fprintf(w, "%s still wait after %s; they will be sent by the next scribe sync or while the Scribe window is open (scribe queue shows why).\n",
				plural(n, "job", "jobs"), wait)
		default:
			next := waiting[0].NextAttemptAt
			for _, j := range waiting[1:] {
				if j.NextAttemptAt.Before(next) {
					next = j.NextAttemptAt
				}
			}
			fmt.Fprintf(w, "%s wait to be retried (the first %s); scribe queue shows why.\n",
				plural(n, "job", "jobs"), app.Ago(next, time.Now()))
		}
	}
	if len(attention) > 0 {
		verb := "need"
		if len(attention) == 1 {
			verb = "needs"
		}
		return messageErr("%s %s your attention — see above, or scribe queue.", plural(len(attention), "job", "jobs"), verb)
	}
	return nil
}

// plural is "1 job" or "3 jobs".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
