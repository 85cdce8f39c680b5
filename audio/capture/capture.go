// Package capture records a microphone into an encounter journal.
//
// A Backend (PortAudio in the product) opens the device at its native rate
// and channels. Its audio callback only copies frames into a preallocated
// lock-free ring (in C for PortAudio, so the audio thread never enters Go). One writer goroutine per Recorder drains the ring,
// downmixes to mono, resamples to 16 kHz, converts to 16-bit PCM, feeds the
// level meter and the silence detector, and appends to the journal. The
// writer also watches the device: when its callback stops arriving the gap is
// marked in the journal and the default device is reopened, with backoff,
// without ending the recording. Overruns, write errors and device changes are
// reported as Events, never swallowed.
package capture

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/nextvisit/scribe/audio/dsp"
	"github.com/nextvisit/scribe/audio/journal"
)

// Event kinds, in Event.Kind.
const (
	EventOverrun        = "overrun"         // audio was dropped before reaching the writer
	EventDeviceLost     = "device-lost"     // the microphone stopped delivering audio
	EventDeviceChanged  = "device-changed"  // recording continues on another (or the same) device
	EventWriteError     = "write-error"     // the journal refused a write; audio is held in memory
	EventWriteRecovered = "write-recovered" // held audio reached the journal again
	EventNoAudio        = "no-audio"        // nothing above the silence threshold for a while
	EventAudioDetected  = "audio-detected"  // sound again after EventNoAudio
	EventClipping       = "clipping"        // the input is too loud and is being cut off
)

// Event is something the clinician or the log should hear about.
type Event struct {
	Kind   string
	Detail string // plain words; never patient data
	At     int64  // journal sample offset when it happened
}

// Config configures a recording. Backend and Journal are required.
type Config struct {
	Backend Backend
	// Device is the microphone's name: exact, or a unique case-insensitive
	// part of it; "" is the system default.
	Device  string
	Journal *journal.Writer
	// OnLevel receives a meter reading every 50 ms of recorded audio (about
	// 20 Hz), Level.At being the journal offset of the window's end (audio
	// dropped because the journal failed for longer than Backlog is metered
	// but not written: Stats.Dropped). OnEvent receives Events. Both are
	// called from the writer goroutine and must not block: hand the value on
	// (latest wins) and return.
	OnLevel func(dsp.Level)
	OnEvent func(Event)
	Logger  *slog.Logger

	// Tuning; zero values take the defaults.
	Silence   dsp.SilenceConfig // see dsp: -55 dBFS, 10 s at start, 60 s later
	LostAfter time.Duration     // no callback for this long = device lost (2 s)
	RetryMin  time.Duration     // first wait before reopening a lost device (250 ms)
	RetryMax  time.Duration     // longest wait between reopen attempts (5 s)
	Backlog   time.Duration     // audio held in memory while the journal fails (2 min)
}

// Stats is a snapshot of a recording.
type Stats struct {
	Device Device // the device recording now (the last one while lost)
	Format Format // what it delivers
	// Frames counts device frames taken from the ring; Samples counts 16 kHz
	// samples produced for the journal (written, or held while it fails).
	Frames, Samples int64
	// Elapsed is the recorded audio: pauses and device gaps excluded.
	Elapsed time.Duration
	// Overruns counts buffers lost before the writer saw them: the ring was
	// full or the device reported an input overflow. OverrunFrames is how
	// many frames the full ring turned away.
	Overruns, OverrunFrames int64
	Paused, DeviceLost      bool
	Reopens                 int // times the device was reopened after a loss
	// WriteErrors counts failed journal writes; LastWriteError is the latest
	// (nil before the first).
	WriteErrors    int64
	LastWriteError error
	Backlog        time.Duration // audio waiting in memory for the journal
	Dropped        time.Duration // audio lost because the backlog was full
}

// ErrStopped is returned by Pause and Resume after Stop.
var ErrStopped = errors.New("recording has stopped")

