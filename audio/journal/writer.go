package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// writeChunk bounds the bytes converted and written per WriteAt, so a large
// Write (an import) runs in constant memory.
const writeChunk = 64 << 10

// maxDetail bounds an event's detail: it is a short label, not a log.
const maxDetail = 1024

// Writer appends audio to a journal. Its methods are safe for concurrent use
// (the capture goroutine writes while the UI marks pauses).
type Writer struct {
	c   config
	dir string

	// samples mirrors m.Samples for lock-free reads by meters and the UI.
	samples atomic.Int64

	mu  sync.Mutex
	m   Manifest // in memory; the last segment entry grows as audio arrives
	cur File     // open segment (the last in m.Segments), nil between segments
	// curListed: the stored manifest lists cur. Audio is only written to a
	// listed segment, so the manifest never misses a segment holding audio.
	curListed bool
	// dirty: cur holds audio not yet fsynced; manifestDirty: m holds changes
	// (events) not yet stored.
	dirty, manifestDirty bool
	timer                *time.Timer
	armed                bool
	// bgErr is a failure of the background sync, returned by the next call.
	bgErr  error
	closed bool
	buf    []byte
}

// Create starts a new journal for encounter id in dir, which must not exist
// (its parents are created, 0700). The manifest gets an EventStart.
func Create(dir, id string, opts Options) (*Writer, error) {
	c, err := opts.resolve()
	if err != nil {
		return nil, fmt.Errorf("create journal %s: %w", dir, err)
	}
	if id == "" {
		return nil, fmt.Errorf("create journal %s: the encounter id is empty", dir)
	}
	if err := c.st.Mkdir(dir); err != nil {
		return nil, fmt.Errorf("create journal %s: %w", dir, err)
	}
	// The folder's own entry must survive a power cut too.
	if err := c.st.SyncDir(filepath.Dir(dir)); err != nil {
		return nil, fmt.Errorf("create journal %s: %w", dir, err)
	}
	now := c.now().UTC()
	w := newWriter(c, dir, Manifest{
		Version:  manifestVersion,
		ID:       id,
		Created:  now,
		Segments: []Segment{},
		Events:   []Event{{Kind: EventStart, At: 0, Time: now}},
	})
	if err := writeManifest(c.st, dir, &w.m); err != nil {
		return nil, fmt.Errorf("create journal %s: %w", dir, err)
	}
	c.log.Debug("journal created", "dir", dir)
	return w, nil
}

// Open continues a closed journal (one ended earlier, or repaired by
// Recover): audio goes to a new segment and offsets continue where the
// journal ends. The manifest gets an EventStart with Detail "continued". A
// journal that was not closed cleanly fails with ErrNeedsRecovery.
func Open(dir string, opts Options) (*Writer, error) {
	c, err := opts.resolve()
	if err != nil {
		return nil, fmt.Errorf("open journal %s: %w", dir, err)
	}
	m, err := readManifest(c.st, dir)
	if err != nil {
		return nil, fmt.Errorf("open journal %s: %w", dir, err)
	}
	if !m.Closed {
		return nil, fmt.Errorf("open journal %s: %w", dir, ErrNeedsRecovery)
	}
	if _, err := scanSegments(c.st, dir, m); err != nil {
		return nil, fmt.Errorf("open journal %s: %w", dir, err)
	}
	m.Closed = false
	m.Events = append(m.Events, Event{Kind: EventStart, At: m.Samples, Time: c.now().UTC(), Detail: "continued"})
	w := newWriter(c, dir, m)
	if err := writeManifest(c.st, dir, &w.m); err != nil {
		return nil, fmt.Errorf("open journal %s: %w", dir, err)
	}
	return w, nil
}

func newWriter(c config, dir string, m Manifest) *Writer {
	w := &Writer{c: c, dir: dir, m: m}
	w.samples.Store(m.Samples)
	// One timer for the Writer's life, re-armed with Reset: no allocation
	// per Write.
	w.timer = time.AfterFunc(time.Hour, w.backgroundSync)
	w.timer.Stop()
	return w
}

