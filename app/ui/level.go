package ui

import (
	"image/color"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/nextvisit/scribe/audio/dsp"
	"github.com/nextvisit/scribe/audio/journal"
)

// The meter's scale, in dBFS. Speech into a laptop microphone sits around
// -30 to -15 RMS; below -60 is silence for any practical purpose.
const (
	meterFloor = -60.0
	meterAmber = -12.0 // louder than this is getting hot
	meterRed   = -3.0  // louder than this is about to clip
	// peakHold keeps the peak marker up this long before it falls: 1.5 s
	// of journal samples, so the hold follows the audio, not the wall
	// clock.
	peakHold = journal.SampleRate * 3 / 2
)

// levelMeter is a horizontal audio level meter: a bar for the loudness
// (RMS) and a thin marker for the recent peak, green while the level is
// comfortable, amber when it runs hot and red at the edge of clipping.
type levelMeter struct {
	widget.BaseWidget

	rms, peak float64 // dBFS as shown
	clipping  bool
	peakAt    int64 // sample offset the held peak came from
}

var _ fyne.Widget = (*levelMeter)(nil)

func newLevelMeter() *levelMeter {
	m := &levelMeter{}
	m.ExtendBaseWidget(m)
	m.reset()
	return m
}

// setLevel shows l. The peak marker holds the loudest recent peak for a
// moment so a short spike is seen, then follows the audio down.
func (m *levelMeter) setLevel(l dsp.Level) {
	m.rms = l.RMS
	if l.Peak >= m.peak || l.At-m.peakAt > peakHold || l.At < m.peakAt {
		m.peak, m.peakAt = l.Peak, l.At
	}
	m.clipping = l.Clipping || (m.clipping && l.At-m.peakAt <= peakHold)
	m.Refresh()
}

// reset empties the meter (nothing recording).
func (m *levelMeter) reset() {
	m.rms, m.peak, m.peakAt, m.clipping = meterFloor, meterFloor, 0, false
	m.Refresh()
}

func (m *levelMeter) CreateRenderer() fyne.WidgetRenderer {
	r := &levelRenderer{
		m:    m,
		back: canvas.NewRectangle(color.Transparent),
		bar:  canvas.NewRectangle(color.Transparent),
		mark: canvas.NewRectangle(color.Transparent),
	}
	r.back.CornerRadius = theme.InputRadiusSize()
	r.refreshColors()
	return r
}

// fraction places dB on the meter's scale, 0 at the floor, 1 at full scale.
func fraction(db float64) float32 {
	switch {
	case db <= meterFloor:
		return 0
	case db >= 0:
		return 1
	default:
		return float32((db - meterFloor) / -meterFloor)
	}
}

// zone is the colour for a level: green, amber, red.
func zone(db float64, clipping bool) fyne.ThemeColorName {
	switch {
	case clipping || db >= meterRed:
		return theme.ColorNameError
	case db >= meterAmber:
		return theme.ColorNameWarning
	default:
		return theme.ColorNameSuccess
	}
}

type levelRenderer struct {
	m               *levelMeter
	back, bar, mark *canvas.Rectangle
}

func (r *levelRenderer) Layout(size fyne.Size) {
	r.back.Resize(size)
	r.back.Move(fyne.NewPos(0, 0))
	r.bar.Resize(fyne.NewSize(size.Width*fraction(r.m.rms), size.Height))
	r.bar.Move(fyne.NewPos(0, 0))
	const markWidth = 3
	x := size.Width*fraction(r.m.peak) - markWidth
	if x < 0 {
		x = 0
	}
	r.mark.Resize(fyne.NewSize(markWidth, size.Height))
	r.mark.Move(fyne.NewPos(x, 0))
	r.mark.Hidden = r.m.peak <= meterFloor
}

func (r *levelRenderer) MinSize() fyne.Size {
	return fyne.NewSize(200, theme.TextSize()+theme.InnerPadding())
}

func (r *levelRenderer) refreshColors() {
	v := fyne.CurrentApp().Settings().ThemeVariant()
	th := r.m.Theme()
	r.back.FillColor = th.Color(theme.ColorNameInputBackground, v)
	r.bar.FillColor = th.Color(zone(r.m.rms, false), v)
	r.mark.FillColor = th.Color(zone(r.m.peak, r.m.clipping), v)
}

func (r *levelRenderer) Refresh() {
	r.refreshColors()
	r.Layout(r.m.Size())
	canvas.Refresh(r.m)
}

func (r *levelRenderer) Objects() []fyne.CanvasObject {
	return []fyne.CanvasObject{r.back, r.bar, r.mark}
}

func (r *levelRenderer) Destroy() {}

// frameInterval caps meter redraws near 60 Hz.
const frameInterval = time.Second / 60

// levelFeed carries levels from the capture goroutine to the meter. Levels
// arrive every 50 ms, faster in bursts after a stall; the window needs at
// most one redraw per frame. So the feed keeps what arrived since the last
// frame (the latest loudness, the loudest peak, any clipping, so no spike
// is lost by the coalescing) and hands it over with at most one do per
// frame.
type levelFeed struct {
	b     *bridge
	frame time.Duration
	// draw runs on the UI goroutine with what arrived since the last
	// frame; fresh is false when no level did (a tick of the clock).
	draw func(l dsp.Level, fresh bool)

	mu      sync.Mutex
	have    bool
	latest  dsp.Level
	pending bool      // a frame is scheduled and has not run yet
	last    time.Time // when the last frame ran
}

func newLevelFeed(b *bridge, draw func(dsp.Level, bool)) *levelFeed {
	return &levelFeed{b: b, frame: frameInterval, draw: draw}
}

// push records l and schedules a frame unless one is scheduled already.
// Any goroutine may call it.
func (f *levelFeed) push(l dsp.Level) {
	f.mu.Lock()
	if f.have {
		l.Peak = max(l.Peak, f.latest.Peak)
		l.Clipping = l.Clipping || f.latest.Clipping
	}
	f.latest, f.have = l, true
	f.schedule()
	f.mu.Unlock()
}

// tick asks for a frame even without a new level (the clock moved on).
func (f *levelFeed) tick() {
	f.mu.Lock()
	f.schedule()
	f.mu.Unlock()
}

// schedule must be called with f.mu held.
func (f *levelFeed) schedule() {
	if f.pending {
		return
	}
	f.pending = true
	if wait := f.frame - time.Since(f.last); wait > 0 {
		time.AfterFunc(wait, func() { f.b.do(f.run) })
		return
	}
	f.b.do(f.run)
}

// run is one frame, on the UI goroutine.
func (f *levelFeed) run() {
	f.mu.Lock()
	l, have := f.latest, f.have
	f.have, f.pending, f.last = false, false, time.Now()
	f.mu.Unlock()
	f.draw(l, have)
}