// Defaults.
const (
	defaultLostAfter = 2 * time.Second
	defaultRetryMin  = 250 * time.Millisecond
	defaultRetryMax  = 5 * time.Second
	defaultBacklog   = 2 * time.Minute
	// tick is how often the writer drains the ring: short enough for a
	// smooth 20 Hz meter, long enough to cost nothing.
	tick = 20 * time.Millisecond
	// ringSeconds of native audio fit in a backend's ring: room for a slow
	// fsync or a busy machine without dropping anything.
	ringSeconds = 10
	// drainChunks of 100 ms are read per drain: a second of audio per
	// tick, fifty times real time.
	drainChunks = 10
	// reportEvery limits overrun events and marks to one a second.
	reportEvery = time.Second
	// startGrace is added to LostAfter before a new stream's first
	// callback.
	startGrace = 5 * time.Second
	// closeWait bounds how long a lost device's Close may take before the
	// writer gives up waiting and reopens anyway.
	closeWait = 5 * time.Second
	// clipQuiet is how long (in samples) clipping must stop before another
	// clipping event is raised.
	clipQuiet = 2 * journal.SampleRate
)

// fallbackRates are tried, in order, when a device's native rate is one the
// resampler does not take (say 96 kHz or 11.025 kHz).
var fallbackRates = []float64{48000, 44100, 32000, 22050, 16000, 8000}

// Recorder is a running recording. Its methods are safe for concurrent use.
type Recorder struct {
	cfg    Config
	log    *slog.Logger
	j      *journal.Writer
	ctx    context.Context // lives until Stop; bounds device reopening
	cancel context.CancelFunc
	cmds   chan command
	done   chan struct{}
	stop   sync.Once
	err    error // Stop's result, set before done closes

	// Owned by the writer goroutine.
	src        *source
	probing    bool          // src was reopened and has not called back yet
	closing    chan struct{} // closed when the lost source's Close returns
	closeBy    time.Time
	want       string // the exact name of the device asked for ("" = default)
	paused     bool
	lostAt     time.Time
	nextRetry  time.Time
	retryDelay time.Duration
	lastAlive  time.Time
	lastCalls  uint64
	base       int64 // journal offset when the recording started
	produced   int64 // samples produced since start (written or held)
	meter      *dsp.Meter
	silence    *dsp.Silence
	noAudio    bool
	lastClip   int64
	onLevel    func(dsp.Level) // bound once so Push does not allocate
	buf        []float32
	mono, res  []float32
	pcm        []int16
	// Overrun accounting for the current source.
	seen, seenFrames uint64 // counted into stats
	reported         uint64 // reported as an event
	lastReport       time.Time
	// Journal backlog while writes fail.
	pending   []pendingOp
	held      int // samples in pending
	maxHeld   int
	dropped   int64 // samples dropped because the backlog was full, not yet marked
	dropTotal int64
	failing   bool
	nextWrite time.Time
	lastErr   error

	mu    sync.Mutex // guards stats
	stats Stats
}

// pendingOp is a journal write waiting for the journal to accept writes
// again: audio when kind is "", else a mark.
type pendingOp struct {
	kind   journal.EventKind
	detail string
	pcm    []int16
}

// source is one open stream (with its own ring) and the resampler for its
// rate. A new device gets a new source, so a stream that is slow to close
// can never write into the ring of its successor.
type source struct {
	stream   Stream
	dev      Device
	format   Format
	channels int
	rs       *dsp.Resampler
}

type op int

const (
	opPause op = iota
	opResume
	opStop
)

type command struct {
	op    op
	reply chan error
}

// Start opens the device and starts recording into cfg.Journal. With no
// input device at all it returns ErrNoDevice, with an unknown name
// ErrDeviceNotFound (naming the devices there are), before anything is
// written. ctx bounds the start only; the recording runs until Stop.
func Start(ctx context.Context, cfg Config) (*Recorder, error) {
	r, err := newRecorder(ctx, cfg)
	if err != nil {
		return nil, err
	}
	devs, err := cfg.Backend.Devices(ctx)
	if err != nil {
		r.cancel()
		return nil, fmt.Errorf("list microphones: %w", err)
	}
	dev, err := Choose(devs, cfg.Device)
	if err != nil {
		r.cancel()
		return nil, err
	}
	if cfg.Device != "" {
		r.want = dev.Name
	}
	src, err := r.open(ctx, dev)
	if err != nil {
		r.cancel()
		return nil, err
	}
	if err := r.j.Mark(journal.EventDevice, describe(src)); err != nil {
		closeErr := src.stream.Close()
		r.cancel()
		return nil, errors.Join(fmt.Errorf("mark device in journal: %w", err), closeErr)
	}
	r.attach(src, time.Now())
	go r.run()
	return r, nil
}

