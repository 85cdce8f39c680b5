package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nextvisit/scribe/audio/capture"
	"github.com/nextvisit/scribe/audio/dsp"
	"github.com/nextvisit/scribe/audio/journal"
	"github.com/nextvisit/scribe/platform"
	"github.com/nextvisit/scribe/sync/store"
)

// Disk space rules for recording.
const (
	// lowDiskWarning is the recording time left under which a recording
	// warns that the disk is filling up.
	lowDiskWarning = 10 * time.Minute
	// diskCheckEvery is how often a recording checks the disk (and saves
	// its duration so far, for other processes' lists).
	diskCheckEvery = 30 * time.Second
	// eventBuffer is how many events wait for a slow reader before the
	// oldest is dropped.
	eventBuffer = 64
)

// system is what recording needs from the OS, replaced in tests.
type system struct {
	timeLeft     func(dir string) (time.Duration, error) // recording time left on dir's disk
	diskEvery    time.Duration                           // how often a recording checks it
	inhibitSleep func(ctx context.Context, why string) (release func(), err error)
}

func osSystem() system {
	return system{timeLeft: platform.RecordingTimeLeft, diskEvery: diskCheckEvery, inhibitSleep: platform.InhibitSleep}
}

// RecordOptions choose what StartRecording records.
type RecordOptions struct {
	// Device is the microphone's name (exact, or a unique part of it, as
	// Devices lists them); "" is the system default.
	Device string
	// PatientID is the patient the visit is with; 0 when not chosen yet,
	// negative for one added on this computer and not yet on the server.
	PatientID int64
	// TemplateID is the note template (Templates); 0 for the server's
	// default.
	TemplateID int64
	// Context is anything the note should take into account.
	Context string
	// Consent says the patient agreed to be recorded; it is kept with the
	// encounter, with the time and the clinician.
	Consent bool
}

// SleepWarning is shown when the OS cannot be kept awake while recording.
const SleepWarning = "This computer may go to sleep during the recording — keep it awake and plugged in, with the lid open."

// RecordingEventKind names a RecordingEvent.
type RecordingEventKind string

// Recording events. Warnings stay true until an event whose Clears names
// them: AudioDetected clears NoAudio, DeviceChanged clears DeviceLost,
// WriteRecovered clears WriteError.
const (
	EventNoAudio           RecordingEventKind = "no-audio"
	EventAudioDetected     RecordingEventKind = "audio-detected"
	EventClipping          RecordingEventKind = "clipping"
	EventOverrun           RecordingEventKind = "overrun"
	EventDeviceLost        RecordingEventKind = "device-lost"
	EventDeviceChanged     RecordingEventKind = "device-changed"
	EventWriteError        RecordingEventKind = "write-error"
	EventWriteRecovered    RecordingEventKind = "write-recovered"
	EventDiskLow           RecordingEventKind = "disk-low"
	EventSleepNotInhibited RecordingEventKind = "sleep-not-inhibited"
)

// RecordingEvent is something the clinician should know while recording.
type RecordingEvent struct {
	Kind RecordingEventKind
	// Message is for the clinician: what happened and, after a dash, what
	// to do. It never names the patient.
	Message string
	// Warning is true for problems; false for news that one has passed.
	Warning bool
	// Clears names the earlier warning this event takes back, if any.
	Clears RecordingEventKind
	// At is the recording time (pauses excluded) when it happened.
	At time.Duration
}

// Devices lists the microphones, the system default marked. None at all
// is an error matching capture.ErrNoDevice, worded for the clinician.
func (c *Core) Devices(ctx context.Context) ([]capture.Device, error) {
	devs, err := c.audio.Devices(ctx)
	if err != nil {
		return nil, explained("Cannot list the microphones: "+err.Error()+" — check the system sound settings.", err)
	}
	if len(devs) == 0 {
		return nil, explained(capture.ErrNoDevice.Error(), capture.ErrNoDevice)
	}
	return devs, nil
}

