package ui

import (
	"context"
	"slices"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"github.com/nextvisit/scribe/app"
)

// notSignedInNotice is the connection line when nobody is signed in: nothing
// streams, and the visit is transcribed once someone is.
const notSignedInNotice = "Not signed in — the visit will be transcribed after End"

// liveLines is how many final turns the pane keeps while following: about
// a quarter of an hour of talk. Laying the pane out costs in proportion to
// its lines, and the newest turn must show at once however long the visit
// runs; the whole transcript is on the visit's Note screen.
const liveLines = 300

// followSlack is how close to the bottom (in pixels) the transcript must be
// scrolled to count as following it: a fraction of a line off is still "at
// the bottom" to a person.
const followSlack = 8

// liveTranscript is the Record screen's transcript while recording: final
// turns in plain text, the turn in progress greyed under them (replaced by
// each update), and a line saying how the connection stands. It keeps the
// newest turn in view until the clinician scrolls up to read back, and
// follows again once they scroll back to the bottom.
type liveTranscript struct {
	link   *widget.Label
	older  *widget.Label   // says earlier turns left the pane; hidden until they do
	turns  *fyne.Container // one label per final turn, the latest liveLines
	live   *widget.Label   // the partial turn, greyed; hidden when none
	empty  *widget.Label
	scroll *container.Scroll
	box    fyne.CanvasObject

	finals int
	// follow is whether the view sits at the bottom; new text scrolls it
	// into view only then. Every move of the scroll, the user's or ours,
	// sets it from where the view ends up.
	follow bool
}

func newLiveTranscript() *liveTranscript {
	t := &liveTranscript{follow: true}
	t.link = widget.NewLabel("")
	t.link.Wrapping = fyne.TextWrapWord
	t.link.Hide()
	t.live = widget.NewLabel("")
	t.live.Wrapping = fyne.TextWrapWord
	t.live.Importance = widget.LowImportance // the theme's greyed text
	t.live.Hide()
	t.empty = widget.NewLabel("The transcript appears here as you speak.")
	t.empty.Wrapping = fyne.TextWrapWord
	t.empty.Importance = widget.LowImportance
	t.older = widget.NewLabel("Earlier turns are on the visit's Transcript tab after End.")
	t.older.Wrapping = fyne.TextWrapWord
	t.older.Importance = widget.LowImportance
	t.older.Hide()
	t.turns = container.NewVBox()
	t.scroll = container.NewVScroll(container.NewVBox(t.empty, t.older, t.turns, t.live))
	t.scroll.OnScrolled = t.onScrolled
	t.box = container.NewBorder(
		container.NewVBox(widget.NewLabelWithStyle("Live transcript", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}), t.link),
		nil, nil, nil, t.scroll)
	return t
}

func (t *liveTranscript) onScrolled(p fyne.Position) {
	t.follow = p.Y+t.scroll.Size().Height >= t.scroll.Content.Size().Height-followSlack
}

// reset empties the pane for a new recording.
func (t *liveTranscript) reset() {
	t.turns.Objects = nil
	t.turns.Refresh()
	t.older.Hide()
	t.finals = 0
	t.live.SetText("")
	t.live.Hide()
	t.empty.Show()
	t.setLink("")
	t.follow = true
	t.scroll.ScrollToTop()
}

// apply shows one update from the recording.
func (t *liveTranscript) apply(u app.LiveUpdate) {
	switch {
	case u.Final != nil:
		t.addFinal(*u.Final)
	case u.Partial != nil:
		t.setPartial(*u.Partial)
	}
	if u.Link != "" {
		t.setLink(u.Link)
	}
}

func (t *liveTranscript) addFinal(turn app.Turn) {
	follow := t.follow
	l := widget.NewLabel(turnLine(turn))
	l.Wrapping = fyne.TextWrapWord
	t.turns.Add(l)
	t.finals++
	// Only while following: trimming the top would move the text the
	// clinician is reading back.
	if follow && len(t.turns.Objects) > liveLines {
		t.turns.Objects = slices.Delete(t.turns.Objects, 0, len(t.turns.Objects)-liveLines)
		t.older.Show()
	}
	// The final is the partial it grew from, finished.
	t.live.SetText("")
	t.live.Hide()
	t.empty.Hide()
	t.scrolled(follow)
}

func (t *liveTranscript) setPartial(turn app.Turn) {
	follow := t.follow
	t.live.SetText(turnLine(turn))
	t.live.Show()
	t.empty.Hide()
	t.scrolled(follow)
}

// scrolled brings the new text into view if the view was following.
func (t *liveTranscript) scrolled(follow bool) {
	// The scroll lays the grown content out and redraws its bars, so the
	// bottom is known. Not t.scroll.Refresh: that also refreshes every line
	// already shown, re-wrapping them all, which grows with the visit.
	t.scroll.Base.Refresh()
	if follow {
		t.scroll.ScrollToBottom()
		t.follow = true
	}
}

// setLink says how the live transcript's connection stands; "" hides the
// line (nothing recording).
func (t *liveTranscript) setLink(l app.Link) {
	text, imp := linkText(l)
	t.link.Importance = imp
	t.link.SetText(text)
	visible(t.link, text != "")
}

func linkText(l app.Link) (string, widget.Importance) {
	switch l {
	case app.LinkConnecting:
		return "Connecting to the transcription service…", widget.MediumImportance
	case app.LinkLive:
		return "Live", widget.SuccessImportance
	case app.LinkCatchingUp:
		return "Catching up — sending what was recorded while offline", widget.WarningImportance
	case app.LinkOffline:
		return app.OfflineNotice, widget.WarningImportance
	case app.LinkNone:
		return notSignedInNotice, widget.WarningImportance
	case app.LinkEnded:
		return "Transcript finished", widget.MediumImportance
	}
	return "", widget.MediumImportance
}

// turnLine is a turn as the transcript shows it: "[mm:ss] text".
func turnLine(t app.Turn) string {
	return "[" + clock(t.Start) + "] " + t.Text
}

// followLive hands each of a recording's live updates to apply on the UI
// goroutine, in order, until live closes or ctx ends. The updates are not
// coalesced: each final is a line of the transcript, and partials come
// about once a second.
func followLive(ctx context.Context, b *bridge, live <-chan app.LiveUpdate, apply func(app.LiveUpdate)) {
	b.wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case u, ok := <-live:
				if !ok {
					return
				}
				b.do(func() {
					if ctx.Err() == nil {
						apply(u)
					}
				})
			}
		}
	})
}
