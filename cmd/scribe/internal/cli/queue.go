package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/platform"
	"github.com/nextvisit/scribe/sync/outbox"
)

const queueUsage = `Usage: scribe queue [--state S | --all] [--json] [flags]
       scribe queue retry ID [flags]
       scribe queue cancel ID [flags]

Lists the changes kept on this computer until the server takes them (the outbox): how many jobs are in each
state, whether the server can be reached now, when a read from and a write to each server last succeeded,
and the unfinished jobs (queued, running, needs-attention) with what to do about each.
Jobs are sent while the Scribe window is open, by scribe sync, and by scribe patients create.

  --state S   only jobs in state S: queued, running, needs-attention, done or cancelled (several: S,S)
  --all       every job, done and cancelled ones too
  --json      print one JSON object {"counts", "online", "server", "remotes", "jobs"}: keys and states in
              snake_case, times in RFC 3339 (UTC), null for never

  retry ID    put a job that needs attention (or was cancelled) back in the queue
  cancel ID   give up on a queued or needs-attention job (a patient it would add leaves this computer)
` + globalUsage

// unfinished are the states scribe queue lists by default.
var unfinished = []app.JobState{outbox.Queued, outbox.Running, outbox.NeedsAttention}

// allStates in the order counts are shown.
var allStates = []app.JobState{outbox.Queued, outbox.Running, outbox.NeedsAttention, outbox.Done, outbox.Cancelled}

func runQueue(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 && (args[0] == "retry" || args[0] == "cancel") {
		return runQueueAction(ctx, e, args[0], args[1:])
	}
	fs := e.flags("queue", queueUsage)
	stateList := fs.String("state", "", "")
	all := fs.Bool("all", false, "")
	asJSON := fs.Bool("json", false, "")
	if err := parseFlags(fs, queueUsage, args, false); err != nil {
		return err
	}
	if err := noArgs(fs, queueUsage); err != nil {
		return err
	}
	states := unfinished
	switch {
	case *all && *stateList != "":
		return usageErr(queueUsage, "--all and --state both choose the jobs; give one of them")
	case *all:
		states = nil
	case *stateList != "":
		var err error
		if states, err = parseStates(*stateList); err != nil {
			return err
		}
	}
	p, err := e.openProfile(ctx, e.stderrLog(slog.LevelWarn))
	if err != nil {
		return err
	}
	defer p.Close()
	jobs, err := p.core.Jobs(ctx, app.JobFilter{States: states})
	if err != nil {
		return err
	}
	counts, err := p.core.JobCounts(ctx)
	if err != nil {
		return err
	}
	// This process has sent nothing yet, so the outbox's own online flag
	// knows nothing; ask the server the way the outbox's probe does.
	host := hostOf(p.server)
	online := platform.Reachable(ctx, p.server) == nil
	remotes := p.core.Remotes(ctx)
	now := time.Now()
	if *asJSON {
		return writeJSON(e.stdout, newJSONQueue(counts, online, host, remotes, jobs))
	}
	fmt.Fprintln(e.stdout, countsLine(counts))
	if online {
		fmt.Fprintf(e.stdout, "Server %s: online\n", host)
	} else {
		fmt.Fprintf(e.stdout, "Server %s: offline — cannot reach it; jobs wait here and are sent when it can be reached\n", host)
	}
	for _, r := range remotes {
		fmt.Fprintf(e.stdout, "Last success with %s: read %s, write %s\n", r.Host, app.Ago(r.LastRead, now), app.Ago(r.LastWrite, now))
	}
	fmt.Fprintln(e.stdout)
	if len(jobs) == 0 {
		if states == nil {
			fmt.Fprintln(e.stdout, "No jobs.")
		} else if *stateList != "" {
			fmt.Fprintf(e.stdout, "No jobs in state %s.\n", *stateList)
		} else {
			fmt.Fprintln(e.stdout, "No unfinished jobs: everything made here has been sent.")
		}
		return nil
	}
	t := newTable(e.stdout, "ID", "KIND", "DESCRIPTION", "STATE", "ATTEMPTS", "NEXT ATTEMPT", "LAST ERROR", "WHAT TO DO")
	for _, j := range jobs {
		t.row(j.ID, j.Kind, app.DescribeJob(j), j.State, j.Attempts, nextAttempt(now, j, online),
			orDash(shorten(j.LastError, 80)), whatToDo(j, online))
	}
	return t.flush()
}