// Recording is a recording under way. Its methods are safe for concurrent
// use. Levels and Events are closed when End returns.
type Recording struct {
	c       *Core
	id, dir string
	created time.Time
	patient int64
	ctx     context.Context // the recording's lifetime: StartRecording's values, never cancelled
	w       *journal.Writer
	rec     *capture.Recorder
	lock    *encounterLock
	awake   func() // releases the sleep inhibitor
	levels  chan dsp.Level
	events  chan RecordingEvent
	stopMon chan struct{}
	monDone chan struct{}
	save    chan struct{} // asks the monitor to save progress now
	live    *live         // the live transcript; set before the microphone starts

	mu     sync.Mutex // guards the fields below, and sends against close
	state  EncounterState
	device string
	closed bool // channels closed

	endMu  sync.Mutex // serializes End
	ended  bool
	result Encounter
	endErr error
}

// StartRecording starts recording a visit: it checks there is room for at
// least 30 minutes of audio, keeps the computer awake (or warns, through
// Events, that it cannot), creates the encounter and its journal and
// starts the microphone. Audio reaches the disk before anything else sees
// it; a crash loses at most about a second of it (see RecoverEncounters).
// ctx bounds the start only: the recording runs until End.
func (c *Core) StartRecording(ctx context.Context, opts RecordOptions) (*Recording, error) {
	if opts.TemplateID < 0 {
		return nil, &inputError{msg: fmt.Sprintf("Template id %d is not valid — choose the template again.", opts.TemplateID)}
	}
	var err error
	if opts.PatientID, err = c.visitPatient(ctx, opts.PatientID); err != nil {
		return nil, err
	}
	root := c.encountersDir()
	if err := platform.EnsureDir(root); err != nil {
		return nil, fmt.Errorf("start recording: %w", err)
	}
	if err := c.checkSpace(root); err != nil {
		return nil, err
	}
	now := time.Now()
	id := newEncounterID(now)
	lock, err := lockEncounter(root, id)
	if err != nil {
		return nil, fmt.Errorf("start recording: %w", err)
	}
	r := &Recording{
		c: c, id: id, dir: filepath.Join(root, id), created: now, patient: opts.PatientID,
		ctx: context.WithoutCancel(ctx), lock: lock, awake: func() {},
		levels: make(chan dsp.Level, 1), events: make(chan RecordingEvent, eventBuffer),
		stopMon: make(chan struct{}), monDone: make(chan struct{}), save: make(chan struct{}, 1),
		state: StateRecording, device: opts.Device,
	}
	if err := r.start(ctx, opts); err != nil {
		r.abandon()
		return nil, err
	}
	c.mu.Lock()
	c.recs[id] = r
	c.mu.Unlock()
	go r.monitor()
	c.log.Info("recording started", "encounter", id, "device", r.Device())
	return r, nil
}

// start does StartRecording's steps that abandon undoes.
func (r *Recording) start(ctx context.Context, opts RecordOptions) error {
	c := r.c
	// The row first: a crash from here on leaves an open encounter that
	// RecoverEncounters repairs (or removes, when it holds no audio).
	row := store.Encounter{
		ID: r.id, PatientID: opts.PatientID, State: string(StateRecording), CreatedAt: r.created,
		Device: opts.Device, Source: store.SourceMic, Dir: path.Join("encounters", r.id),
		TemplateID: opts.TemplateID, Context: opts.Context,
	}
	c.stampVisit(&row, opts.Consent)
	if err := c.db.CreateEncounter(ctx, row); err != nil {
		return fmt.Errorf("start recording: %w", err)
	}
	release, err := c.sys.inhibitSleep(ctx, "Scribe is recording a visit")
	r.awake = release
	if err != nil {
		// The cause (no logind, D-Bus refused…) is for support, in the log; the clinician gets what to do.
		c.log.Info("cannot keep the computer awake while recording", "error", err)
		r.event(RecordingEvent{Kind: EventSleepNotInhibited, Warning: true,
			Message: SleepWarning})
	}
	if r.w, err = journal.Create(r.dir, r.id, c.journalOptions()); err != nil {
		return fmt.Errorf("start recording: %w", err)
	}
	r.live = c.startLive(r.ctx, r.id, r.dir)
	r.rec, err = capture.Start(ctx, capture.Config{
		Backend: c.audio, Device: opts.Device, Journal: r.w,
		OnLevel: r.level, OnEvent: r.captureEvent, Logger: c.log.With("component", "capture"),
	})
	if err != nil {
		return explainCapture(err)
	}
	if name := r.rec.Stats().Device.Name; name != "" {
		r.mu.Lock()
		r.device = name
		r.mu.Unlock()
		if err := c.db.UpdateEncounter(ctx, r.id, store.EncounterUpdate{State: string(StateRecording), Device: name}); err != nil {
			return fmt.Errorf("start recording: %w", err)
		}
	}
	return nil
}

