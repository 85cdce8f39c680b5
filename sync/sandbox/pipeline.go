package sandbox

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nextvisit/scribe/sync/sandbox/internal/sqlitedb"
	"github.com/nextvisit/scribe/sync/sandbox/recognize"
)

// The pipeline takes each new progress note through the seed's steps, stamping each in the database:
//
//	created → transcription_started_at → transcription_completed_at → analysis_started_at → analysis_completed_at
//
// or error_state when a step fails. ProcessingDelay is spread over the four waits. The state lives only
// in those columns, so a note interrupted by Close (or a crash) resumes where it was on the next New.

const (
	pipelineSteps   = 4
	pipelineWorkers = 4
	pipelineRescan  = 10 * time.Second
)

type pipeline struct {
	s      *Server
	wakeCh chan struct{}
	sem    chan struct{}

	mu      sync.Mutex
	running map[int64]bool
}

func newPipeline(s *Server) *pipeline {
	return &pipeline{
		s:       s,
		wakeCh:  make(chan struct{}, 1),
		sem:     make(chan struct{}, pipelineWorkers),
		running: map[int64]bool{},
	}
}

// wake tells the pipeline a note is waiting.
func (p *pipeline) wake() {
	select {
	case p.wakeCh <- struct{}{}:
	default:
	}
}

// run starts a worker for each pending note until ctx ends, then waits for the workers.
func (p *pipeline) run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	rescan := time.NewTicker(pipelineRescan)
	defer rescan.Stop()
	for {
		ids, err := p.pending(ctx)
		if err != nil && ctx.Err() == nil {
			p.s.log.Error("pipeline: list pending notes", "err", err)
		}
		for _, id := range ids {
			p.mu.Lock()
			busy := p.running[id]
			p.running[id] = true
			p.mu.Unlock()
			if busy {
				continue
			}
			wg.Go(func() {
				defer func() {
					p.mu.Lock()
					delete(p.running, id)
					p.mu.Unlock()
				}()
				p.process(ctx, id)
			})
		}
		select {
		case <-ctx.Done():
			return
		case <-p.wakeCh:
		case <-rescan.C:
		}
	}
}

func (p *pipeline) pending(ctx context.Context) ([]int64, error) {
	rows, err := p.s.db.QueryContext(ctx, `SELECT id FROM progress_notes WHERE analysis_completed_at IS NULL AND error_state IS NULL ORDER BY id`)
	if err != nil {
		return nil, err
	}
	return scanIDs(rows)
}

// noteWork is what the pipeline reads of a note.
type noteWork struct {
	id, teamID                                 int64
	templateID                                 int64
	sourceText, context, audioFile             sql.NullString
	audioDuration                              sql.NullFloat64
	transcription                              sql.NullString
	created                                    string
	tStarted, tCompleted, aStarted, aCompleted sql.NullString
	errState                                   sql.NullString
}

func (p *pipeline) load(ctx context.Context, id int64) (noteWork, error) {
	var n noteWork
	err := p.s.db.QueryRowContext(ctx, `
		SELECT id, team_id, template_id, source_text, context, audio_file, audio_duration, transcription, created_at,
			transcription_started_at, transcription_completed_at, analysis_started_at, analysis_completed_at, error_state
		FROM progress_notes WHERE id = ?`, id).Scan(&n.id, &n.teamID, &n.templateID, &n.sourceText, &n.context,
		&n.audioFile, &n.audioDuration, &n.transcription, &n.created, &n.tStarted, &n.tCompleted, &n.aStarted, &n.aCompleted, &n.errState)
	if errors.Is(err, sql.ErrNoRows) {
		return n, errNotFound
	}
	return n, err
}

// process runs one note's remaining steps. It returns when the note is done, failed or deleted, or
// when ctx ends (the note then resumes on the next start).
func (p *pipeline) process(ctx context.Context, id int64) {
	step := p.s.cfg.ProcessingDelay / pipelineSteps
	for {
		n, err := p.load(ctx, id)
		if errors.Is(err, errNotFound) {
			return
		}
		if err != nil {
			if ctx.Err() == nil {
				p.s.log.Error("pipeline: load note", "note_id", id, "err", err)
			}
			return
		}
		if n.errState.Valid || n.aCompleted.Valid {
			return
		}
		// Each step waits until `step` after the previous stamp, so a resumed note keeps its pace.
		var since string
		switch {
		case !n.tStarted.Valid:
			since = n.created
		case !n.tCompleted.Valid:
			since = n.tStarted.String
		case !n.aStarted.Valid:
			since = n.tCompleted.String
		default:
			since = n.aStarted.String
		}
		if !p.waitUntil(ctx, since, step) {
			return
		}
		switch {
		case !n.tStarted.Valid:
			err = p.stamp(ctx, id, "transcription_started_at", "transcription_started_at IS NULL")
		case !n.tCompleted.Valid:
			err = p.transcribe(ctx, n)
		case !n.aStarted.Valid:
			err = p.stamp(ctx, id, "analysis_started_at", "analysis_started_at IS NULL")
		default:
			err = p.analyse(ctx, n)
		}
		if err != nil {
			if ctx.Err() == nil {
				p.s.log.Error("pipeline: step failed", "note_id", id, "err", err)
			}
			return
		}
	}
}

