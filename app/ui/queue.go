package ui

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/sync/outbox"
)

// queueSettle is how long the Queue screen gathers job changes before it
// reads the queue again: a drain changes jobs many times a second, and one
// read per burst is enough for a person to follow.
const queueSettle = 250 * time.Millisecond

// queueClock is how often the relative times on the screen ("12 s ago",
// "in 3 min") are brought up to date while nothing else changes. The last
// read and write times have no change signal of their own (every request
// stamps them), so they are read again at the same pace; that is a read of
// memory, not of the network.
const queueClock = 10 * time.Second

// queueRecent is how many finished (done or cancelled) jobs the screen
// lists after the unfinished ones.
const queueRecent = 50

const (
	offlineText = "Offline — changes wait on this computer and are sent when the connection returns"
	onlineText  = "Online"
)

// queueSnapshot is one read of everything the screen shows.
type queueSnapshot struct {
	counts  map[app.JobState]int
	jobs    []app.Job // unfinished in queue order, then the most recent finished, newest first
	online  bool
	remotes []app.Remote
	now     time.Time // the times on the screen are relative to this
}

// actionError is a refused Retry or Cancel, shown in the job's row until
// the job changes.
type actionError struct {
	msg string
	at  time.Time // the job's UpdatedAt when it was refused
}

// sendResult is Send now's answer, with what it needs to put it in words.
type sendResult struct {
	hurried, queued int
	online          bool
}

// queueScreen shows the outbox: what waits to be sent, what was sent, what
// needs a person, and whether the server can be reached.
type queueScreen struct {
	m *mainWindow

	counts   *widget.Label
	onlineIc *widget.Icon
	online   *widget.Label
	remotes  *widget.Label
	sendNow  *widget.Button
	sendMsg  *widget.Label
	list     *widget.List
	empty    *widget.Label
	failure  *errorPanel
	detail   *widget.Label // the selected job in full
	box      fyne.CanvasObject
	selected app.JobID // 0 when none

	snap      queueSnapshot
	loaded    bool
	actionErr map[app.JobID]actionError // why the last Retry or Cancel of a job failed
	busy      map[app.JobID]bool        // a Retry or Cancel of the job is under way

	watch    inflight // waiting on JobsChanged while the screen is shown
	req      inflight // the read under way
	sendReq  inflight
	settle   *debouncer
	pending  bool // a read is scheduled by settle
	clock    *debouncer
	clockReq inflight
}

func newQueueScreen(m *mainWindow) *queueScreen {
	q := &queueScreen{m: m, actionErr: map[app.JobID]actionError{}, busy: map[app.JobID]bool{},
		settle: newDebouncer(m.shell.b, queueSettle), clock: newDebouncer(m.shell.b, queueClock)}

	q.counts = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	q.counts.Wrapping = fyne.TextWrapWord
	q.onlineIc = widget.NewIcon(theme.ConfirmIcon())
	q.online = widget.NewLabel("")
	q.online.Wrapping = fyne.TextWrapWord
	q.remotes = widget.NewLabel("")
	q.remotes.Wrapping = fyne.TextWrapWord
	q.sendNow = widget.NewButtonWithIcon("Send now", theme.MailSendIcon(), q.onSendNow)
	q.sendNow.Importance = widget.HighImportance
	q.sendMsg = widget.NewLabel("")
	q.sendMsg.Wrapping = fyne.TextWrapWord

	q.list = widget.NewList(q.length, q.createRow, q.updateRow)
	q.list.OnSelected = q.onSelected
	q.empty = widget.NewLabel("Nothing has been queued yet. Changes made while offline wait here until they are sent.")
	q.empty.Wrapping = fyne.TextWrapWord
	q.empty.Hide()
	q.failure = newErrorPanel(q.load)
	q.detail = widget.NewLabel("")
	q.detail.Wrapping = fyne.TextWrapWord
	q.detail.Selectable = true
	q.detail.Hide()

	status := container.NewBorder(nil, nil, q.onlineIc, nil, q.online)
	top := container.NewVBox(
		heading("Queue"),
		q.counts,
		status,
		q.remotes,
		container.NewBorder(nil, nil, q.sendNow, nil, q.sendMsg),
		q.failure.box, q.empty,
		widget.NewSeparator(),
	)
	q.box = container.NewBorder(top, q.detail, nil, nil, q.list)
	return q
}

func (q *queueScreen) view() fyne.CanvasObject { return q.box }

// shown starts watching the queue and reads it. The watch is taken before
// the read, so a change that lands during the read is not missed.
func (q *queueScreen) shown() {
	q.watchChanges()
	q.load()
	q.tick()
}