// abandon undoes a failed start: nothing was recorded, so nothing is kept.
func (r *Recording) abandon() {
	c := r.c
	if r.rec != nil {
		r.rec.Stop()
	}
	if r.w != nil {
		r.w.Close()
	}
	if r.live != nil {
		r.live.finish(r.ctx)
	}
	if err := os.RemoveAll(r.dir); err != nil {
		c.log.Warn("could not remove the folder of a recording that failed to start", "encounter", r.id, "error", err)
	}
	if err := c.db.DeleteEncounter(r.ctx, r.id); err != nil {
		c.log.Warn("could not remove a recording that failed to start", "encounter", r.id, "error", err)
	}
	r.awake()
	r.lock.unlock()
	r.closeChannels()
}

// checkSpace refuses to start with less than platform.MinRecordingTime of
// disk space.
func (c *Core) checkSpace(dir string) error {
	left, err := c.sys.timeLeft(dir)
	if err != nil {
		return fmt.Errorf("check disk space: %w", err)
	}
	if left < platform.MinRecordingTime {
		return explained(fmt.Sprintf("Only %d minutes of recording space are left on this disk; Scribe needs %d to start a recording — free up disk space and try again.",
			int64(left/time.Minute), int64(platform.MinRecordingTime/time.Minute)), platform.ErrLowDisk)
	}
	return nil
}

// explainCapture words a failure to open the microphone for the clinician.
func explainCapture(err error) error {
	switch {
	case errors.Is(err, capture.ErrNoDevice):
		return explained(capture.ErrNoDevice.Error(), err)
	case errors.Is(err, capture.ErrDeviceNotFound), errors.Is(err, capture.ErrDeviceAmbiguous):
		return explained(sentence(err.Error()), err)
	}
	return explained("Could not start the microphone: "+err.Error()+" — check that it is connected and not used by another program, then try again.", err)
}

// sentence capitalizes s and ends it with a period.
func sentence(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	s = string(unicode.ToUpper(r)) + s[n:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// ID is the encounter's id.
func (r *Recording) ID() string { return r.id }

// State is StateRecording or StatePaused while under way, then StateEnded.
func (r *Recording) State() EncounterState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state
}

// Device is the microphone recording now.
func (r *Recording) Device() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.device
}

// Elapsed is the audio recorded so far, pauses excluded.
func (r *Recording) Elapsed() time.Duration {
	return r.rec.Stats().Elapsed
}

// Levels delivers a meter reading every 50 ms of audio. Only the latest
// waits: a reader that falls behind (a screen redrawing at its own pace)
// gets the newest reading, never a backlog. Closed when End returns.
func (r *Recording) Levels() <-chan dsp.Level { return r.levels }

// Live delivers the live transcript: partial and final turns and the
// connection's state (LinkNone when nobody is signed in: the visit is
// transcribed after End). It closes after End.
func (r *Recording) Live() <-chan LiveUpdate { return r.live.updates }

// Events delivers warnings and news as they happen. It holds the last 64
// unread; closed when End returns.
func (r *Recording) Events() <-chan RecordingEvent { return r.events }

// Pause stops writing audio until Resume. The pause is kept in the journal
// and the encounter's state.
func (r *Recording) Pause() error { return r.setPaused(true) }

// Resume continues a paused recording.
func (r *Recording) Resume() error { return r.setPaused(false) }