// newRecorder checks cfg and sets up everything but the device.
func newRecorder(ctx context.Context, cfg Config) (*Recorder, error) {
	if cfg.Backend == nil {
		return nil, errors.New("capture: Config.Backend is nil; use capture.NewPortAudio")
	}
	if cfg.Journal == nil {
		return nil, errors.New("capture: Config.Journal is nil; create one with journal.Create")
	}
	if cfg.LostAfter <= 0 {
		cfg.LostAfter = defaultLostAfter
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = defaultRetryMin
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = max(defaultRetryMax, cfg.RetryMin)
	}
	if cfg.Backlog <= 0 {
		cfg.Backlog = defaultBacklog
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// The recording outlives Start's ctx (a request, a button press) but
	// keeps its values; Stop cancels it.
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r := &Recorder{
		cfg:        cfg,
		log:        log,
		j:          cfg.Journal,
		ctx:        rctx,
		cancel:     cancel,
		cmds:       make(chan command),
		done:       make(chan struct{}),
		retryDelay: cfg.RetryMin,
		base:       cfg.Journal.Samples(),
		meter:      dsp.NewMeter(journal.SampleRate, 50*time.Millisecond),
		silence:    dsp.NewSilence(cfg.Silence, journal.SampleRate),
		lastClip:   -clipQuiet,
		maxHeld:    int(cfg.Backlog.Seconds() * journal.SampleRate),
	}
	r.onLevel = r.level
	return r, nil
}

// open opens dev at its native rate with its native channels (capped at 2
// by the backend); only when the resampler cannot take that rate does it try
// the common ones.
func (r *Recorder) open(ctx context.Context, dev Device) (*source, error) {
	rates := []float64{dev.SampleRate}
	if !resampleable(dev.SampleRate) {
		rates = fallbackRates
	}
	var firstErr error
	for _, rate := range rates {
		st, err := r.cfg.Backend.Open(ctx, dev.Name, Format{SampleRate: rate})
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			if errors.Is(err, ErrDeviceNotFound) || ctx.Err() != nil {
				break
			}
			continue
		}
		src, err := newSource(st)
		if err != nil {
			closeErr := st.Close()
			return nil, errors.Join(err, closeErr)
		}
		if err := st.Start(); err != nil {
			closeErr := st.Close()
			return nil, errors.Join(fmt.Errorf("start microphone %q: %w", dev.Name, err), closeErr)
		}
		return src, nil
	}
	return nil, fmt.Errorf("open microphone %q: %w", dev.Name, firstErr)
}

// newSource sets up the resampler for an opened stream's format.
func newSource(st Stream) (*source, error) {
	f := st.Format()
	if f.Channels < 1 || f.SampleRate <= 0 || f.SampleRate != math.Trunc(f.SampleRate) {
		return nil, fmt.Errorf("microphone %q opened with %d channels at %g Hz; cannot record that", st.Device().Name, f.Channels, f.SampleRate)
	}
	rs, err := dsp.NewResampler(int(f.SampleRate), journal.SampleRate)
	if err != nil {
		return nil, fmt.Errorf("resample microphone %q: %w", st.Device().Name, err)
	}
	return &source{stream: st, dev: st.Device(), format: f, channels: f.Channels, rs: rs}, nil
}

func resampleable(rate float64) bool {
	if rate <= 0 || rate != math.Trunc(rate) {
		return false
	}
	_, err := dsp.NewResampler(int(rate), journal.SampleRate)
	return err == nil
}

// attach makes src the current source and sizes the writer's buffers.
func (r *Recorder) attach(src *source, now time.Time) {
	r.src = src
	r.lastAlive = now
	r.lastCalls = 0
	r.seen, r.seenFrames, r.reported = 0, 0, 0
	// Drain in chunks of 100 ms of native audio, whole frames only.
	n := max(int(src.format.SampleRate)/10, 64) * src.channels
	if cap(r.buf) < n {
		r.buf = make([]float32, n)
	}
	r.buf = r.buf[:n]
	r.mu.Lock()
	r.stats.Device, r.stats.Format = src.dev, src.format
	r.mu.Unlock()
}