// hidden stops watching: nobody would see the changes.
func (q *queueScreen) hidden() {
	q.watch.stop()
	q.req.stop()
	q.settle.cancel()
	q.pending = false
	q.clock.cancel()
	q.clockReq.stop()
}

// watchChanges waits (off the UI goroutine) for the next change to any job
// or to the online state, then schedules a read and waits again.
func (q *queueScreen) watchChanges() {
	ctx := q.watch.start(q.m.ctx)
	changed := q.m.shell.core.JobsChanged()
	run(q.m.shell.b, ctx, func(ctx context.Context) (struct{}, error) {
		select {
		case <-changed:
			return struct{}{}, nil
		case <-ctx.Done():
			return struct{}{}, ctx.Err()
		}
	}, q.onChanged)
}

// onChanged re-arms the watch and reads once the burst has settled. Later
// changes within the same burst join the read already scheduled, so a busy
// queue is read every queueSettle rather than never.
func (q *queueScreen) onChanged(struct{}, error) {
	q.watchChanges()
	if q.pending {
		return
	}
	q.pending = true
	q.settle.call(func() {
		q.pending = false
		q.load()
	})
}

// tick brings the relative times and the last read and write times up to
// date, and arms itself again. The jobs are not read: their changes are
// signalled.
func (q *queueScreen) tick() {
	q.clock.call(func() {
		core := q.m.shell.core
		run(q.m.shell.b, q.clockReq.start(q.m.ctx), func(ctx context.Context) ([]app.Remote, error) {
			return core.Remotes(ctx), nil
		}, q.onClock)
		q.tick()
	})
}

func (q *queueScreen) onClock(rs []app.Remote, _ error) {
	q.clockReq.stop()
	if !q.loaded {
		return
	}
	q.snap.remotes, q.snap.now = rs, time.Now()
	q.render()
}

// load reads the queue, replacing any read under way.
func (q *queueScreen) load() {
	ctx := q.req.start(q.m.ctx)
	core := q.m.shell.core
	run(q.m.shell.b, ctx, func(ctx context.Context) (queueSnapshot, error) {
		return readQueue(ctx, core)
	}, q.onLoaded)
}

func readQueue(ctx context.Context, core *app.Core) (queueSnapshot, error) {
	s := queueSnapshot{online: core.Online()}
	var err error
	if s.counts, err = core.JobCounts(ctx); err != nil {
		return s, err
	}
	open, err := core.Jobs(ctx, app.JobFilter{States: []app.JobState{outbox.Queued, outbox.Running, outbox.NeedsAttention}})
	if err != nil {
		return s, err
	}
	finished, err := core.Jobs(ctx, app.JobFilter{States: []app.JobState{outbox.Done, outbox.Cancelled}, Newest: true, Limit: queueRecent})
	if err != nil {
		return s, err
	}
	s.jobs = append(open, finished...)
	s.remotes = core.Remotes(ctx)
	s.now = time.Now()
	return s, nil
}

func (q *queueScreen) onLoaded(s queueSnapshot, err error) {
	q.req.stop()
	if err != nil {
		q.failure.show(q.m.explain(err))
		return
	}
	q.failure.hide()
	q.loaded = true
	q.snap = s
	// A refusal belongs to the job as it was; once the job has moved on
	// (or gone) it says nothing any more.
	for id, ae := range q.actionErr {
		if j, ok := q.job(id); !ok || !j.UpdatedAt.Equal(ae.at) {
			delete(q.actionErr, id)
		}
	}
	q.render()
}

// render shows the snapshot.
func (q *queueScreen) render() {
	s := q.snap
	q.counts.SetText(countsLine(s.counts))
	if s.online {
		q.onlineIc.SetResource(theme.ConfirmIcon())
		q.online.Importance = widget.SuccessImportance
		q.online.SetText(onlineText)
	} else {
		q.onlineIc.SetResource(theme.WarningIcon())
		q.online.Importance = widget.WarningImportance
		q.online.SetText(offlineText)
	}
	q.remotes.SetText(remotesText(s.remotes, s.now))
	if len(s.jobs) == 0 {
		q.empty.Show()
	} else {
		q.empty.Hide()
	}
	q.list.Refresh()
	q.showDetail()
}

func (q *queueScreen) length() int { return len(q.snap.jobs) }

// job is job id as last read; ok is false when it is not listed.
func (q *queueScreen) job(id app.JobID) (app.Job, bool) {
	i := slices.IndexFunc(q.snap.jobs, func(j app.Job) bool { return j.ID == id })
	if i < 0 {
		return app.Job{}, false
	}
	return q.snap.jobs[i], true
}

