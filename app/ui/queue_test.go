package ui

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/platform"
	"github.com/nextvisit/scribe/sync/outbox"
	"github.com/nextvisit/scribe/sync/sandbox"
)

// outage serves a sandbox on a fixed address that a test can take down and
// bring back, as a clinic's network comes and goes: down closes the
// listener and every connection, so requests fail to connect.
type outage struct {
	t    *testing.T
	h    http.Handler
	addr string

	mu  sync.Mutex
	srv *http.Server
}

func (o *outage) up() {
	o.t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.srv != nil {
		return
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(o.t.Context(), "tcp", o.addr)
	if err != nil {
		o.t.Fatalf("listen on %s: %v", o.addr, err)
	}
	o.addr = ln.Addr().String()
	srv := &http.Server{Handler: o.h, ReadHeaderTimeout: 10 * time.Second}
	o.srv = srv
	go func() { _ = srv.Serve(ln) }()
}

func (o *outage) down() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.srv != nil {
		_ = o.srv.Close()
		o.srv = nil
	}
}

// newOutageHarness is newHarness, signed in, with the sandbox behind an
// outage switch.
func newOutageHarness(t *testing.T) (*harness, *outage) {
	t.Helper()
	ctx := t.Context()
	sb, err := sandbox.New(ctx, sandbox.Config{Dir: t.TempDir(), ProcessingDelay: 20 * time.Millisecond})
	if err != nil {
		t.Fatalf("sandbox: %v", err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	link := &outage{t: t, h: sb.Handler(), addr: "127.0.0.1:0"}
	link.up()
	t.Cleanup(link.down)
	url := "http://" + link.addr + "/api"

	profile := t.TempDir()
	secrets, err := platform.NewFileVault(profile)
	if err != nil {
		t.Fatalf("file vault: %v", err)
	}
	core, err := app.Open(ctx, app.Config{ProfileDir: profile, Secrets: secrets})
	if err != nil {
		t.Fatalf("open core: %v", err)
	}
	t.Cleanup(func() { _ = core.Close() })
	if _, err := core.SignIn(ctx, url, sandbox.SampleEmail, sandbox.SamplePassword); err != nil {
		t.Fatalf("sign in: %v", err)
	}
	fa := test.NewTempApp(t)
	q := newUIQueue()
	h := &harness{t: t, fa: fa, core: core, q: q, sandbox: sb, url: url}
	h.shell = newShell(fa, core, Options{}, q.post)
	t.Cleanup(h.shell.stop)
	h.shell.show()
	return h, link
}

// openQueue switches to the Queue screen and waits for its first read.
func openQueue(h *harness) *queueScreen {
	h.t.Helper()
	m := h.main()
	m.showScreen(navQueue)
	q := m.queue
	h.waitFor("the queue", func() bool { return q.loaded })
	return q
}

// queueRow is one job's row as the list draws it.
type queueRow struct {
	title, state, facts, problem *widget.Label
	retry, cancel                *widget.Button
}

// row draws job id's row the way the list does and returns its widgets;
// ok is false when the job is not listed.
func (q *queueScreen) row(id app.JobID) (queueRow, bool) {
	for i, j := range q.snap.jobs {
		if j.ID != id {
			continue
		}
		o := q.createRow()
		q.updateRow(i, o)
		c := o.(*fyne.Container)
		text, buttons := c.Objects[0].(*fyne.Container), c.Objects[1].(*fyne.Container).Objects[0].(*fyne.Container)
		line := text.Objects[0].(*fyne.Container)
		return queueRow{
			title: line.Objects[0].(*widget.Label), state: line.Objects[1].(*widget.Label),
			facts: text.Objects[1].(*widget.Label), problem: text.Objects[2].(*widget.Label),
			retry: buttons.Objects[0].(*widget.Button), cancel: buttons.Objects[1].(*widget.Button),
		}, true
	}
	return queueRow{}, false
}

// state is job id's state as the screen last read it, or "" if not listed.
func (q *queueScreen) state(id app.JobID) app.JobState {
	for _, j := range q.snap.jobs {
		if j.ID == id {
			return j.State
		}
	}
	return ""
}

// wantCounts checks the counts line against the core's own counts.
func wantCounts(h *harness, q *queueScreen, contains string) {
	h.t.Helper()
	counts, err := h.core.JobCounts(h.ctx())
	if err != nil {
		h.t.Fatal(err)
	}
	if got, want := q.counts.Text, countsLine(counts); got != want || !strings.Contains(got, contains) {
		h.t.Errorf("counts line %q, want %q containing %q", got, want, contains)
	}
}

func TestQueueOfflineJobCancelRetryAndDelivery(t *testing.T) {
	h, link := newOutageHarness(t)
	link.down()
	added, err := h.core.CreatePatient(h.ctx(), app.NewPatient{FirstName: "Wren", LastName: "Offlineson"})
	if err != nil || !added.Pending {
		t.Fatalf("CreatePatient with the server down: pending %v, err %v; want pending", added.Pending, err)
	}
	id := added.Job
	q := openQueue(h)
	h.waitFor("the offline line", func() bool { return q.online.Text == offlineText })
	if q.state(id) != outbox.Queued {
		t.Fatalf("job %d shows %q, want queued", id, q.state(id))
	}
	wantCounts(h, q, "1 queued")
	r, _ := q.row(id)
	job, err := h.core.Job(h.ctx(), id)
	if err != nil {
		t.Fatal(err)
	}
	if r.title.Text != app.DescribeJob(job) || !strings.Contains(r.title.Text, "Wren Offlineson") {
		t.Errorf("row title %q, want %q", r.title.Text, app.DescribeJob(job))
	}
	for _, want := range []string{"create-patient", "1 attempt", "next attempt when the connection returns"} {
		if !strings.Contains(r.facts.Text, want) {
			t.Errorf("row facts %q lack %q", r.facts.Text, want)
		}
	}
	if !r.retry.Disabled() || r.cancel.Disabled() {
		t.Errorf("queued job: Retry disabled %v, Cancel disabled %v; want Retry off, Cancel on", r.retry.Disabled(), r.cancel.Disabled())
	}
	host := strings.TrimPrefix(strings.TrimSuffix(h.url, "/api"), "http://")
	if !strings.Contains(q.remotes.Text, "Server "+host+": last read") {
		t.Errorf("remotes %q do not name %s", q.remotes.Text, host)
	}

	// Cancel: the change arrives through JobsChanged, not by a reload the
	// button asks for.
	test.Tap(r.cancel)
	h.waitFor("the job cancelled", func() bool { return q.state(id) == outbox.Cancelled })
	wantCounts(h, q, "1 cancelled")
	r, _ = q.row(id)
	if r.retry.Disabled() || !r.cancel.Disabled() {
		t.Errorf("cancelled job: Retry disabled %v, Cancel disabled %v; want Retry on, Cancel off", r.retry.Disabled(), r.cancel.Disabled())
	}

	test.Tap(r.retry)
	h.waitFor("the job queued again", func() bool { return q.state(id) == outbox.Queued })
	wantCounts(h, q, "1 queued")

	// A refusal (the job moved on between drawing and tapping) is shown in
	// the job's row in the app's words.
	q.act(id, "retry")
	h.waitFor("the refusal", func() bool { return q.actionErr[id].msg != "" })
	want := app.Explain(h.core.RetryJob(h.ctx(), id))
	r, _ = q.row(id)
	if want == "" || !strings.Contains(r.problem.Text, want) {
		t.Errorf("row problem %q, want it to contain %q", r.problem.Text, want)
	}

	test.Tap(q.sendNow)
	h.waitFor("Send now's answer", func() bool { return !q.sendNow.Disabled() && q.sendMsg.Text != "" })
	if got := q.sendMsg.Text; got != "Offline: 1 change will go as soon as the connection returns." {
		t.Errorf("Send now offline says %q", got)
	}

	// The network returns: the job goes, once, and the screen follows.
	link.up()
	h.waitFor("the job done", func() bool { return q.state(id) == outbox.Done && q.online.Text == onlineText })
	wantCounts(h, q, "1 done")
	if n := h.sandbox.EffectCount(job.IdempotencyKey); n != 1 {
		t.Errorf("the sandbox saw the patient added %d times, want 1", n)
	}
	r, _ = q.row(id)
	if !r.retry.Disabled() || !r.cancel.Disabled() {
		t.Error("a done job offers Retry or Cancel")
	}
	if strings.Contains(r.problem.Text, want) {
		t.Errorf("the old refusal still shows on the done job: %q", r.problem.Text)
	}
}

func TestQueueNeedsAttentionRetryAndCancel(t *testing.T) {
	h, link := newOutageHarness(t)
	link.down()
	// The server refuses this birth date, but only the server knows: kept
	// offline, it fails when it is sent.
	added, err := h.core.CreatePatient(h.ctx(), app.NewPatient{FirstName: "Ada", LastName: "Oldtimer", DateOfBirth: "1850-01-01"})
	if err != nil || !added.Pending {
		t.Fatalf("CreatePatient offline: pending %v, err %v", added.Pending, err)
	}
	id := added.Job
	q := openQueue(h)
	link.up()
	h.waitFor("the job to need attention", func() bool { return q.state(id) == outbox.NeedsAttention })
	wantCounts(h, q, "1 needs attention")
	job, err := h.core.Job(h.ctx(), id)
	if err != nil {
		t.Fatal(err)
	}
	if job.WhatToDo == "" || job.LastError == "" {
		t.Fatalf("needs-attention job without reason or advice: %+v", job)
	}
	r, _ := q.row(id)
	if !strings.Contains(r.problem.Text, "What to do: ") || !strings.Contains(r.problem.Text, job.LastError) ||
		!strings.Contains(strings.ToLower(r.problem.Text), strings.ToLower(job.WhatToDo)) {
		t.Errorf("row problem %q should give the error %q and what to do %q", r.problem.Text, job.LastError, job.WhatToDo)
	}
	if r.state.Text != "needs attention" || r.state.Importance != widget.DangerImportance {
		t.Errorf("state %q (importance %v)", r.state.Text, r.state.Importance)
	}
	if r.retry.Disabled() || r.cancel.Disabled() {
		t.Error("a needs-attention job should offer both Retry and Cancel")
	}
	// Selecting the row writes it out in full.
	q.list.Select(0)
	if !q.detail.Visible() || !strings.Contains(strings.ToLower(q.detail.Text), strings.ToLower(job.WhatToDo)) {
		t.Errorf("detail %q (visible %v) lacks what to do", q.detail.Text, q.detail.Visible())
	}

	// Retry sends it again; the server refuses again.
	test.Tap(r.retry)
	if !q.busy[id] {
		t.Fatal("Retry did not start")
	}
	h.waitFor("the second refusal", func() bool {
		j, ok := q.job(id)
		return !q.busy[id] && ok && j.State == outbox.NeedsAttention && j.Attempts == job.Attempts+1
	})
	r, _ = q.row(id)
	if want := plural(job.Attempts+1, "attempt", "attempts"); !strings.Contains(r.facts.Text, want) {
		t.Errorf("facts after the retry %q, want %q", r.facts.Text, want)
	}

	test.Tap(r.cancel)
	h.waitFor("the job cancelled", func() bool { return q.state(id) == outbox.Cancelled })
	wantCounts(h, q, "1 cancelled")
	if n := h.sandbox.EffectCount(job.IdempotencyKey); n != 0 {
		t.Errorf("a refused patient took effect %d times", n)
	}
}

func TestQueueStopsWatchingWhenHidden(t *testing.T) {
	h, _ := newOutageHarness(t)
	q := openQueue(h)
	if q.watch.cancel == nil {
		t.Fatal("the shown Queue screen is not watching the queue")
	}
	h.main().showScreen(navPatients)
	if q.watch.cancel != nil || q.req.cancel != nil {
		t.Error("the hidden Queue screen still watches or reads the queue")
	}
	// A change now is not read by the hidden screen.
	before := q.snap.now
	if _, err := h.core.CreatePatient(h.ctx(), app.NewPatient{FirstName: "Hidden", LastName: "Change"}); err != nil {
		t.Fatal(err)
	}
	h.q.drain()
	if !q.snap.now.Equal(before) || q.req.cancel != nil {
		t.Error("the hidden Queue screen read the queue after a change")
	}
}

func TestPatientFormPendingNotice(t *testing.T) {
	h, link := newOutageHarness(t)
	p := openPatients(h)
	link.down()

	test.Tap(p.add)
	f := p.form
	test.Type(f.first, "Robin")
	test.Type(f.last, "Pendington")
	test.Tap(f.save)
	h.waitFor("the form to close", func() bool { return p.form == nil })
	want := "Kept on this computer — Robin Pendington will be added to Nextvisit when the connection returns."
	if !p.noticeBox.Visible() || p.notice.Text != want {
		t.Errorf("notice %q (visible %v), want %q", p.notice.Text, p.noticeBox.Visible(), want)
	}
	if st := h.main().status; st.Text != want || st.Importance == widget.DangerImportance {
		t.Errorf("status line %q (importance %v): want the notice, not an error", st.Text, st.Importance)
	}
	h.waitFor("the list to show the kept patient", func() bool { return !p.loading.Visible() && p.query == "Pendington" })
	if len(p.items) == 0 || !app.IsLocal(p.items[0]) {
		t.Fatalf("the list shows %v, want the local patient first", ids(p.items))
	}
	row := p.createRow()
	p.updateRow(0, row)
	if got := row.(*fyne.Container).Objects[0].(*widget.Label).Text; got != "Robin Pendington (not yet sent)" {
		t.Errorf("the kept patient's row reads %q", got)
	}

	// The Record screen's picker marks them too.
	r := h.main().record
	h.main().showScreen(navRecord)
	test.Type(r.patient.entry, "Pendington")
	h.waitFor("the picker's matches", func() bool { return r.patient.query == "Pendington" })
	if len(r.patient.options) == 0 || r.patient.options[0] != "Robin Pendington (not yet sent)" {
		t.Errorf("picker offers %q", r.patient.options)
	}

	// Once sent (the Queue screen follows it), the mark goes.
	link.up()
	q := openQueue(h)
	h.waitFor("the patient sent", func() bool { return q.snap.counts[outbox.Done] == 1 })
	pg, err := h.core.Patients(h.ctx(), "Pendington", 1, 10)
	if err != nil || len(pg.Items) != 1 || app.IsLocal(pg.Items[0]) {
		t.Fatalf("after sending, the roster has %v (%v), want one server patient", ids(pg.Items), err)
	}
	if got := pickerLabel(pg.Items[0]); got != "Robin Pendington" {
		t.Errorf("the sent patient's label %q", got)
	}
}

func TestQueueFormatting(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		t    time.Time
		want string
	}{
		{time.Time{}, "never"},
		{now.Add(-2 * time.Second), "just now"},
		{now.Add(2 * time.Second), "in a moment"},
		{now.Add(-12 * time.Second), "12 s ago"},
		{now.Add(90 * time.Second), "in 1 min"},
		{now.Add(-3 * time.Hour), "3 h ago"},
		{now.Add(-72 * time.Hour), "3 days ago"},
	} {
		if got := app.Ago(c.t, now); got != c.want {
			t.Errorf("Ago(%v) = %q, want %q", now.Sub(c.t), got, c.want)
		}
	}
	if got := countsLine(map[app.JobState]int{outbox.Done: 14, outbox.Queued: 2, outbox.NeedsAttention: 1}); got != "2 queued · 1 needs attention · 14 done" {
		t.Errorf("countsLine = %q", got)
	}
	if got := countsLine(nil); got != "Nothing is waiting to be sent." {
		t.Errorf("countsLine(nil) = %q", got)
	}
}