func describe(s *source) string {
	return fmt.Sprintf("%s (%s), %g Hz, %d ch", s.dev.Name, s.dev.HostAPI, s.format.SampleRate, s.format.Channels)
}

// Pause stops writing audio until Resume; the journal records the pause and
// its offsets continue where they were. Pausing a paused recording does
// nothing.
func (r *Recorder) Pause() error { return r.send(opPause) }

// Resume continues a paused recording. Resuming one that is not paused does
// nothing.
func (r *Recorder) Resume() error { return r.send(opResume) }

// Stop ends capture: it writes what is still buffered, closes the device and
// syncs the journal. It does not close the journal: the caller marks the end
// and closes it. The error reports audio that could not be written. Calling
// Stop again returns the same result.
func (r *Recorder) Stop() error {
	r.stop.Do(func() {
		r.cancel() // abandon a reopen in progress
		reply := make(chan error, 1)
		select {
		case r.cmds <- command{op: opStop, reply: reply}:
			<-reply
		case <-r.done:
		}
		<-r.done
	})
	return r.err
}

func (r *Recorder) send(o op) error {
	reply := make(chan error, 1)
	select {
	case r.cmds <- command{op: o, reply: reply}:
		return <-reply
	case <-r.done:
		return ErrStopped
	}
}

// Stats returns a snapshot of the recording's counters.
func (r *Recorder) Stats() Stats {
	r.mu.Lock()
	s := r.stats
	r.mu.Unlock()
	return s
}

// run is the writer goroutine.
func (r *Recorder) run() {
	defer close(r.done)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case now := <-t.C:
			r.step(now)
		case c := <-r.cmds:
			now := time.Now()
			// Everything captured before the command belongs before it.
			r.step(now)
			switch c.op {
			case opPause:
				if !r.paused {
					// The resampler's delayed tail is audio from before the
					// pause; Flush writes it and starts afresh for Resume.
					if r.src != nil {
						r.flushResampler()
					}
					r.paused = true
					r.mark(journal.EventPause, "")
				}
			case opResume:
				if r.paused {
					r.drain() // audio from the paused stretch is discarded
					r.paused = false
					r.mark(journal.EventResume, "")
				}
			case opStop:
				r.err = r.finish(now)
			}
			r.publish()
			c.reply <- nil
			if c.op == opStop {
				return
			}
		}
	}
}

// step is one pass of the writer: drain, watch the device, retry what
// failed, publish stats.
func (r *Recorder) step(now time.Time) {
	if r.src != nil {
		// Watch first: a reopened device is confirmed, and the gap
		// marked, before its first audio is written.
		r.watch(now)
	}
	if r.src != nil {
		r.drain()
		r.reportOverruns(now, false)
	} else {
		r.reopen(now)
	}
	if len(r.pending) > 0 && !now.Before(r.nextWrite) {
		r.flushPending()
	}
	r.publish()
}

// drain empties the current source's ring through the pipeline, up to a
// second of audio per call, so that a device delivering faster than real
// time cannot keep the writer from its commands.
func (r *Recorder) drain() {
	src := r.src
	if src == nil {
		return
	}
	for range drainChunks {
		n := src.stream.Read(r.buf)
		if n == 0 {
			return
		}
		r.mu.Lock()
		r.stats.Frames += int64(n / src.channels)
		r.mu.Unlock()
		if r.paused {
			continue
		}
		r.mono = dsp.Downmix(r.mono[:0], r.buf[:n], src.channels)
		r.res = src.rs.Process(r.res[:0], r.mono)
		r.emit(r.res)
	}
}

// emit converts resampled audio to PCM, meters it and appends it.
func (r *Recorder) emit(res []float32) {
	if len(res) == 0 {
		return
	}
	r.pcm, _ = dsp.ToInt16(r.pcm[:0], res)
	r.meter.Push(r.pcm, r.onLevel)
	r.append(r.pcm)
}

