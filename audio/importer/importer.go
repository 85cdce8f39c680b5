// Package importer turns an audio file (WAV or MP3) into an encounter
// journal, as if it had been recorded: decoded, downmixed, resampled to
// 16 kHz mono and appended to a new journal.
//
// Files are streamed in fixed-size chunks, so memory use does not grow with
// the file's length (a three-hour recording imports in the same few
// megabytes of heap as a one-minute one). The format is recognised from the file's
// contents, not its name. Every problem is reported as an error naming the
// file, what is wrong with it and what to do, wrapping one of ErrEmpty,
// ErrTruncated, ErrCorrupt or ErrUnsupported; and on any error, the
// cancellation of ctx included, the journal folder is removed, so nothing
// half-imported is left behind.
package importer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/nextvisit/scribe/audio/dsp"
	"github.com/nextvisit/scribe/audio/journal"
)

// Info describes the imported file.
type Info struct {
	// Format is "wav" or "mp3".
	Format string
	// SampleRate and Channels are the file's own, before conversion.
	SampleRate, Channels int
	// Duration is the length of the audio decoded from the file.
	Duration time.Duration
}

// Sentinel errors, wrapped with the file's name, the problem and a remedy.
var (
	ErrEmpty       = errors.New("file is empty")
	ErrTruncated   = errors.New("file is truncated")
	ErrCorrupt     = errors.New("file is damaged")
	ErrUnsupported = errors.New("unsupported file")
)

// Progress receives how many bytes of the file's audio have been imported
// out of the total, after every chunk. It runs on the importing goroutine.
type Progress func(done, total int64)

// chunkFrames is how many input frames are decoded per step: large enough
// that per-chunk costs vanish, small enough (≈ 0.4 s at 44.1 kHz) that
// cancellation is prompt and memory tiny.
const chunkFrames = 16384

// Import decodes the WAV or MP3 file at path into a new journal at dir with
// the given id (journal.Create) and closes it. It returns what the file
// held and the finished journal's manifest.
func Import(ctx context.Context, path, dir, id string, opts journal.Options) (Info, journal.Manifest, error) {
	return ImportProgress(ctx, path, dir, id, opts, nil)
}

// ImportProgress is Import reporting progress to p (which may be nil).
func ImportProgress(ctx context.Context, path, dir, id string, opts journal.Options, p Progress) (Info, journal.Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return Info{}, journal.Manifest{}, fmt.Errorf("import %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Info{}, journal.Manifest{}, fmt.Errorf("import %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return Info{}, journal.Manifest{}, fail(path, ErrUnsupported, "it is not a regular file", "choose an audio file")
	}
	return importFrom(ctx, src{r: f, size: st.Size(), name: path}, dir, id, opts, p)
}

// src is the file being imported. Decoding works from an io.ReaderAt and a
// size, which an *os.File provides and which benchmarks fake with an hour
// of audio that never touches the disk.
type src struct {
	r    io.ReaderAt
	size int64
	name string
}

// decoder yields a file's audio as interleaved float32 frames in [-1, 1].
type decoder interface {
	// read fills p with whole frames and returns how many samples it
	// wrote; it returns io.EOF (and no samples) at the end of the audio.
	read(p []float32) (int, error)
	// done reports the bytes of audio consumed so far, for Progress.
	done() int64
	// finish checks the decoded stream against what the file declared
	// (for instance a frame count), after the last read.
	finish() error
}

// format is what a decoder learned from the file's header.
type format struct {
	name      string // "wav", "mp3"
	rate      int
	chans     int   // interleaved channels the decoder yields
	fileChans int   // channels the file holds, for Info
	total     int64 // bytes of audio, for Progress
}