// Write appends pcm (16 kHz mono) to the journal, starting a new segment
// every SegmentDuration. Audio reaches the file before Write returns (a
// killed process loses none of it) and is fsynced within SyncInterval.
//
// On error nothing more is appended than Samples reports: a failed Write
// may have appended a prefix of pcm (whole samples), never anything else,
// and the journal stays valid and recoverable; later Writes may succeed
// (for instance once disk space is freed). A failure of the background sync
// is returned by the next Write, which then appends nothing.
func (w *Writer) Write(pcm []int16) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return fmt.Errorf("write journal %s: %w", w.dir, err)
	}
	for len(pcm) > 0 {
		if w.cur != nil && w.curSeg().Samples >= w.c.segSamples {
			// Full, but an earlier attempt to finish it failed.
			if err := w.finishSegment(); err != nil {
				return fmt.Errorf("write journal %s: %w", w.dir, err)
			}
		}
		if w.cur == nil {
			if err := w.openSegment(); err != nil {
				return fmt.Errorf("write journal %s: %w", w.dir, err)
			}
		}
		if !w.curListed {
			if err := w.storeManifest(); err != nil {
				return fmt.Errorf("write journal %s: %w", w.dir, err)
			}
		}
		room := w.c.segSamples - w.curSeg().Samples
		n := int(min(int64(len(pcm)), room, writeChunk/bytesPerSample))
		if err := w.appendSamples(pcm[:n]); err != nil {
			return fmt.Errorf("write journal %s: %w", w.dir, err)
		}
		pcm = pcm[n:]
		if w.curSeg().Samples == w.c.segSamples {
			if err := w.finishSegment(); err != nil {
				return fmt.Errorf("write journal %s: %w", w.dir, err)
			}
		}
	}
	if w.dirty && !w.armed {
		w.armed = true
		w.timer.Reset(w.c.syncEvery)
	}
	return nil
}

// Mark records an event at the current offset (pause, resume, device, gap,
// overrun, write-error) and makes it durable, with the audio before it,
// before returning. On error the event is kept and stored with the next
// manifest update.
func (w *Writer) Mark(kind EventKind, detail string) error {
	switch kind {
	case EventPause, EventResume, EventDevice, EventGap, EventOverrun, EventWriteError:
	case EventStart, EventEnd, EventRecovered:
		return fmt.Errorf("mark journal %s: event %q is written by the journal itself (Create/Open, Close, Recover)", w.dir, kind)
	default:
		return fmt.Errorf("mark journal %s: unknown event %q; use one of pause, resume, device, gap, overrun, write-error", w.dir, kind)
	}
	if len(detail) > maxDetail {
		return fmt.Errorf("mark journal %s: event detail is %d bytes; keep it under %d", w.dir, len(detail), maxDetail)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return fmt.Errorf("mark journal %s: %w", w.dir, err)
	}
	w.m.Events = append(w.m.Events, Event{Kind: kind, At: w.m.Samples, Time: w.c.now().UTC(), Detail: detail})
	w.manifestDirty = true
	if err := w.storeManifest(); err != nil {
		return fmt.Errorf("mark journal %s: %w", w.dir, err)
	}
	return nil
}

// Sync makes everything written so far durable now, and stores any manifest
// change a failed Mark left behind.
func (w *Writer) Sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return fmt.Errorf("sync journal %s: %w", w.dir, err)
	}
	if err := w.syncSegment(); err != nil {
		return fmt.Errorf("sync journal %s: %w", w.dir, err)
	}
	if w.manifestDirty {
		if err := w.storeManifest(); err != nil {
			return fmt.Errorf("sync journal %s: %w", w.dir, err)
		}
	}
	return nil
}

// Samples is the journal's length in samples (the next event's offset).
func (w *Writer) Samples() int64 { return w.samples.Load() }

// Manifest returns a copy of the journal's current state, including audio
// not yet reflected in the stored manifest.
func (w *Writer) Manifest() Manifest {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.m.clone()
}

// Close writes the final header of the open segment, adds EventEnd and
// stores the manifest with Closed set. If it fails the journal is left as
// after a crash, for Recover. Closing twice is a no-op.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	w.timer.Stop()
	bg := w.bgErr
	w.bgErr = nil
	var err error
	if w.cur != nil {
		err = w.finishSegment()
	}
	if err == nil {
		w.m.Events = append(w.m.Events, Event{Kind: EventEnd, At: w.m.Samples, Time: w.c.now().UTC()})
		w.m.Closed = true
		if err = writeManifest(w.c.st, w.dir, &w.m); err != nil {
			// Keep Manifest() truthful: the stored journal is still open.
			w.m.Events = w.m.Events[:len(w.m.Events)-1]
			w.m.Closed = false
		}
	}
	if w.cur != nil {
		err = errors.Join(err, w.cur.Close())
		w.cur = nil
	}
	if err = errors.Join(bg, err); err != nil {
		return fmt.Errorf("close journal %s: %w", w.dir, err)
	}
	return nil
}