// A row: the description and state on the first line, the particulars
// below, the problem (if any) under that, and the buttons to the right.
func (q *queueScreen) createRow() fyne.CanvasObject {
	title := widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	title.Truncation = fyne.TextTruncateEllipsis
	state := widget.NewLabel("")
	facts := widget.NewLabel("")
	facts.Truncation = fyne.TextTruncateEllipsis
	facts.SizeName = theme.SizeNameCaptionText
	problem := widget.NewLabel("")
	problem.Truncation = fyne.TextTruncateEllipsis
	problem.Importance = widget.DangerImportance
	problem.SizeName = theme.SizeNameCaptionText
	retry := widget.NewButtonWithIcon("Retry", theme.ViewRefreshIcon(), nil)
	cancel := widget.NewButtonWithIcon("Cancel", theme.CancelIcon(), nil)
	text := container.New(layout.NewCustomPaddedVBoxLayout(0),
		container.NewBorder(nil, nil, nil, state, title), facts, problem)
	// Centred, the buttons keep their own height instead of the row's.
	return container.NewBorder(nil, nil, nil, container.NewCenter(container.NewHBox(retry, cancel)), text)
}

func (q *queueScreen) updateRow(id widget.ListItemID, o fyne.CanvasObject) {
	if id >= len(q.snap.jobs) {
		return
	}
	j := q.snap.jobs[id]
	row := o.(*fyne.Container)
	text := row.Objects[0].(*fyne.Container)
	buttons := row.Objects[1].(*fyne.Container).Objects[0].(*fyne.Container)
	line := text.Objects[0].(*fyne.Container)
	title, state := line.Objects[0].(*widget.Label), line.Objects[1].(*widget.Label)
	facts, problem := text.Objects[1].(*widget.Label), text.Objects[2].(*widget.Label)
	retry, cancel := buttons.Objects[0].(*widget.Button), buttons.Objects[1].(*widget.Button)

	title.SetText(app.DescribeJob(j))
	state.Importance = stateImportance(j.State)
	state.SetText(stateName(j.State))
	facts.SetText(jobFacts(j, q.snap.online, q.snap.now))
	problem.SetText(q.problemText(j))

	jid := j.ID
	retry.OnTapped = func() { q.act(jid, "retry") }
	cancel.OnTapped = func() { q.act(jid, "cancel") }
	enable(retry, canRetry(j.State) && !q.busy[jid])
	enable(cancel, canCancel(j.State) && !q.busy[jid])
}

// problemText is what went wrong with j and what to do about it, or "".
func (q *queueScreen) problemText(j app.Job) string {
	var parts []string
	if ae, ok := q.actionErr[j.ID]; ok {
		parts = append(parts, ae.msg)
	}
	if j.State == outbox.NeedsAttention && j.WhatToDo != "" {
		parts = append(parts, "What to do: "+capitalizeFirst(j.WhatToDo)+".")
	}
	if j.LastError != "" && j.State != outbox.Done {
		parts = append(parts, "Last error: "+j.LastError)
	}
	return strings.Join(parts, " ")
}

func (q *queueScreen) onSelected(id widget.ListItemID) {
	if id < len(q.snap.jobs) {
		q.selected = q.snap.jobs[id].ID
	}
	q.showDetail()
}

// showDetail writes the selected job out in full under the list, where the
// rows' ellipses cut it short.
func (q *queueScreen) showDetail() {
	i := slices.IndexFunc(q.snap.jobs, func(j app.Job) bool { return j.ID == q.selected })
	if q.selected == 0 || i < 0 {
		q.detail.Hide()
		return
	}
	j := q.snap.jobs[i]
	text := fmt.Sprintf("Job %d — %s (%s, %s). %s", j.ID, app.DescribeJob(j), j.Kind, stateName(j.State),
		jobFacts(j, q.snap.online, q.snap.now)+".")
	if p := q.problemText(j); p != "" {
		text += "\n" + p
	}
	q.detail.SetText(text)
	q.detail.Show()
}

// act retries or cancels job id; a refusal is shown in the job's row.
func (q *queueScreen) act(id app.JobID, action string) {
	if q.busy[id] {
		return
	}
	q.busy[id] = true
	delete(q.actionErr, id)
	q.list.Refresh()
	core := q.m.shell.core
	run(q.m.shell.b, q.m.ctx, func(ctx context.Context) (struct{}, error) {
		if action == "retry" {
			return struct{}{}, core.RetryJob(ctx, id)
		}
		return struct{}{}, core.CancelJob(ctx, id)
	}, func(_ struct{}, err error) {
		delete(q.busy, id)
		if err != nil {
			j, _ := q.job(id)
			q.actionErr[id] = actionError{msg: app.Explain(err), at: j.UpdatedAt}
		}
		// The change itself wakes the watch; a refusal changes nothing, so
		// the row is redrawn here.
		q.list.Refresh()
		q.showDetail()
	})
}