func importFrom(ctx context.Context, s src, dir, id string, opts journal.Options, p Progress) (info Info, m journal.Manifest, err error) {
	if s.size == 0 {
		return Info{}, journal.Manifest{}, fail(s.name, ErrEmpty, "it contains no data (0 bytes)", "choose the recording itself, or copy it again")
	}
	dec, fm, err := open(s)
	if err != nil {
		return Info{}, journal.Manifest{}, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// The file's name may carry a patient's name, so it is never logged.
	log.Debug("importing audio", "format", fm.name, "rate", fm.rate, "channels", fm.fileChans, "bytes", fm.total)

	rs, err := dsp.NewResampler(fm.rate, journal.SampleRate)
	if err != nil {
		return Info{}, journal.Manifest{}, fail(s.name, ErrUnsupported,
			fmt.Sprintf("its sample rate is %d Hz", fm.rate),
			fmt.Sprintf("convert it to a rate between %d and %d Hz, such as 44100 Hz", dsp.MinRate, dsp.MaxRate))
	}

	st := opts.Storage
	if st == nil {
		st = journal.FileStorage{}
	}
	_, statErr := st.List(dir)
	existed := !errors.Is(statErr, fs.ErrNotExist)
	w, err := journal.Create(dir, id, opts)
	if err != nil {
		if !existed {
			err = errors.Join(err, removeJournal(st, dir))
		}
		return Info{}, journal.Manifest{}, fmt.Errorf("import %s: create journal: %w", s.name, err)
	}
	defer func() {
		if err == nil {
			return
		}
		// Nothing half-imported: the journal goes, whatever went wrong.
		if cerr := w.Close(); cerr != nil && !errors.Is(cerr, journal.ErrClosed) {
			log.Debug("closing abandoned import journal", "err", cerr)
		}
		if rerr := removeJournal(st, dir); rerr != nil {
			err = errors.Join(err, fmt.Errorf("remove partial journal %s: %w", dir, rerr))
		}
		info, m = Info{}, journal.Manifest{}
	}()

	frames, clipped, err := pump(ctx, s, dec, fm, rs, w, p)
	if err != nil {
		return Info{}, journal.Manifest{}, err
	}
	if frames == 0 {
		return Info{}, journal.Manifest{}, fail(s.name, ErrEmpty, "it holds no audio samples", "choose the recording itself, or export it again")
	}
	if err := w.Close(); err != nil {
		return Info{}, journal.Manifest{}, fmt.Errorf("import %s: close journal: %w", s.name, err)
	}
	if clipped > 0 {
		// Only float files can exceed full scale; the journal keeps 16 bits.
		log.Warn("imported audio was louder than full scale and was clipped", "samples", clipped)
	}
	info = Info{
		Format:     fm.name,
		SampleRate: fm.rate,
		Channels:   fm.fileChans,
		Duration:   time.Duration(frames * int64(time.Second) / int64(fm.rate)),
	}
	return info, w.Manifest(), nil
}

// block is one chunk of decoded mono audio on its way from the decoding
// goroutine to the writing one.
type block struct {
	mono   []float32
	frames int64
	done   int64 // bytes of the file consumed, for Progress
	err    error // io.EOF after the last block
}

// pump moves the audio from dec through downmix, resampler and 16-bit
// conversion into the journal. Decoding runs on its own goroutine, a block
// ahead of resampling and writing, so an import uses two cores; the two
// stages pass a fixed pair of buffers back and forth, so memory stays
// constant however long the file.
func pump(ctx context.Context, s src, dec decoder, fm format, rs *dsp.Resampler, w *journal.Writer, p Progress) (frames, clipped int64, err error) {
	const depth = 2
	free := make(chan *block, depth)
	full := make(chan *block, depth)
	for range depth {
		free <- &block{mono: make([]float32, 0, chunkFrames)}
	}
	quit := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		in := make([]float32, chunkFrames*fm.chans)
		for {
			select {
			case <-quit: // first, so a stopped import decodes no further
				return
			default:
			}
			var b *block
			select {
			case b = <-free:
			case <-quit:
				return
			}
			n, rerr := dec.read(in)
			b.mono = dsp.Downmix(b.mono[:0], in[:n], fm.chans)
			b.frames, b.done, b.err = int64(n/fm.chans), dec.done(), rerr
			if errors.Is(rerr, io.EOF) {
				b.err = dec.finish()
				if b.err == nil {
					b.err = io.EOF
				}
			}
			full <- b // never blocks: at most depth blocks exist
			if b.err != nil {
				return
			}
		}
	}()
	// The decoder must be idle before the file is closed or the journal
	// removed.
	defer func() {
		close(quit)
		<-exited
	}()

	out := make([]float32, 0, chunkFrames*journal.SampleRate/fm.rate+2)
	pcm := make([]int16, 0, cap(out))
	write := func(x []float32) error {
		var c int
		pcm, c = dsp.ToInt16(pcm[:0], x)
		clipped += int64(c)
		if err := w.Write(pcm); err != nil {
			return fmt.Errorf("import %s: write journal: %w", s.name, err)
		}
		return nil
	}
	for {
		var b *block
		select {
		case b = <-full:
		case <-ctx.Done():
			return 0, 0, fmt.Errorf("import %s: %w", s.name, ctx.Err())
		}
		if len(b.mono) > 0 {
			frames += b.frames
			out = rs.Process(out[:0], b.mono)
			if err := write(out); err != nil {
				return 0, 0, err
			}
			if p != nil {
				p(b.done, fm.total)
			}
		}
		if errors.Is(b.err, io.EOF) {
			break
		}
		if b.err != nil {
			return 0, 0, b.err
		}
		if err := ctx.Err(); err != nil {
			return 0, 0, fmt.Errorf("import %s: %w", s.name, err)
		}
		free <- b
	}
	if err := write(rs.Flush(out[:0])); err != nil {
		return 0, 0, err
	}
	return frames, clipped, nil
}

// removeJournal deletes dir and the files in it through the journal's
// storage seam.
func removeJournal(st journal.Storage, dir string) error {
	names, err := st.List(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range names {
		if err := st.Remove(filepath.Join(dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := st.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// fail builds an import error: the file, the kind of problem (a sentinel),
// what exactly is wrong, and what the user can do about it.
func fail(name string, kind error, problem, remedy string) error {
	return fmt.Errorf("import %s: %w: %s; %s", name, kind, problem, remedy)
}