// level handles one meter reading.
func (r *Recorder) level(l dsp.Level) {
	// The silence detector counts from this recording's start; everyone
	// else gets journal offsets.
	warn, cleared := r.silence.Observe(l)
	l.At += r.base
	if r.cfg.OnLevel != nil {
		r.cfg.OnLevel(l)
	}
	switch {
	case warn && !r.noAudio:
		r.noAudio = true
		r.event(Event{Kind: EventNoAudio, Detail: "no audio detected: check that the microphone is connected and not muted", At: l.At})
	case cleared && r.noAudio:
		r.noAudio = false
		r.event(Event{Kind: EventAudioDetected, Detail: "audio detected again", At: l.At})
	}
	if l.Clipping {
		if l.At-r.lastClip >= clipQuiet {
			r.event(Event{Kind: EventClipping, Detail: "the input is too loud and is being cut off: lower the microphone gain or move it away", At: l.At})
		}
		r.lastClip = l.At
	}
}

// watch declares the device lost when its callback has stopped arriving,
// and confirms a reopened device once its callback starts.
func (r *Recorder) watch(now time.Time) {
	if calls := r.src.stream.Counters().Callbacks; calls != r.lastCalls {
		r.lastCalls, r.lastAlive = calls, now
		if r.probing {
			r.confirm(now)
		}
		return
	}
	limit := r.cfg.LostAfter
	if r.lastCalls == 0 {
		// A stream's first callback can take a while: PortAudio through
		// PulseAudio needs about 1.5 s, more on a busy machine.
		limit += startGrace
	}
	if now.Sub(r.lastAlive) < limit {
		return
	}
	src := r.src
	if r.probing {
		// Opened but silent (PulseAudio opens a source that is not
		// there and never delivers): not back yet, try again later.
		r.log.Info("reopened microphone delivers no audio; retrying", "device", src.dev.Name, "retry_in", r.retryDelay)
		r.drop(now)
		r.nextRetry = now.Add(r.retryDelay)
		r.retryDelay = min(2*r.retryDelay, r.cfg.RetryMax)
		return
	}
	r.drain()
	r.flushResampler()
	r.reportOverruns(now, true)
	detail := fmt.Sprintf("microphone %q stopped delivering audio for %s; recording continues when a microphone is available", src.dev.Name, now.Sub(r.lastAlive).Round(100*time.Millisecond))
	r.log.Warn("microphone lost", "device", src.dev.Name, "silent_for", now.Sub(r.lastAlive))
	r.mark(journal.EventDevice, "lost: "+src.dev.Name)
	r.mu.Lock()
	r.stats.DeviceLost = true
	r.mu.Unlock()
	r.event(Event{Kind: EventDeviceLost, Detail: detail, At: r.offset()})
	r.lostAt = r.lastAlive // the audio stopped then, not when it was noticed
	r.drop(now)
	r.nextRetry = now
	r.retryDelay = r.cfg.RetryMin
}

// drop closes the current source without waiting: Close may block on a
// dead device, and the writer must keep serving Pause, Resume and Stop.
func (r *Recorder) drop(now time.Time) {
	src := r.src
	r.src, r.probing = nil, false
	closing := make(chan struct{})
	r.closing, r.closeBy = closing, now.Add(closeWait)
	go func() {
		defer close(closing)
		if err := src.stream.Close(); err != nil {
			r.log.Warn("close lost microphone", "device", src.dev.Name, "err", err)
		}
	}()
}

// reopen tries, when due, to open the device asked for if it is back, else
// the default one. The new device counts as back once it delivers audio.
func (r *Recorder) reopen(now time.Time) {
	if now.Before(r.nextRetry) || r.ctx.Err() != nil {
		return
	}
	if r.closing != nil {
		select {
		case <-r.closing:
			r.closing = nil
		default:
			if now.Before(r.closeBy) {
				return
			}
			r.log.Warn("lost microphone is slow to close; opening another anyway")
			r.closing = nil
		}
	}
	src, err := r.tryOpen()
	if err != nil {
		r.log.Info("no microphone yet", "err", err, "retry_in", r.retryDelay)
		r.nextRetry = now.Add(r.retryDelay)
		r.retryDelay = min(2*r.retryDelay, r.cfg.RetryMax)
		return
	}
	r.attach(src, now)
	r.probing = true
}

