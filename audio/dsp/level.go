package dsp

import (
	"math"
	"time"
)

// FloorDB is the level reported for digital silence, in place of -Inf, so
// levels stay finite for arithmetic, JSON and meters.
const FloorDB = -120

// clipRun is how many consecutive full-scale samples count as clipping: a
// single sample at the rail happens in loud but clean audio; a run of them
// means the waveform was cut off.
const clipRun = 2

// Level is one meter reading over a window of 16-bit PCM.
type Level struct {
	// At is the sample offset of the window's end, counted from the first
	// sample pushed to the meter.
	At int64
	// RMS and Peak are in dBFS (0 dB = full scale 32768; a full-scale sine
	// reads -3 dB RMS), never below FloorDB.
	RMS, Peak float64
	// Clipping is set when the window holds clipRun or more consecutive
	// samples at full scale.
	Clipping bool
}

// Meter turns a stream of PCM into a Level per fixed window (50 ms in the
// record screen). It keeps no samples, only running sums.
//
// A Meter is not safe for concurrent use.
type Meter struct {
	window int64 // samples per window
	at     int64 // samples pushed so far
	n      int64 // samples in the current window
	sumSq  float64
	peak   int32
	run    int // current run of full-scale samples
	clip   bool
}

// NewMeter returns a meter emitting one Level per window of audio at
// sampleRate. Windows shorter than one sample are treated as one sample.
func NewMeter(sampleRate int, window time.Duration) *Meter {
	w := int64(sampleRate) * int64(window) / int64(time.Second)
	return &Meter{window: max(w, 1)}
}

// Push feeds PCM to the meter and calls emit, synchronously, for every
// window that pcm completes. Windows span calls: the remainder of pcm
// counts towards the next one.
func (m *Meter) Push(pcm []int16, emit func(Level)) {
	for len(pcm) > 0 {
		take := min(int64(len(pcm)), m.window-m.n)
		var sumSq float64
		for _, s := range pcm[:take] {
			v := int32(s)
			sumSq += float64(v * v)
			if v < 0 {
				v = -v
			}
			if v > m.peak {
				m.peak = v
			}
			if v >= math.MaxInt16 {
				m.run++
				if m.run >= clipRun {
					m.clip = true
				}
			} else {
				m.run = 0
			}
		}
		m.sumSq += sumSq
		m.n += take
		m.at += take
		pcm = pcm[take:]
		if m.n == m.window {
			emit(Level{
				At:       m.at,
				RMS:      dbfs(math.Sqrt(m.sumSq / float64(m.n))),
				Peak:     dbfs(float64(m.peak)),
				Clipping: m.clip,
			})
			m.n, m.sumSq, m.peak, m.clip = 0, 0, 0, false
		}
	}
}

// dbfs converts a 16-bit amplitude to dBFS, floored at FloorDB.
func dbfs(a float64) float64 {
	if a <= 0 {
		return FloorDB
	}
	return max(20*math.Log10(a/32768), FloorDB)
}

// SilenceConfig tunes the "no audio detected" warning. Zero fields take the
// defaults: Threshold -55 dBFS RMS, AtStart 10 s, Later 60 s.
type SilenceConfig struct {
	// Threshold is the RMS level, in dBFS, above which a window counts as
	// sound. A muted or dead microphone sits far below it; a quiet room with
	// a working one sits above it.
	Threshold float64
	// AtStart is how long a recording may go without any sound before the
	// warning; Later is how long a silence may last once sound has been
	// heard.
	AtStart, Later time.Duration
}

// Silence decides from a stream of Levels when to warn "no audio detected"
// and when to take the warning back. Time is measured in samples (Level.At),
// not on the wall clock, so paused time does not count and tests are exact.
//
// A Silence is not safe for concurrent use.
type Silence struct {
	threshold      float64
	atStart, later int64 // in samples
	last           int64 // At of the previous level
	heard          bool  // sound seen since the start
	since          int64 // offset where the current silence began
	warned         bool
}

// NewSilence returns a detector for levels measured at sampleRate.
func NewSilence(cfg SilenceConfig, sampleRate int) *Silence {
	if cfg.Threshold == 0 {
		cfg.Threshold = -55
	}
	if cfg.AtStart <= 0 {
		cfg.AtStart = 10 * time.Second
	}
	if cfg.Later <= 0 {
		cfg.Later = time.Minute
	}
	samples := func(d time.Duration) int64 { return int64(sampleRate) * int64(d) / int64(time.Second) }
	return &Silence{threshold: cfg.Threshold, atStart: samples(cfg.AtStart), later: samples(cfg.Later)}
}

// Observe takes the next Level. warn is true once, when there has been no
// sound for AtStart since the start of the stream, or for Later since sound
// was last heard; cleared is true once, on the first window with sound after
// a warning. The stream starts at offset 0, as a Meter's does; a Level whose
// At goes backwards (a new Meter) starts a new stream, keeping a warning in
// force until sound clears it.
func (s *Silence) Observe(l Level) (warn bool, cleared bool) {
	if l.At < s.last {
		s.heard, s.since = false, 0
	}
	s.last = l.At
	if l.RMS > s.threshold {
		s.heard = true
		s.since = l.At
		if s.warned {
			s.warned = false
			return false, true
		}
		return false, false
	}
	limit := s.atStart
	if s.heard {
		limit = s.later
	}
	if !s.warned && l.At-s.since >= limit {
		s.warned = true
		return true, false
	}
	return false, false
}

// Warning reports whether the "no audio detected" warning is in force.
func (s *Silence) Warning() bool { return s.warned }
