package ui

import (
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/theme"

	"github.com/nextvisit/scribe/audio/dsp"
)

func TestLevelMeterScaleAndColours(t *testing.T) {
	test.NewTempApp(t)
	m := newLevelMeter()
	m.Resize(fyne.NewSize(300, 20))
	r := test.TempWidgetRenderer(t, m).(*levelRenderer)
	th := m.Theme()
	v := fyne.CurrentApp().Settings().ThemeVariant()
	colour := func(n fyne.ThemeColorName) any { return th.Color(n, v) }

	for _, c := range []struct {
		name      string
		l         dsp.Level
		bar, mark fyne.ThemeColorName
	}{
		{"speech", dsp.Level{At: 800, RMS: -30, Peak: -20}, theme.ColorNameSuccess, theme.ColorNameSuccess},
		{"hot", dsp.Level{At: 1600, RMS: -9, Peak: -6}, theme.ColorNameWarning, theme.ColorNameWarning},
		{"edge", dsp.Level{At: 2400, RMS: -2, Peak: -0.5}, theme.ColorNameError, theme.ColorNameError},
	} {
		m.reset()
		m.setLevel(c.l)
		if got, want := r.bar.Size().Width, 300*float32((c.l.RMS+60)/60); abs32(got-want) > 0.5 {
			t.Errorf("%s: bar %v wide, want %v", c.name, got, want)
		}
		if got, want := r.mark.Position().X, 300*float32((c.l.Peak+60)/60)-3; abs32(got-want) > 0.5 || r.mark.Hidden {
			t.Errorf("%s: peak marker at %v (hidden %v), want %v", c.name, got, r.mark.Hidden, want)
		}
		if r.bar.FillColor != colour(c.bar) || r.mark.FillColor != colour(c.mark) {
			t.Errorf("%s: bar %v marker %v, want %s %s", c.name, r.bar.FillColor, r.mark.FillColor, c.bar, c.mark)
		}
	}
	// Clipping turns the marker red whatever the level.
	m.reset()
	m.setLevel(dsp.Level{At: 800, RMS: -30, Peak: -20, Clipping: true})
	if r.mark.FillColor != colour(theme.ColorNameError) {
		t.Error("clipping should show a red peak marker")
	}
	// Below the floor nothing shows; far above, the bar stops at full.
	m.reset()
	if r.bar.Size().Width != 0 || !r.mark.Hidden {
		t.Error("an empty meter should show no bar and no marker")
	}
	m.setLevel(dsp.Level{At: 800, RMS: 6, Peak: 6})
	if r.bar.Size().Width != 300 {
		t.Errorf("bar %v wide above full scale", r.bar.Size().Width)
	}
}

func abs32(f float32) float32 {
	if f < 0 {
		return -f
	}
	return f
}

func TestLevelMeterHoldsPeak(t *testing.T) {
	test.NewTempApp(t)
	m := newLevelMeter()
	m.setLevel(dsp.Level{At: 16000, RMS: -20, Peak: -6})
	m.setLevel(dsp.Level{At: 16800, RMS: -30, Peak: -25})
	if m.peak != -6 || m.rms != -30 {
		t.Errorf("50 ms after a -6 dB peak the meter shows peak %v rms %v", m.peak, m.rms)
	}
	m.setLevel(dsp.Level{At: 16000 + peakHold + 800, RMS: -30, Peak: -25})
	if m.peak != -25 {
		t.Errorf("after the hold the peak should fall to -25; shows %v", m.peak)
	}
	// A new recording (offsets start again) starts afresh.
	m.setLevel(dsp.Level{At: 800, RMS: -40, Peak: -35})
	if m.peak != -35 {
		t.Errorf("new recording: peak %v", m.peak)
	}
}

// countingQueue is a uiQueue that counts what is posted to it.
type countingQueue struct {
	*uiQueue
	mu    sync.Mutex
	posts int
}

func (q *countingQueue) post(fn func()) {
	q.mu.Lock()
	q.posts++
	q.mu.Unlock()
	q.uiQueue.post(fn)
}

func (q *countingQueue) count() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.posts
}

// The feed coalesces: however many levels arrive before the UI goroutine
// gets to a frame, it is handed one do, with the latest loudness and the
// loudest peak among them.
func TestLevelFeedCoalescesToOneDrawPerFrame(t *testing.T) {
	q := &countingQueue{uiQueue: newUIQueue()}
	type draw struct {
		l     dsp.Level
		fresh bool
		at    time.Time
	}
	var draws []draw // touched only by the test goroutine, in drain
	feed := newLevelFeed(&bridge{do: q.post}, func(l dsp.Level, fresh bool) {
		draws = append(draws, draw{l, fresh, time.Now()})
	})

	// A burst from the capture goroutine, as after a stall.
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 200 {
			l := dsp.Level{At: int64(i+1) * 800, RMS: -40 + float64(i)/10, Peak: -30}
			if i == 57 {
				l.Peak, l.Clipping = -0.1, true
			}
			feed.push(l)
		}
	})
	wg.Wait()
	if n := q.count(); n != 1 {
		t.Fatalf("200 levels in one frame scheduled %d draws, want 1", n)
	}
	q.drain()
	if len(draws) != 1 {
		t.Fatalf("%d draws", len(draws))
	}
	d := draws[0]
	if !d.fresh || d.l.At != 200*800 || d.l.RMS != -40+19.9 || d.l.Peak != -0.1 || !d.l.Clipping {
		t.Errorf("drew %+v (fresh %v); want the last level with the burst's -0.1 dB clipping peak", d.l, d.fresh)
	}

	// The next level comes within the same frame, so it is drawn a frame
	// after the first, not at once.
	feed.push(dsp.Level{At: 201 * 800, RMS: -20, Peak: -15})
	waitQueue(t, q.uiQueue, func() bool { return len(draws) == 2 })
	if gap := draws[1].at.Sub(draws[0].at); gap < frameInterval-time.Millisecond {
		t.Errorf("two draws %v apart; the cap is one per %v", gap, frameInterval)
	}
	if draws[1].l.Peak != -15 || draws[1].l.Clipping {
		t.Errorf("second frame %+v carries the first one's peak", draws[1].l)
	}
	// A tick without a level still draws (the clock), marked not fresh.
	feed.tick()
	waitQueue(t, q.uiQueue, func() bool { return len(draws) == 3 })
	if draws[2].fresh {
		t.Error("a tick was drawn as a new level")
	}
}

// waitQueue runs q until cond holds, as harness.waitFor does.
func waitQueue(t *testing.T, q *uiQueue, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		q.drain()
		if cond() {
			return
		}
		select {
		case <-q.ready:
		case <-deadline.C:
			t.Fatal("timed out waiting for the feed")
		}
	}
}

func TestClock(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                                 "00:00",
		999 * time.Millisecond:            "00:00",
		61 * time.Second:                  "01:01",
		59*time.Minute + 59*time.Second:   "59:59",
		2*time.Hour + 3*time.Minute + 4e9: "2:03:04",
		-time.Second:                      "00:00",
	} {
		if got := clock(d); got != want {
			t.Errorf("clock(%v) = %q, want %q", d, got, want)
		}
	}
}