// confirm records that a reopened device delivers audio again.
func (r *Recorder) confirm(now time.Time) {
	src := r.src
	r.probing = false
	gap := now.Sub(r.lostAt).Round(100 * time.Millisecond)
	r.mark(journal.EventGap, fmt.Sprintf("%s without audio while the microphone was unavailable", gap))
	r.mark(journal.EventDevice, "changed: "+describe(src))
	r.mu.Lock()
	r.stats.Reopens++
	r.stats.DeviceLost = false
	r.mu.Unlock()
	r.log.Info("microphone reopened", "device", src.dev.Name, "gap", gap)
	r.event(Event{Kind: EventDeviceChanged, Detail: fmt.Sprintf("recording continues on %q after %s without audio", src.dev.Name, gap), At: r.offset()})
}

func (r *Recorder) tryOpen() (*source, error) {
	devs, err := r.cfg.Backend.Devices(r.ctx)
	if err != nil {
		return nil, fmt.Errorf("list microphones: %w", err)
	}
	name := ""
	if r.want != "" {
		for _, d := range devs {
			if d.Name == r.want {
				name = r.want
			}
		}
	}
	dev, err := Choose(devs, name)
	if err != nil {
		return nil, err
	}
	return r.open(r.ctx, dev)
}

// flushResampler writes the resampler's delayed tail before the stream it
// belongs to goes away.
func (r *Recorder) flushResampler() {
	if r.paused {
		return
	}
	r.res = r.src.rs.Flush(r.res[:0])
	r.emit(r.res)
}

// reportOverruns turns the callback's counters into an event and a journal
// mark, at most once a second unless final.
func (r *Recorder) reportOverruns(now time.Time, final bool) {
	c := r.src.stream.Counters()
	over, flows, frames := c.Overruns, c.Overflows, c.OverrunFrames
	total := over + flows
	if total != r.seen {
		r.mu.Lock()
		r.stats.Overruns += int64(total - r.seen)
		r.stats.OverrunFrames += int64(frames - r.seenFrames)
		r.mu.Unlock()
		r.seen, r.seenFrames = total, frames
	}
	if total == r.reported || (!final && now.Sub(r.lastReport) < reportEvery) {
		return
	}
	detail := fmt.Sprintf("%d audio buffers lost (%d turned away by a full buffer, %d dropped by the device); the recording has a short gap", total-r.reported, over, flows)
	r.reported = total
	r.lastReport = now
	r.log.Warn("capture overrun", "buffers", over, "device_overflows", flows)
	r.mark(journal.EventOverrun, detail)
	r.event(Event{Kind: EventOverrun, Detail: detail, At: r.offset()})
}

// finish is Stop's work in the writer goroutine.
func (r *Recorder) finish(now time.Time) error {
	var errs []error
	if r.src != nil && !r.probing {
		// Everything the ring holds, not just one drain's worth.
		for range ringSeconds + 1 {
			r.drain()
		}
		r.flushResampler()
		r.reportOverruns(now, true)
		if err := r.src.stream.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close microphone: %w", err))
		}
		r.src = nil
	} else {
		if r.src != nil {
			// Reopened but silent: it never became the microphone.
			if err := r.src.stream.Close(); err != nil {
				r.log.Warn("close silent microphone", "device", r.src.dev.Name, "err", err)
			}
			r.src = nil
		}
		r.mark(journal.EventGap, fmt.Sprintf("%s without audio: the microphone was unavailable until the recording stopped", now.Sub(r.lostAt).Round(100*time.Millisecond)))
	}
	if len(r.pending) > 0 {
		r.flushPending()
	}
	if len(r.pending) > 0 {
		errs = append(errs, fmt.Errorf("%s of audio could not be written to the journal: %w", samplesDur(int64(r.held)), r.lastErr))
	} else if err := r.j.Sync(); err != nil {
		errs = append(errs, fmt.Errorf("sync journal: %w", err))
	}
	return errors.Join(errs...)
}

// offset is the journal offset of the next sample.
func (r *Recorder) offset() int64 { return r.base + r.produced }

