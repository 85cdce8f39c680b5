package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/nextvisit/scribe/audio/flacenc"
	"github.com/nextvisit/scribe/audio/journal"
	"github.com/nextvisit/scribe/sync/api"
	"github.com/nextvisit/scribe/sync/outbox"
	"github.com/nextvisit/scribe/sync/store"
)

// transcribeGapJob sends one range of the encounter's audio that has no
// final text to the file transcription endpoint, compressed losslessly
// (FLAC; WAV when the server refuses FLAC), and stores the text as a turn
// covering that range. The audio is read from the journal and encoded as
// it is uploaded, never held whole in memory.
func (c *Core) transcribeGapJob(ctx context.Context, j outbox.Job) error {
	var p gapPayload
	if err := json.Unmarshal(j.Payload, &p); err != nil || p.End <= p.Start || p.Start < 0 {
		return outbox.Permanent(fmt.Errorf("the job's details are unreadable: %v", err), "Cancel this job")
	}
	row, s, client, err := c.jobEncounter(ctx, j)
	if err != nil {
		return err
	}
	covered, err := c.db.Coverage(ctx, row.ID)
	if err != nil {
		return outbox.Transient(err)
	}
	if len(store.Gaps(clip(covered, p.Start, p.End), p.End-p.Start)) == 0 {
		return c.gapsDone(ctx, row.ID) // a run before this one stored it
	}
	r, err := journal.OpenReader(c.journalDir(row), c.journalOptions())
	if err != nil {
		return outbox.Permanent(fmt.Errorf("read the recording: %w", err), "the recording on this computer is damaged: Cancel this job")
	}
	defer r.Close()
	if p.End > r.Samples() {
		return outbox.Permanent(fmt.Errorf("the range %s–%s is past the end of the recording (%s)",
			samplesDuration(p.Start), samplesDuration(p.End), samplesDuration(r.Samples())), "Cancel this job")
	}
	tr, err := c.upload(ctx, client, row, r, p, j.IdempotencyKey, "flac")
	var se *api.StatusError
	var ve *api.ValidationError
	if errors.As(err, &se) && se.StatusCode == http.StatusUnsupportedMediaType || errors.As(err, &ve) && ve.Field("file") != "" {
		c.log.Info("the server refused FLAC; sending WAV", "encounter", row.ID)
		tr, err = c.upload(ctx, client, row, r, p, j.IdempotencyKey+":wav", "wav")
	}
	if err != nil {
		return c.jobError(ctx, s, "transcribe the recording", err, "the server refused the audio: export it (scribe export) to check it, then Retry or Cancel")
	}
	words := make([]store.Word, 0, len(tr.Words))
	for _, w := range tr.Words {
		sw := store.Word{Text: w.Text, Start: p.Start + msSamples(w.Start), End: p.Start + msSamples(w.End)}
		if w.Confidence != nil {
			sw.Confidence = float64(*w.Confidence)
		}
		words = append(words, sw)
	}
	turn := store.Turn{Start: p.Start, End: p.End, Text: tr.Text, Words: words, Source: store.TurnGap}
	if _, err := c.db.AddTurn(ctx, row.ID, turn, store.Range{Start: p.Start, End: p.End}); err != nil {
		return outbox.Transient(err)
	}
	c.log.Info("gap transcribed", "encounter", row.ID, "seconds", samplesDuration(p.End-p.Start).Seconds())
	return c.gapsDone(ctx, row.ID)
}

// gapsDone moves a transcribing encounter on to drafting once its coverage
// is complete.
func (c *Core) gapsDone(ctx context.Context, id string) error {
	row, err := c.db.Encounter(ctx, id)
	if err != nil {
		return outbox.Transient(err)
	}
	if row.State != string(StateTranscribing) {
		return nil
	}
	covered, err := c.db.Coverage(ctx, id)
	if err != nil {
		return outbox.Transient(err)
	}
	m, err := journal.ReadManifest(c.journalDir(row), c.journalOptions())
	if err != nil {
		return outbox.Transient(err)
	}
	if len(store.Gaps(covered, m.Samples)) > 0 {
		return nil
	}
	drafting := string(StateDrafting)
	if err := c.db.PatchEncounter(ctx, id, store.EncounterPatch{State: &drafting}); err != nil {
		return outbox.Transient(err)
	}
	c.notifyEncounter()
	return nil
}

// clip returns the parts of covered inside [from, to), shifted to start at 0.
func clip(covered []store.Range, from, to int64) []store.Range {
	var out []store.Range
	for _, r := range covered {
		s, e := max(r.Start, from), min(r.End, to)
		if e > s {
			out = append(out, store.Range{Start: s - from, End: e - from})
		}
	}
	return out
}

func msSamples(ms int) int64 { return int64(ms) * journal.SampleRate / 1000 }

// upload encodes [p.Start, p.End) of r as format into a file beside the
// journal (0600, removed after) and sends it. A file rather than a pipe:
// FLAC's header is completed at the end, and memory stays flat however
// long the range.
func (c *Core) upload(ctx context.Context, client *api.Client, row store.Encounter, r *journal.Reader, p gapPayload, key, format string) (api.Transcription, error) {
	f, err := os.CreateTemp(c.journalDir(row), "gap-*."+format)
	if err != nil {
		return api.Transcription{}, fmt.Errorf("prepare the audio to send: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := encodeRange(f, r, p.Start, p.End, format); err != nil {
		return api.Transcription{}, fmt.Errorf("prepare the audio to send: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return api.Transcription{}, fmt.Errorf("prepare the audio to send: %w", err)
	}
	return client.Transcribe(ctx, "gap."+format, f, key)
}

// encodeRange writes samples [start, end) of r to w as FLAC or WAV.
func encodeRange(w io.WriteSeeker, r *journal.Reader, start, end int64, format string) error {
	var enc interface {
		Write([]int16) error
		Close() error
	}
	switch format {
	case "flac":
		e, err := flacenc.NewEncoder(w, journal.SampleRate)
		if err != nil {
			return err
		}
		enc = e
	case "wav":
		e, err := flacenc.NewWAVEncoder(w, journal.SampleRate, end-start)
		if err != nil {
			return err
		}
		enc = e
	default:
		return fmt.Errorf("unknown audio format %q", format)
	}
	buf := make([]int16, journal.SampleRate) // one second at a time
	for off := start; off < end; {
		n, err := r.ReadAt(buf[:min(int64(len(buf)), end-off)], off)
		if n > 0 {
			if err := enc.Write(buf[:n]); err != nil {
				return err
			}
			off += int64(n)
		}
		if err != nil && (!errors.Is(err, io.EOF) || off < end) {
			return fmt.Errorf("read the recording at %s: %w", samplesDuration(off), err)
		}
	}
	return enc.Close()
}
