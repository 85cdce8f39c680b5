package recognize

import (
	"errors"
	"math"
	"time"
)

// The voice activity detector works on 20 ms frames. A frame is active when
// its energy stands marginDB above an adaptive noise floor and above an
// absolute minimum (so that near-silent noise never counts as speech). A
// region opens when onsetNeed of the last onsetWindow frames are active (a
// click or a single loud frame is not speech) and closes when no frame has
// been active for the hangover, so the short pauses inside a sentence do not
// split it.
const (
	frameLen       = SampleRate / 50 // 20 ms
	onsetWindow    = 6               // frames
	onsetNeed      = 4               // active frames within the window
	marginDB       = 10.0
	absMinDB       = -55.0
	floorMinDB     = -90.0
	floorInitMaxDB = -45.0
	silenceDB      = -100.0 // energy reported for digital silence
	// The floor falls fast (silence between words shows the true floor), rises
	// quickly toward quiet frames (the noise changed) and only crawls while
	// speech is active, so a long turn does not swallow itself.
	floorFall       = 0.5
	floorRiseQuiet  = 0.1
	floorRiseActive = 0.02 // dB per frame: 1 dB/s
	// A dip that separates two words lasts at least wordGapFrames frames
	// that are inactive or dipDB below the loudest frame within dipReach.
	wordGapFrames = 2
	dipDB         = 18.0
	dipReach      = 10
	// preroll is the audio kept on either side of a region sent to a remote
	// recognizer, which transcribes cut-off onsets badly.
	preroll = SampleRate / 5 // 200 ms
)

// Defaults for the VAD fields left zero.
const (
	DefaultHangover     = 400 * time.Millisecond
	DefaultMaxTurn      = 30 * time.Second
	DefaultPartialEvery = time.Second
)

var errFlushed = errors.New("recognize: write after flush: the stream has ended")

type frameInfo struct {
	energy, floor float64 // dBFS
	active        bool
}

// span is a stretch of audio in samples from the start of the stream.
type span struct {
	start, end int64
	snr        float64 // mean energy above the floor, dB
}

// region is a stretch of speech found by the segmenter.
type region struct {
	span
	words []span
	final bool
	// pcm holds the region's audio with up to preroll samples either side,
	// starting at sample pcmStart; only when the segmenter keeps audio.
	pcm      []int16
	pcmStart int64
}

// segmenter finds speech regions in a stream of 16 kHz samples.
type segmenter struct {
	hangover, maxTurn, partialEvery int64 // frames; partialEvery 0: never
	keepPCM                         bool

	pending []int16 // samples of the incomplete frame
	frames  int64   // frames processed
	total   int64   // samples processed into frames
	floor   float64
	seeded  bool
	recent  []frameInfo // the last onsetWindow frames while idle
	flushed bool

	inRegion    bool
	firstFrame  int64       // frame index where the region starts
	regFrames   []frameInfo // frames from firstFrame on
	lastActive  int64       // frame index
	nextPartial int64       // frame index

	pcm      []int16 // kept audio, starting at sample pcmStart
	pcmStart int64
}

func newSegmenter(v VAD, keepPCM bool) *segmenter {
	toFrames := func(d, def time.Duration) int64 {
		if d == 0 {
			d = def
		}
		return max(1, int64(d/(20*time.Millisecond)))
	}
	s := &segmenter{
		hangover: toFrames(v.Hangover, DefaultHangover),
		maxTurn:  toFrames(v.MaxTurn, DefaultMaxTurn),
		keepPCM:  keepPCM,
		pending:  make([]int16, 0, frameLen),
		recent:   make([]frameInfo, 0, onsetWindow),
	}
	if v.PartialEvery >= 0 {
		s.partialEvery = toFrames(v.PartialEvery, DefaultPartialEvery)
	}
	return s
}

func (s *segmenter) write(pcm []int16) ([]region, error) {
	if s.flushed {
		return nil, errFlushed
	}
	var out []region
	for len(pcm) > 0 {
		if len(s.pending) == 0 && len(pcm) >= frameLen {
			out = s.frame(pcm[:frameLen], out)
			pcm = pcm[frameLen:]
			continue
		}
		n := min(frameLen-len(s.pending), len(pcm))
		s.pending = append(s.pending, pcm[:n]...)
		pcm = pcm[n:]
		if len(s.pending) == frameLen {
			out = s.frame(s.pending, out)
			s.pending = s.pending[:0]
		}
	}
	return out, nil
}

func (s *segmenter) flush() ([]region, error) {
	if s.flushed {
		return nil, errFlushed
	}
	s.flushed = true
	var out []region
	if len(s.pending) > 0 {
		out = s.frame(s.pending, out)
		s.pending = nil
	}
	if s.inRegion {
		out = append(out, s.finish())
	}
	return out, nil
}

func (s *segmenter) frameStart(k int64) int64 { return k * frameLen }

// frameEnd is the end of frame k; only the last frame can be short.
func (s *segmenter) frameEnd(k int64) int64 { return min((k+1)*frameLen, s.total) }