func (r *Recording) setPaused(pause bool) error {
	r.endMu.Lock()
	defer r.endMu.Unlock()
	if r.ended {
		return &inputError{msg: "The recording has already ended."}
	}
	state, do, verb := StateRecording, r.rec.Resume, "resume"
	if pause {
		state, do, verb = StatePaused, r.rec.Pause, "pause"
	}
	if err := do(); err != nil {
		return fmt.Errorf("%s recording: %w", verb, err)
	}
	r.mu.Lock()
	r.state = state
	r.mu.Unlock()
	// The journal has the pause already; the row is for lists, so a
	// failure here is logged rather than undoing it.
	if err := r.c.db.UpdateEncounter(r.ctx, r.id, store.EncounterUpdate{State: string(state), Duration: r.Elapsed()}); err != nil {
		r.c.log.Warn("could not save the recording's state", "encounter", r.id, "state", state, "error", err)
	}
	return nil
}

// End stops the microphone, closes the journal and marks the encounter
// ended. Calling it again returns the same result. If the journal cannot be
// closed cleanly the encounter stays open, and RecoverEncounters repairs
// it at the next start.
func (r *Recording) End(ctx context.Context) (Encounter, error) {
	r.endMu.Lock()
	defer r.endMu.Unlock()
	if r.ended {
		return r.result, r.endErr
	}
	r.ended = true
	c := r.c
	close(r.stopMon)
	<-r.monDone
	var errs []error
	if err := r.rec.Stop(); err != nil {
		errs = append(errs, fmt.Errorf("stop the microphone: %w", err))
	}
	closeErr := r.w.Close()
	r.awake()
	if closeErr == nil {
		r.live.grew(r.w)
	}
	r.live.finish(ctx)
	m := r.w.Manifest()
	now := time.Now()
	u := store.EncounterUpdate{State: string(StateEnded), Duration: samplesDuration(m.Samples), EndedAt: now, Device: r.Device()}
	if closeErr != nil {
		errs = append(errs, fmt.Errorf("close the journal: %w", closeErr))
		u.State, u.EndedAt = string(StateRecording), time.Time{}
	}
	if err := c.db.UpdateEncounter(context.WithoutCancel(ctx), r.id, u); err != nil {
		errs = append(errs, err)
	}
	r.lock.unlock()
	c.mu.Lock()
	delete(c.recs, r.id)
	c.mu.Unlock()
	r.mu.Lock()
	r.state = EncounterState(u.State)
	r.mu.Unlock()
	r.closeChannels()
	r.result = Encounter{ID: r.id, PatientID: r.patient, State: EncounterState(u.State), Created: r.created, Ended: u.EndedAt,
		Duration: u.Duration, Source: SourceMic, Device: u.Device}
	if len(errs) > 0 {
		r.endErr = explained(fmt.Sprintf("The recording was kept (%s), but it did not end cleanly: %v — Scribe checks it again at the next start; if this repeats, check the disk.",
			u.Duration.Round(time.Second), errors.Join(errs...)), errors.Join(errs...))
	}
	c.log.Info("recording ended", "encounter", r.id, "samples", m.Samples, "clean", len(errs) == 0)
	if len(errs) == 0 {
		// Queued now; if this fails, the next start queues it (FinishPending).
		if st, err := c.finishEncounter(context.WithoutCancel(ctx), r.id); err != nil {
			c.log.Warn("could not queue the encounter for its note; the next start will", "encounter", r.id, "error", err)
		} else {
			r.result.State = st
		}
	}
	return r.result, r.endErr
}

// closeChannels closes Levels and Events once nothing sends on them.
func (r *Recording) closeChannels() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed {
		r.closed = true
		close(r.levels)
		close(r.events)
	}
}

// level passes a meter reading on, replacing one not yet read.
func (r *Recording) level(l dsp.Level) {
	// Called after the audio is in the journal: the live transcript may
	// read it now.
	r.live.grew(r.w)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	select {
	case r.levels <- l:
		return
	default:
	}
	select {
	case <-r.levels:
	default:
	}
	select {
	case r.levels <- l:
	default:
	}
}

