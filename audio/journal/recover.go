package journal

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// Recover repairs a journal that was not closed cleanly, so it reads as a
// valid, closed journal holding everything that reached the disk:
//   - each segment's header is rebuilt from the file's length (a torn
//     trailing sample is cut);
//   - the manifest is brought up to date from the segments (lengths, and
//     segments it did not list yet); a missing or unreadable one is rebuilt
//     (the unreadable file is kept beside it), with the folder's name as ID;
//   - an EventRecovered is added at the end, and Closed and Recovered set.
//
// A clean journal is returned unchanged, so Recover is idempotent; Open
// continues a recovered journal. Damage a crash cannot cause (a listed
// segment missing, a foreign file) fails with ErrCorrupt.
func Recover(dir string, opts Options) (Manifest, error) {
	c, err := opts.resolve()
	if err != nil {
		return Manifest{}, fmt.Errorf("recover journal %s: %w", dir, err)
	}
	m, err := recoverJournal(c, dir)
	if err != nil {
		return Manifest{}, fmt.Errorf("recover journal %s: %w", dir, err)
	}
	return m, nil
}

func recoverJournal(c config, dir string) (Manifest, error) {
	names, err := c.st.List(dir)
	if err != nil {
		return Manifest{}, err
	}
	var notes []string
	m, err := readManifest(c.st, dir)
	switch {
	case err == nil:
		if m.Closed {
			return m, nil
		}
	case isNotExist(err), errors.Is(err, ErrCorrupt):
		if !isNotExist(err) {
			kept, kerr := keepDamaged(c.st, dir, names)
			if kerr != nil {
				return Manifest{}, errors.Join(err, kerr)
			}
			c.log.Warn("journal: unreadable manifest set aside", "dir", dir, "kept", kept, "err", err)
			notes = append(notes, "manifest unreadable (kept as "+kept+"), rebuilt from segments")
		} else {
			notes = append(notes, "manifest missing, rebuilt from segments")
		}
		now := c.now().UTC()
		m = Manifest{Version: manifestVersion, ID: filepath.Base(dir), Created: now, Segments: []Segment{}, Events: []Event{}}
	default:
		return Manifest{}, err
	}

	files := map[string]bool{}
	last := 0
	for _, n := range names {
		if seq, ok := segmentSeq(n); ok {
			files[n] = true
			last = max(last, seq)
		}
	}
	for _, s := range m.Segments {
		if !files[s.Name] {
			return Manifest{}, fmt.Errorf("%w: segment %s listed in the manifest is missing", ErrCorrupt, s.Name)
		}
	}
	// Segments the manifest does not list yet (created just before a crash).
	for seq := len(m.Segments) + 1; seq <= last; seq++ {
		name := segmentName(seq)
		if !files[name] {
			return Manifest{}, fmt.Errorf("%w: segment %s is missing but %s exists", ErrCorrupt, name, segmentName(last))
		}
		m.Segments = append(m.Segments, Segment{Name: name})
	}

	var total int64
	for i := range m.Segments {
		s := &m.Segments[i]
		samples, note, err := repairSegment(c.st, filepath.Join(dir, s.Name))
		if err != nil {
			return Manifest{}, fmt.Errorf("segment %s: %w", s.Name, err)
		}
		if note != "" {
			notes = append(notes, s.Name+": "+note)
		}
		s.Start, s.Samples = total, samples
		total += samples
	}
	if total < m.Samples {
		// Cannot follow from a crash (audio is durable before the manifest
		// names it); worth a warning, not a refusal: keep what is there.
		c.log.Warn("journal: segments hold less audio than the manifest", "dir", dir, "manifest", m.Samples, "segments", total)
		notes = append(notes, fmt.Sprintf("segments hold %d samples, manifest said %d", total, m.Samples))
	}
	m.Samples = total
	for i := range m.Events {
		m.Events[i].At = min(m.Events[i].At, total)
	}
	m.Events = append(m.Events, Event{Kind: EventRecovered, At: total, Time: c.now().UTC(), Detail: strings.Join(notes, "; ")})
	m.Closed, m.Recovered = true, true
	if err := writeManifest(c.st, dir, &m); err != nil {
		return Manifest{}, err
	}
	c.log.Info("journal recovered", "dir", dir, "samples", total, "segments", len(m.Segments))
	return m, nil
}

// repairSegment makes a segment a valid WAV of the whole samples it holds
// and returns their count, with a note of what it changed ("" if nothing).
func repairSegment(st Storage, path string) (int64, string, error) {
	f, err := st.OpenWrite(path)
	if err != nil {
		return 0, "", err
	}
	samples, note, err := repairOpen(f)
	return samples, note, errors.Join(err, f.Close())
}

func repairOpen(f File) (int64, string, error) {
	size, err := f.Size()
	if err != nil {
		return 0, "", err
	}
	var h [headerSize]byte
	got := h[:min(size, headerSize)]
	if err := readFull(f, got, 0); err != nil {
		return 0, "", fmt.Errorf("read header: %w", err)
	}
	if classifyHeader(got) == headerForeign {
		return 0, "", fmt.Errorf("%w: not a journal segment (unexpected WAV header)", ErrCorrupt)
	}
	var samples int64
	if size > headerSize {
		samples = (size - headerSize) / bytesPerSample
	}
	if samples*bytesPerSample > maxDataBytes {
		return 0, "", fmt.Errorf("%w: %d bytes is too large for a WAV segment", ErrCorrupt, size)
	}
	var notes []string
	if want := headerSize + samples*bytesPerSample; size > want {
		if err := f.Truncate(want); err != nil {
			return 0, "", fmt.Errorf("cut torn sample: %w", err)
		}
		notes = append(notes, "torn sample cut")
	}
	if want := header(samples); !bytes.Equal(got, want[:]) {
		if err := writeHeader(f, samples); err != nil {
			return 0, "", fmt.Errorf("rewrite header: %w", err)
		}
		notes = append(notes, fmt.Sprintf("header rebuilt from length (%d samples)", samples))
	}
	if len(notes) > 0 {
		if err := f.Sync(); err != nil {
			return 0, "", fmt.Errorf("sync: %w", err)
		}
	}
	if err := checkSegment(f, headerSize+samples*bytesPerSample, samples, false); err != nil {
		return 0, "", fmt.Errorf("%w: still invalid after repair: %v", ErrCorrupt, err)
	}
	return samples, strings.Join(notes, ", "), nil
}

// keepDamaged moves an unreadable manifest aside rather than deleting it.
func keepDamaged(st Storage, dir string, names []string) (string, error) {
	taken := map[string]bool{}
	for _, n := range names {
		taken[n] = true
	}
	for i := 1; ; i++ {
		name := fmt.Sprintf("manifest.damaged-%d.json", i)
		if taken[name] {
			continue
		}
		if err := st.Rename(filepath.Join(dir, manifestName), filepath.Join(dir, name)); err != nil {
			return "", fmt.Errorf("set aside unreadable manifest: %w", err)
		}
		return name, nil
	}
}
