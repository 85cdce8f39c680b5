package journal

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
)

const (
	manifestName    = "manifest.json"
	manifestTemp    = "manifest.json.tmp"
	manifestVersion = 1
	// maxManifestSize bounds what ReadManifest loads; a real manifest is a few
	// kilobytes even for a day of audio with many events.
	maxManifestSize = 16 << 20
	segmentPrefix   = "seg-"
	segmentSuffix   = ".wav"
)

func segmentName(seq int) string { return fmt.Sprintf("%s%06d%s", segmentPrefix, seq, segmentSuffix) }

// segmentSeq parses a segment file name, reporting false for other files.
func segmentSeq(name string) (int, bool) {
	s, ok := strings.CutPrefix(name, segmentPrefix)
	if !ok {
		return 0, false
	}
	if s, ok = strings.CutSuffix(s, segmentSuffix); !ok || len(s) < 6 {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || segmentName(n) != name {
		return 0, false
	}
	return n, true
}

// ReadManifest reads and checks dir's manifest. A folder without one fails
// with an error matching fs.ErrNotExist; an unreadable or inconsistent one
// with ErrCorrupt.
func ReadManifest(dir string, opts Options) (Manifest, error) {
	c, err := opts.resolve()
	if err != nil {
		return Manifest{}, fmt.Errorf("read journal manifest %s: %w", dir, err)
	}
	m, err := readManifest(c.st, dir)
	if err != nil {
		return Manifest{}, fmt.Errorf("read journal manifest %s: %w", dir, err)
	}
	return m, nil
}

// NeedsRecovery reports whether dir holds a journal that was not closed
// cleanly (or whose manifest is missing or unreadable), which Recover repairs.
func NeedsRecovery(dir string, opts Options) (bool, error) {
	c, err := opts.resolve()
	if err != nil {
		return false, fmt.Errorf("check journal %s: %w", dir, err)
	}
	if _, err := c.st.List(dir); err != nil {
		return false, fmt.Errorf("check journal %s: %w", dir, err)
	}
	m, err := readManifest(c.st, dir)
	switch {
	case isNotExist(err), errors.Is(err, ErrCorrupt):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("check journal %s: %w", dir, err)
	}
	return !m.Closed, nil
}

func readManifest(st Storage, dir string) (Manifest, error) {
	name := filepath.Join(dir, manifestName)
	b, err := readSmallFile(st, name)
	if err != nil {
		return Manifest{}, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return Manifest{}, fmt.Errorf("%s: %w: not valid JSON: %v", name, ErrCorrupt, err)
	}
	if err := m.check(); err != nil {
		return Manifest{}, fmt.Errorf("%s: %w: %v", name, ErrCorrupt, err)
	}
	return m, nil
}

// check reports the first inconsistency in a manifest read from disk.
func (m *Manifest) check() error {
	if m.Version != manifestVersion {
		return fmt.Errorf("manifest version %d, this build reads version %d", m.Version, manifestVersion)
	}
	var next int64
	for i, s := range m.Segments {
		if seq, ok := segmentSeq(s.Name); !ok || seq != i+1 {
			return fmt.Errorf("segment %d is named %q, want %q", i+1, s.Name, segmentName(i+1))
		}
		if s.Start != next || s.Samples < 0 {
			return fmt.Errorf("segment %s covers [%d,+%d), want it to start at %d", s.Name, s.Start, s.Samples, next)
		}
		next += s.Samples
	}
	if m.Samples != next {
		return fmt.Errorf("manifest counts %d samples, its segments %d", m.Samples, next)
	}
	for _, e := range m.Events {
		if e.At < 0 || e.At > m.Samples {
			return fmt.Errorf("event %q at sample %d is outside [0,%d]", e.Kind, e.At, m.Samples)
		}
	}
	return nil
}

func readSmallFile(st Storage, name string) ([]byte, error) {
	f, err := st.OpenRead(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	if size > maxManifestSize {
		return nil, fmt.Errorf("%s: %w: %d bytes is too large for a manifest", name, ErrCorrupt, size)
	}
	b := make([]byte, size)
	if err := readFull(f, b, 0); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return b, nil
}

// writeManifest replaces dir's manifest atomically: a crash leaves either
// the old or the new one, never a mix. The folder fsync also makes durable
// any segment created since the last one.
func writeManifest(st Storage, dir string, m *Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode manifest: %w", err)
	}
	tmp := filepath.Join(dir, manifestTemp)
	// A temp file left by a crash is stale by definition.
	if err := st.Remove(tmp); err != nil && !isNotExist(err) {
		return fmt.Errorf("remove stale %s: %w", tmp, err)
	}
	f, err := st.Create(tmp)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	if _, err := f.WriteAt(b, 0); err != nil {
		return errors.Join(fmt.Errorf("write %s: %w", tmp, err), f.Close(), st.Remove(tmp))
	}
	if err := f.Sync(); err != nil {
		return errors.Join(fmt.Errorf("sync %s: %w", tmp, err), f.Close(), st.Remove(tmp))
	}
	if err := f.Close(); err != nil {
		return errors.Join(fmt.Errorf("close %s: %w", tmp, err), st.Remove(tmp))
	}
	if err := st.Rename(tmp, filepath.Join(dir, manifestName)); err != nil {
		return errors.Join(fmt.Errorf("replace manifest: %w", err), st.Remove(tmp))
	}
	if err := st.SyncDir(dir); err != nil {
		return fmt.Errorf("sync folder %s: %w", dir, err)
	}
	return nil
}

// readFull fills b from f at off. io.ReaderAt may report io.EOF along with a
// full read that ends at the end of the file; that is success.
func readFull(f io.ReaderAt, b []byte, off int64) error {
	n, err := f.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return err
}