// event passes an event on, dropping the oldest unread one when the
// reader has fallen far behind.
func (r *Recording) event(e RecordingEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	for {
		select {
		case r.events <- e:
			return
		default:
		}
		select {
		case old := <-r.events:
			r.c.log.Warn("recording event dropped: nobody is reading events", "kind", old.Kind)
		default:
		}
	}
}

// captureEvent turns capture's report into words for the clinician.
func (r *Recording) captureEvent(ev capture.Event) {
	// The journal is new, so its offsets are recording time.
	e := RecordingEvent{Kind: RecordingEventKind(ev.Kind), At: samplesDuration(ev.At), Warning: true}
	switch ev.Kind {
	case capture.EventNoAudio:
		e.Message = "No audio detected — check that the microphone is connected, not muted, and the one chosen."
	case capture.EventAudioDetected:
		e.Warning, e.Clears, e.Message = false, EventNoAudio, "Audio detected again."
	case capture.EventClipping:
		e.Message = "The sound is too loud and distorts — move the microphone further away or lower its input volume."
	case capture.EventOverrun:
		e.Message = "A moment of audio was lost because the computer was too busy (" + ev.Detail + ") — close other programs if this repeats."
	case capture.EventDeviceLost:
		e.Message = "The microphone stopped delivering audio — plug it back in or check the sound settings; the recording goes on as soon as a microphone is available."
	case capture.EventDeviceChanged:
		e.Warning, e.Clears, e.Message = false, EventDeviceLost, sentence(ev.Detail)
		r.deviceChanged()
	case capture.EventWriteError:
		e.Message = "Scribe cannot save the recording to disk (" + ev.Detail + ") — free up disk space or check the disk; the recording goes on."
	case capture.EventWriteRecovered:
		e.Warning, e.Clears, e.Message = false, EventWriteError, sentence(ev.Detail)
	default:
		e.Message = sentence(ev.Detail)
	}
	r.c.log.Info("recording event", "encounter", r.id, "kind", ev.Kind)
	r.event(e)
}

// deviceChanged notes the new microphone; the monitor saves it, because
// capture's writer, which calls this, must not wait on the database.
func (r *Recording) deviceChanged() {
	name := r.rec.Stats().Device.Name
	r.mu.Lock()
	r.device = name
	r.mu.Unlock()
	select {
	case r.save <- struct{}{}:
	default: // a save is already due
	}
}

// monitor checks the disk while recording and saves the duration so far.
func (r *Recording) monitor() {
	defer close(r.monDone)
	t := time.NewTicker(r.c.sys.diskEvery)
	defer t.Stop()
	warned := false
	for {
		select {
		case <-r.stopMon:
			return
		case <-r.save:
			r.saveProgress()
			continue
		case <-t.C:
		}
		left, err := r.c.sys.timeLeft(r.dir)
		switch {
		case err != nil:
			r.c.log.Warn("cannot check disk space", "error", err)
		case left < lowDiskWarning && !warned:
			warned = true
			r.event(RecordingEvent{Kind: EventDiskLow, Warning: true, At: r.Elapsed(),
				Message: fmt.Sprintf("Only %d minutes of recording space are left on this disk — free up space now; the recording goes on.", int64(left/time.Minute))})
		case left >= lowDiskWarning:
			warned = false
		}
		r.saveProgress()
	}
}

// saveProgress saves the duration so far and the microphone, for lists in
// other processes.
func (r *Recording) saveProgress() {
	r.mu.Lock()
	u := store.EncounterUpdate{State: string(r.state), Device: r.device}
	r.mu.Unlock()
	u.Duration = r.Elapsed()
	if err := r.c.db.UpdateEncounter(r.ctx, r.id, u); err != nil {
		r.c.log.Warn("could not save the recording's progress", "encounter", r.id, "error", err)
	}
}

// activeRecording is the recording under way in this process with id.
func (c *Core) activeRecording(id string) *Recording {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.recs[id]
}

// endRecordings ends every recording under way, for Close.
func (c *Core) endRecordings() error {
	c.mu.Lock()
	recs := make([]*Recording, 0, len(c.recs))
	for _, r := range c.recs {
		recs = append(recs, r)
	}
	c.mu.Unlock()
	var errs []error
	for _, r := range recs {
		if _, err := r.End(r.ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