func (s *segmenter) frame(pcm []int16, out []region) []region {
	e := energyDB(pcm)
	k := s.frames
	s.frames++
	s.total += int64(len(pcm))
	if s.keepPCM {
		s.pcm = append(s.pcm, pcm...)
	}
	if !s.seeded {
		s.floor = min(max(e, floorMinDB), floorInitMaxDB)
		s.seeded = true
	}
	fi := frameInfo{energy: e, floor: s.floor, active: e > s.floor+marginDB && e > absMinDB}
	switch {
	case e < s.floor:
		s.floor += floorFall * (e - s.floor)
	case fi.active:
		s.floor += min(floorRiseActive, e-s.floor)
	default:
		s.floor += floorRiseQuiet * (e - s.floor)
	}
	s.floor = max(s.floor, floorMinDB)

	if !s.inRegion {
		if len(s.recent) == onsetWindow {
			copy(s.recent, s.recent[1:])
			s.recent = s.recent[:onsetWindow-1]
		}
		s.recent = append(s.recent, fi)
		first, last, n := -1, -1, 0
		for i, r := range s.recent {
			if r.active {
				if first < 0 {
					first = i
				}
				last = i
				n++
			}
		}
		if n < onsetNeed {
			s.trimPCM()
			return out
		}
		base := k - int64(len(s.recent)-1)
		s.inRegion = true
		s.firstFrame = base + int64(first)
		s.lastActive = base + int64(last)
		s.regFrames = append(s.regFrames[:0], s.recent[first:]...)
		s.recent = s.recent[:0]
		if s.partialEvery > 0 {
			s.nextPartial = k + s.partialEvery
			out = append(out, s.current(false))
		}
		return out
	}

	s.regFrames = append(s.regFrames, fi)
	if fi.active {
		s.lastActive = k
	}
	switch {
	case k-s.lastActive >= s.hangover, k+1-s.firstFrame >= s.maxTurn:
		out = append(out, s.finish())
	case s.partialEvery > 0 && k >= s.nextPartial:
		s.nextPartial += s.partialEvery
		out = append(out, s.current(false))
	}
	return out
}

// finish closes the open region at its last active frame.
func (s *segmenter) finish() region {
	r := s.current(true)
	s.inRegion = false
	s.regFrames = s.regFrames[:0]
	if s.keepPCM {
		from := max(s.pcmStart, r.start-preroll)
		to := min(s.pcmStart+int64(len(s.pcm)), r.end+preroll)
		r.pcm = append([]int16(nil), s.pcm[from-s.pcmStart:to-s.pcmStart]...)
		r.pcmStart = from
		s.trimPCM()
	}
	return r
}

// current describes the open region up to its last active frame.
func (s *segmenter) current(final bool) region {
	frames := s.regFrames[:s.lastActive-s.firstFrame+1]
	r := region{
		span:  span{start: s.frameStart(s.firstFrame), end: s.frameEnd(s.lastActive), snr: meanSNR(frames)},
		final: final,
	}
	r.words = s.words(frames)
	return r
}

// words splits a region's frames at its dips: runs of at least
// wordGapFrames frames that are inactive or dipDB below the loudest frame
// around them (stop closures and the breaks between some words). The first
// word starts with the region and the last ends with it.
func (s *segmenter) words(frames []frameInfo) []span {
	loud := make([]bool, len(frames))
	for i, f := range frames {
		peak := f.energy
		for _, g := range frames[max(0, i-dipReach):min(len(frames), i+dipReach+1)] {
			peak = max(peak, g.energy)
		}
		loud[i] = f.active && f.energy >= peak-dipDB
	}
	var words []span
	start, quiet := 0, 0
	for i, l := range loud {
		if !l {
			quiet++
			continue
		}
		if quiet >= wordGapFrames && i-quiet > start {
			words = append(words, s.frameSpan(frames, start, i-quiet))
			start = i
		}
		quiet = 0
	}
	return append(words, s.frameSpan(frames, start, len(frames)))
}

// frameSpan is the span of region frames [from, to).
func (s *segmenter) frameSpan(frames []frameInfo, from, to int) span {
	return span{
		start: s.frameStart(s.firstFrame + int64(from)),
		end:   s.frameEnd(s.firstFrame + int64(to) - 1),
		snr:   meanSNR(frames[from:to]),
	}
}

// trimPCM drops kept audio that no future region can need: while idle, only
// the onset window and the preroll before it.
func (s *segmenter) trimPCM() {
	if !s.keepPCM || s.inRegion {
		return
	}
	const keep = onsetWindow*frameLen + preroll
	if len(s.pcm) <= 2*keep {
		return
	}
	drop := len(s.pcm) - keep
	s.pcm = append(s.pcm[:0], s.pcm[drop:]...)
	s.pcmStart += int64(drop)
}

func meanSNR(frames []frameInfo) float64 {
	var sum float64
	var n int
	for _, f := range frames {
		if f.active {
			sum += f.energy - f.floor
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

// energyDB is the mean power of pcm relative to full scale.
func energyDB(pcm []int16) float64 {
	if len(pcm) == 0 {
		return silenceDB
	}
	var sum int64
	for _, v := range pcm {
		sum += int64(v) * int64(v)
	}
	if sum == 0 {
		return silenceDB
	}
	p := float64(sum) / float64(len(pcm)) / (32768 * 32768)
	return max(10*math.Log10(p), silenceDB)
}