// parseStates reads --state: state names, comma-separated, as scribe
// queue shows them or as --json prints them.
func parseStates(list string) ([]app.JobState, error) {
	var out []app.JobState
	for _, name := range strings.Split(list, ",") {
		name = strings.ReplaceAll(strings.TrimSpace(name), "_", "-")
		found := false
		for _, s := range allStates {
			if string(s) == name {
				out, found = append(out, s), true
			}
		}
		if !found {
			return nil, usageErr(queueUsage, "--state %q is not a job state; use queued, running, needs-attention, done or cancelled", name)
		}
	}
	return out, nil
}

// countsLine is "2 queued · 1 needs attention · 14 done".
func countsLine(counts map[app.JobState]int) string {
	var parts []string
	for _, s := range allStates {
		if n := counts[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, strings.ReplaceAll(string(s), "-", " ")))
		}
	}
	if len(parts) == 0 {
		return "No jobs"
	}
	return strings.Join(parts, " · ")
}

// nextAttempt says when a job will be tried next.
func nextAttempt(now time.Time, j app.Job, online bool) string {
	switch {
	case j.State == outbox.Running:
		return "running now"
	case j.State != outbox.Queued:
		return "—"
	case !online:
		return "when online"
	case !j.NextAttemptAt.After(now):
		return "now"
	}
	return app.Ago(j.NextAttemptAt, now)
}

// whatToDo tells the person at the terminal what a job needs from them.
func whatToDo(j app.Job, online bool) string {
	id := strconv.FormatInt(int64(j.ID), 10)
	switch j.State {
	case outbox.Queued:
		if !online {
			return "nothing: it is sent when the server can be reached"
		}
		return "nothing: it is sent by itself; scribe sync sends it now"
	case outbox.Running:
		return "nothing: it is being sent"
	case outbox.NeedsAttention:
		what := strings.TrimSuffix(j.WhatToDo, ".")
		if what == "" {
			what = "see the last error"
		}
		return what + " (scribe queue retry " + id + " · scribe queue cancel " + id + ")"
	case outbox.Cancelled:
		return "nothing: it will not be sent"
	}
	return "—"
}

// shorten cuts s to at most n runes for a table cell; --json has it whole.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// hostOf is the host[:port] of a base URL, as Core.Remotes names it.
func hostOf(server string) string {
	u, err := url.Parse(server)
	if err != nil || u.Host == "" {
		return server
	}
	return u.Host
}

// jsonQueue is scribe queue --json.
type jsonQueue struct {
	Counts  map[string]int `json:"counts"` // every state, zeros included
	Online  bool           `json:"online"`
	Server  string         `json:"server"` // the current server's host
	Remotes []jsonRemote   `json:"remotes"`
	Jobs    []jsonJob      `json:"jobs"`
}

type jsonRemote struct {
	Host      string     `json:"host"`
	LastRead  *time.Time `json:"last_read"`
	LastWrite *time.Time `json:"last_write"`
}

type jsonJob struct {
	ID             int64      `json:"id"`
	Kind           string     `json:"kind"`
	Group          string     `json:"group"`
	Description    string     `json:"description"`
	State          string     `json:"state"`
	Attempts       int        `json:"attempts"`
	NextAttemptAt  *time.Time `json:"next_attempt_at"` // queued jobs only
	LastError      string     `json:"last_error"`
	WhatToDo       string     `json:"what_to_do"`
	IdempotencyKey string     `json:"idempotency_key"`
	CreatedAt      *time.Time `json:"created_at"`
	UpdatedAt      *time.Time `json:"updated_at"`
}