// usable reports why the Writer cannot be used, consuming a pending
// background sync failure.
func (w *Writer) usable() error {
	if w.closed {
		return ErrClosed
	}
	if err := w.bgErr; err != nil {
		w.bgErr = nil
		return err
	}
	return nil
}

func (w *Writer) curSeg() *Segment { return &w.m.Segments[len(w.m.Segments)-1] }

// openSegment creates the next segment with an empty header, durable before
// the manifest names it.
func (w *Writer) openSegment() error {
	name := segmentName(len(w.m.Segments) + 1)
	path := filepath.Join(w.dir, name)
	f, err := w.c.st.Create(path)
	if err != nil {
		return fmt.Errorf("create segment %s: %w", name, err)
	}
	if err := writeHeader(f, 0); err != nil {
		return errors.Join(fmt.Errorf("write header of %s: %w", name, err), f.Close(), w.c.st.Remove(path))
	}
	if err := f.Sync(); err != nil {
		return errors.Join(fmt.Errorf("sync %s: %w", name, err), f.Close(), w.c.st.Remove(path))
	}
	w.cur = f
	w.curListed = false
	w.m.Segments = append(w.m.Segments, Segment{Name: name, Start: w.m.Samples})
	return nil
}

// appendSamples writes pcm, which fits in the open segment, at its end.
func (w *Writer) appendSamples(pcm []int16) error {
	seg := w.curSeg()
	b := slices.Grow(w.buf[:0], len(pcm)*bytesPerSample)
	for _, s := range pcm {
		b = binary.LittleEndian.AppendUint16(b, uint16(s))
	}
	w.buf = b
	n, err := w.cur.WriteAt(b, headerSize+seg.Samples*bytesPerSample)
	if err == nil && n < len(b) {
		err = fmt.Errorf("wrote %d of %d bytes", n, len(b))
	}
	whole := int64(n / bytesPerSample)
	if whole > 0 {
		seg.Samples += whole
		w.m.Samples += whole
		w.samples.Store(w.m.Samples)
		w.dirty = true
	}
	if err != nil {
		if n%bytesPerSample != 0 {
			// A torn sample past the end would be overwritten by the next
			// write or cut by Recover; dropping it now keeps the file exact.
			if terr := w.cur.Truncate(headerSize + seg.Samples*bytesPerSample); terr != nil {
				w.c.log.Warn("journal: cannot drop a partly written sample", "dir", w.dir, "segment", seg.Name, "err", terr)
			}
		}
		return fmt.Errorf("append to %s at sample %d: %w", seg.Name, w.m.Samples, err)
	}
	return nil
}

// syncSegment rewrites the open segment's header with its true sizes and
// fsyncs it, so a crash from here on leaves a valid WAV.
func (w *Writer) syncSegment() error {
	if w.cur == nil || !w.dirty {
		return nil
	}
	seg := w.curSeg()
	if err := writeHeader(w.cur, seg.Samples); err != nil {
		return fmt.Errorf("update header of %s: %w", seg.Name, err)
	}
	if err := w.cur.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", seg.Name, err)
	}
	w.dirty = false
	return nil
}

// finishSegment makes the open segment final and closes it; the next Write
// opens another. The manifest learns its final length when that one is
// listed (Recover reads it from the file meanwhile).
func (w *Writer) finishSegment() error {
	if err := w.syncSegment(); err != nil {
		return err
	}
	name := w.curSeg().Name
	err := w.cur.Close()
	w.cur = nil
	if err != nil {
		return fmt.Errorf("close %s: %w", name, err)
	}
	return nil
}

// storeManifest makes the audio durable, then stores the manifest
// describing it.
func (w *Writer) storeManifest() error {
	if err := w.syncSegment(); err != nil {
		return err
	}
	if err := writeManifest(w.c.st, w.dir, &w.m); err != nil {
		return err
	}
	w.manifestDirty = false
	if w.cur != nil {
		w.curListed = true
	}
	return nil
}

// backgroundSync runs SyncInterval after audio was first left unsynced, so
// audio becomes durable even if the caller stops writing (a stalled device).
func (w *Writer) backgroundSync() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.armed = false
	if w.closed {
		return
	}
	if err := w.syncSegment(); err != nil {
		w.c.log.Error("journal: background sync failed", "dir", w.dir, "err", err)
		w.bgErr = fmt.Errorf("background sync: %w", err)
	}
}