// append writes PCM to the journal, or holds it while the journal fails.
func (r *Recorder) append(pcm []int16) {
	if len(r.pending) == 0 {
		before := r.j.Samples()
		err := r.j.Write(pcm)
		if err == nil {
			r.produced += int64(len(pcm))
			return
		}
		written := min(max(r.j.Samples()-before, 0), int64(len(pcm)))
		r.produced += written
		pcm = pcm[written:]
		r.writeFailed(err)
	}
	r.hold(pcm)
}

// hold queues PCM behind earlier failed writes, up to the backlog limit.
func (r *Recorder) hold(pcm []int16) {
	room := r.maxHeld - r.held
	if len(pcm) > room {
		r.dropped += int64(len(pcm) - room)
		r.dropTotal += int64(len(pcm) - room)
		pcm = pcm[:max(room, 0)]
	}
	if len(pcm) == 0 {
		return
	}
	r.produced += int64(len(pcm))
	r.held += len(pcm)
	if n := len(r.pending); n > 0 && r.pending[n-1].kind == "" {
		r.pending[n-1].pcm = append(r.pending[n-1].pcm, pcm...)
		return
	}
	r.pending = append(r.pending, pendingOp{pcm: append([]int16(nil), pcm...)})
}

// mark records an event in the journal, in order with the audio around it.
func (r *Recorder) mark(kind journal.EventKind, detail string) {
	if len(r.pending) == 0 {
		err := r.j.Mark(kind, detail)
		if err == nil {
			return
		}
		r.writeFailed(err)
	}
	r.pending = append(r.pending, pendingOp{kind: kind, detail: detail})
}

// writeFailed reports a journal error at once and schedules a retry.
func (r *Recorder) writeFailed(err error) {
	r.lastErr = err
	r.mu.Lock()
	r.stats.WriteErrors++
	r.stats.LastWriteError = err
	r.mu.Unlock()
	r.nextWrite = time.Now().Add(time.Second)
	if r.failing {
		return
	}
	r.failing = true
	r.log.Error("journal write failed; holding audio in memory", "err", err)
	r.event(Event{Kind: EventWriteError, Detail: fmt.Sprintf("cannot save audio to disk (%v); holding up to %s in memory and retrying", err, r.cfg.Backlog), At: r.offset()})
}

// flushPending retries held writes in order.
func (r *Recorder) flushPending() {
	for len(r.pending) > 0 {
		p := &r.pending[0]
		if p.kind != "" {
			if err := r.j.Mark(p.kind, p.detail); err != nil {
				r.writeFailed(err)
				return
			}
		} else {
			before := r.j.Samples()
			if err := r.j.Write(p.pcm); err != nil {
				written := min(max(r.j.Samples()-before, 0), int64(len(p.pcm)))
				p.pcm = p.pcm[written:]
				r.held -= int(written)
				r.writeFailed(err)
				return
			}
			r.held -= len(p.pcm)
		}
		r.pending[0] = pendingOp{}
		r.pending = r.pending[1:]
	}
	r.pending = nil
	r.failing = false
	detail := "audio is being saved to disk again"
	if r.dropped > 0 {
		lost := samplesDur(r.dropped).Round(10 * time.Millisecond)
		detail = fmt.Sprintf("audio is being saved to disk again; %s was lost while the disk refused writes", lost)
		r.dropped = 0
		r.mark(journal.EventGap, fmt.Sprintf("%s of audio lost: the journal refused writes and the memory backlog was full", lost))
	}
	r.log.Info("journal writes recovered")
	r.event(Event{Kind: EventWriteRecovered, Detail: detail, At: r.offset()})
}

func (r *Recorder) event(e Event) {
	if r.cfg.OnEvent != nil {
		r.cfg.OnEvent(e)
	}
}

// publish copies the writer's state into the stats snapshot.
func (r *Recorder) publish() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats.Samples = r.produced
	r.stats.Elapsed = samplesDur(r.produced)
	r.stats.Paused = r.paused
	r.stats.Backlog = samplesDur(int64(r.held))
	r.stats.Dropped = samplesDur(r.dropTotal)
}

func samplesDur(n int64) time.Duration {
	return time.Duration(n) * time.Second / journal.SampleRate
}