// waitUntil sleeps until step after the stored time since (at most step, whatever the clock says).
func (p *pipeline) waitUntil(ctx context.Context, since string, step time.Duration) bool {
	d := step
	if t, err := sqlitedb.ParseTime(since); err == nil {
		d = min(max(t.Add(step).Sub(p.s.now()), 0), step)
	}
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// stamp sets one timestamp column (a constant name, never input) when cond still holds.
func (p *pipeline) stamp(ctx context.Context, id int64, column, cond string) error {
	now := sqlitedb.FormatTime(p.s.now())
	_, err := p.s.db.ExecContext(ctx, "UPDATE progress_notes SET "+column+" = ?, updated_at = ? WHERE id = ? AND error_state IS NULL AND "+cond, now, now, id)
	return err
}

// fail records why the note cannot be processed; the pipeline then leaves it alone.
func (p *pipeline) fail(ctx context.Context, id int64, reason string) error {
	now := sqlitedb.FormatTime(p.s.now())
	_, err := p.s.db.ExecContext(ctx, `UPDATE progress_notes SET error_state = ?, updated_at = ? WHERE id = ? AND error_state IS NULL`, reason, now, id)
	p.s.log.Info("pipeline: note failed", "note_id", id)
	return err
}

// transcribe makes the note's transcription: the recognizer's text for an audio note, the submitted
// text for a text note.
func (p *pipeline) transcribe(ctx context.Context, n noteWork) error {
	var text string
	var duration sql.NullFloat64
	if n.audioFile.Valid {
		res, err := p.recognizeFile(ctx, n.audioFile.String)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return p.fail(ctx, n.id, "Transcription failed: "+describeRecognizeError(err))
		}
		text = transcriptText(res)
		duration = sql.NullFloat64{Float64: res.Duration.Seconds(), Valid: true}
		if strings.TrimSpace(text) == "" {
			return p.fail(ctx, n.id, "Transcription failed: no speech was found in the recording. Check the microphone and record again.")
		}
	} else {
		text = strings.TrimSpace(n.sourceText.String)
		if text == "" {
			return p.fail(ctx, n.id, "Transcription failed: the note has neither audio nor text.")
		}
	}
	now := sqlitedb.FormatTime(p.s.now())
	_, err := p.s.db.ExecContext(ctx, `UPDATE progress_notes SET transcription = ?, audio_duration = COALESCE(?, audio_duration),
		transcription_completed_at = ?, updated_at = ? WHERE id = ? AND error_state IS NULL AND transcription_completed_at IS NULL`,
		text, duration, now, now, n.id)
	return err
}

func (p *pipeline) recognizeFile(ctx context.Context, name string) (recognize.Result, error) {
	f, err := os.Open(filepath.Join(p.s.audioDir, name))
	if err != nil {
		return recognize.Result{}, fmt.Errorf("open recording: %w", err)
	}
	defer f.Close()
	pcm, err := recognize.DecodeAudio(bufio.NewReader(f), maxAudioDuration)
	if err != nil {
		return recognize.Result{}, err
	}
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return recognize.Result{}, ctx.Err()
	}
	defer func() { <-p.sem }()
	return p.s.rec.Transcribe(ctx, pcm)
}

func describeRecognizeError(err error) string {
	switch {
	case errors.Is(err, recognize.ErrAudioFormat):
		return "the recording could not be decoded: " + err.Error()
	case errors.Is(err, os.ErrNotExist):
		return "the recording is missing from the sandbox's storage."
	}
	if re, ok := errors.AsType[*recognize.RemoteError](err); ok {
		return "the transcription server answered " + re.Error() + "."
	}
	return "the recognizer failed (" + err.Error() + ")."
}

// transcriptText puts each final turn on its own line.
func transcriptText(res recognize.Result) string {
	if len(res.Turns) == 0 {
		return strings.TrimSpace(res.Text)
	}
	lines := make([]string, 0, len(res.Turns))
	for _, t := range res.Turns {
		if s := strings.TrimSpace(t.Transcript); s != "" {
			lines = append(lines, s)
		}
	}
	return strings.Join(lines, "\n")
}

// analyse drafts the note from its transcription with the template's sections.
func (p *pipeline) analyse(ctx context.Context, n noteWork) error {
	tpl, err := loadTemplate(ctx, p.s.db, n.templateID)
	if err != nil {
		return err
	}
	out := draft(draftInput{template: tpl, transcript: n.transcription.String, context: n.context.String, audioSeconds: n.audioDuration.Float64})
	codesJSON, err := json.Marshal(out.codes)
	if err != nil {
		return err
	}
	screenersJSON, err := json.Marshal(out.screeners)
	if err != nil {
		return err
	}
	now := sqlitedb.FormatTime(p.s.now())
	_, err = p.s.db.ExecContext(ctx, `UPDATE progress_notes SET analysis = ?, codes = ?, screeners = ?, analysis_completed_at = ?, updated_at = ?
		WHERE id = ? AND error_state IS NULL AND analysis_completed_at IS NULL`,
		out.analysis, string(codesJSON), string(screenersJSON), now, now, n.id)
	return err
}