// snake is a job state as --json prints it: "needs_attention".
func snake(s app.JobState) string { return strings.ReplaceAll(string(s), "-", "_") }

// utc is t in UTC for JSON, nil (null) when zero.
func utc(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func newJSONQueue(counts map[app.JobState]int, online bool, host string, remotes []app.Remote, jobs []app.Job) jsonQueue {
	q := jsonQueue{Counts: map[string]int{}, Online: online, Server: host, Remotes: []jsonRemote{}, Jobs: []jsonJob{}}
	for _, s := range allStates {
		q.Counts[snake(s)] = counts[s]
	}
	for _, r := range remotes {
		q.Remotes = append(q.Remotes, jsonRemote{Host: r.Host, LastRead: utc(r.LastRead), LastWrite: utc(r.LastWrite)})
	}
	for _, j := range jobs {
		jj := jsonJob{ID: int64(j.ID), Kind: j.Kind, Group: j.Group, Description: app.DescribeJob(j), State: snake(j.State),
			Attempts: j.Attempts, LastError: j.LastError, WhatToDo: j.WhatToDo, IdempotencyKey: j.IdempotencyKey,
			CreatedAt: utc(j.CreatedAt), UpdatedAt: utc(j.UpdatedAt)}
		if j.State == outbox.Queued {
			jj.NextAttemptAt = utc(j.NextAttemptAt)
		}
		q.Jobs = append(q.Jobs, jj)
	}
	return q
}

// runQueueAction is scribe queue retry ID and scribe queue cancel ID.
func runQueueAction(ctx context.Context, e *env, verb string, args []string) error {
	fs := e.flags("queue "+verb, queueUsage)
	if err := parseFlags(fs, queueUsage, args, false); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return messageErr("give one job ID, e.g. scribe queue %s 14 — the IDs are in the first column of scribe queue.", verb)
	}
	n, err := strconv.ParseInt(fs.Arg(0), 10, 64)
	if err != nil || n < 1 {
		return messageErr("%q is not a job ID — give the number from the ID column of scribe queue.", fs.Arg(0))
	}
	id := app.JobID(n)
	p, err := e.openProfile(ctx, e.stderrLog(slog.LevelWarn))
	if err != nil {
		return err
	}
	defer p.Close()
	j, err := p.core.Job(ctx, id)
	if errors.Is(err, outbox.ErrNotFound) {
		return messageErr("There is no job %d — list the jobs with scribe queue --all.", id)
	}
	if err != nil {
		return err
	}
	if verb == "retry" {
		return retryJob(ctx, e.stdout, p, j)
	}
	return cancelJob(ctx, e.stdout, p, j)
}

func retryJob(ctx context.Context, w io.Writer, p *profile, j app.Job) error {
	switch j.State {
	case outbox.Queued, outbox.Running:
		return messageErr("Job %d is %s already — nothing to retry; scribe sync sends it now.", j.ID, j.State)
	case outbox.Done:
		return messageErr("Job %d is done: the server has it — nothing to retry.", j.ID)
	}
	if err := p.core.RetryJob(ctx, j.ID); err != nil {
		return err
	}
	fmt.Fprintf(w, "Job %d (%s) is queued again; it is sent by scribe sync or while the Scribe window is open.\n", j.ID, clean(app.DescribeJob(j)))
	return nil
}

func cancelJob(ctx context.Context, w io.Writer, p *profile, j app.Job) error {
	switch j.State {
	case outbox.Running:
		return messageErr("Job %d is being sent right now and cannot be cancelled — wait for it, then look again with scribe queue.", j.ID)
	case outbox.Done:
		return messageErr("Job %d is done: the server has it — there is nothing to cancel.", j.ID)
	case outbox.Cancelled:
		return messageErr("Job %d is cancelled already — nothing to do.", j.ID)
	}
	if err := p.core.CancelJob(ctx, j.ID); err != nil {
		return err
	}
	fmt.Fprintf(w, "Cancelled job %d (%s): it will not be sent.\n", j.ID, clean(app.DescribeJob(j)))
	return nil
}