func (q *queueScreen) onSendNow() {
	enable(q.sendNow, false)
	q.sendMsg.Importance = widget.MediumImportance
	q.sendMsg.SetText("")
	ctx := q.sendReq.start(q.m.ctx)
	core := q.m.shell.core
	run(q.m.shell.b, ctx, func(ctx context.Context) (sendResult, error) {
		n, err := core.SendNow(ctx)
		if err != nil {
			return sendResult{}, err
		}
		counts, err := core.JobCounts(ctx)
		return sendResult{hurried: n, queued: counts[outbox.Queued], online: core.Online()}, err
	}, q.onSent)
}

func (q *queueScreen) onSent(r sendResult, err error) {
	q.sendReq.stop()
	enable(q.sendNow, true)
	switch {
	case err != nil:
		q.sendMsg.Importance = widget.DangerImportance
		q.sendMsg.SetText(app.Explain(err))
	case r.queued == 0:
		q.sendMsg.SetText("Nothing is waiting to be sent.")
	case !r.online:
		q.sendMsg.SetText(fmt.Sprintf("Offline: %s will go as soon as the connection returns.", plural(r.queued, "change", "changes")))
	case r.hurried == 0:
		q.sendMsg.SetText("Everything waiting is being sent already.")
	default:
		q.sendMsg.SetText(fmt.Sprintf("Sending %s now.", plural(r.hurried, "change", "changes")))
	}
}

func canRetry(s app.JobState) bool  { return s == outbox.NeedsAttention || s == outbox.Cancelled }
func canCancel(s app.JobState) bool { return s == outbox.Queued || s == outbox.NeedsAttention }

// stateOrder is the order of states in the counts line.
var stateOrder = []app.JobState{outbox.Queued, outbox.Running, outbox.NeedsAttention, outbox.Done, outbox.Cancelled}

func stateName(s app.JobState) string {
	switch s {
	case outbox.Queued:
		return "queued"
	case outbox.Running:
		return "sending"
	case outbox.NeedsAttention:
		return "needs attention"
	case outbox.Done:
		return "done"
	case outbox.Cancelled:
		return "cancelled"
	}
	return string(s)
}

func stateImportance(s app.JobState) widget.Importance {
	switch s {
	case outbox.NeedsAttention:
		return widget.DangerImportance
	case outbox.Done:
		return widget.SuccessImportance
	case outbox.Queued, outbox.Running:
		return widget.WarningImportance
	}
	return widget.LowImportance
}

// countsLine is "2 queued · 1 needs attention · 14 done", naming only the
// states some job is in.
func countsLine(counts map[app.JobState]int) string {
	var parts []string
	for _, s := range stateOrder {
		if n := counts[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, stateName(s)))
		}
	}
	for s, n := range counts { // a state this screen does not know yet
		if n > 0 && !slices.Contains(stateOrder, s) {
			parts = append(parts, fmt.Sprintf("%d %s", n, s))
		}
	}
	if len(parts) == 0 {
		return "Nothing is waiting to be sent."
	}
	return strings.Join(parts, " · ")
}

// jobFacts is a job's kind, attempts and next attempt, as of now.
func jobFacts(j app.Job, online bool, now time.Time) string {
	parts := []string{j.Kind, plural(j.Attempts, "attempt", "attempts")}
	switch j.State {
	case outbox.Queued:
		switch {
		case !online:
			parts = append(parts, "next attempt when the connection returns")
		case !j.NextAttemptAt.After(now):
			parts = append(parts, "next attempt now")
		default:
			parts = append(parts, "next attempt "+app.Ago(j.NextAttemptAt, now))
		}
	case outbox.Running:
		parts = append(parts, "sending now")
	default:
		parts = append(parts, stateName(j.State)+" "+app.Ago(j.UpdatedAt, now))
	}
	return strings.Join(parts, " · ")
}

// remotesText says when each server last answered a read and a write.
func remotesText(rs []app.Remote, now time.Time) string {
	if len(rs) == 0 {
		return "No server contacted yet."
	}
	lines := make([]string, len(rs))
	for i, r := range rs {
		lines[i] = fmt.Sprintf("Server %s: last read %s · last write %s", r.Host, app.Ago(r.LastRead, now), app.Ago(r.LastWrite, now))
	}
	return strings.Join(lines, "\n")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func capitalizeFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}
