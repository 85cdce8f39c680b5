package ui

import (
	"slices"
	"testing"

	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/nextvisit/scribe/app"
)

// The list follows the core's events: each warning kind has one line,
// replaced when it repeats and removed by the event that clears it. The
// events are built as the core sends them (app.RecordingEvent); the real
// path is TestRecordWarningsShowAndClear.
func TestWarningListFollowsEvents(t *testing.T) {
	test.NewTempApp(t)
	w := newWarningList()
	shown := func() []string {
		var out []string
		for _, k := range w.order {
			out = append(out, w.rows[k].Text)
		}
		return out
	}
	w.apply(app.RecordingEvent{Kind: app.EventSleepNotInhibited, Warning: true, Message: "may sleep"})
	w.apply(app.RecordingEvent{Kind: app.EventDeviceLost, Warning: true, Message: "mic gone"})
	w.apply(app.RecordingEvent{Kind: app.EventOverrun, Warning: true, Message: "lost 1"})
	w.apply(app.RecordingEvent{Kind: app.EventOverrun, Warning: true, Message: "lost 2"})
	if got := shown(); !slices.Equal(got, []string{"may sleep", "mic gone", "lost 2"}) || !w.box.Visible() {
		t.Fatalf("shown %q", got)
	}
	if w.rows[string(app.EventDeviceLost)].Importance != widget.WarningImportance {
		t.Error("a warning should be in the warning colour")
	}
	// The microphone comes back (another one): the loss is resolved and
	// the change is news, shown plainly.
	w.apply(app.RecordingEvent{Kind: app.EventDeviceChanged, Clears: app.EventDeviceLost, Message: "Now on USB mic."})
	if got := shown(); !slices.Equal(got, []string{"may sleep", "lost 2", "Now on USB mic."}) {
		t.Fatalf("after the device came back: %q", got)
	}
	if w.rows[string(app.EventDeviceChanged)].Importance != widget.MediumImportance {
		t.Error("news of a device change is not a warning")
	}
	// Lost again: the news is out of date.
	w.apply(app.RecordingEvent{Kind: app.EventDeviceLost, Warning: true, Message: "mic gone again"})
	if got := shown(); !slices.Equal(got, []string{"may sleep", "lost 2", "mic gone again"}) {
		t.Fatalf("lost again: %q", got)
	}
	w.apply(app.RecordingEvent{Kind: app.EventWriteError, Warning: true, Message: "disk says no"})
	w.apply(app.RecordingEvent{Kind: app.EventWriteRecovered, Clears: app.EventWriteError, Message: "Saved again."})
	w.apply(app.RecordingEvent{Kind: app.EventAudioDetected, Clears: app.EventNoAudio, Message: "Audio detected again."})
	if got := shown(); !slices.Equal(got, []string{"may sleep", "lost 2", "mic gone again"}) {
		t.Fatalf("resolved events should leave no line: %q", got)
	}
	w.clear()
	if w.box.Visible() || len(shown()) != 0 {
		t.Error("clear should empty and hide the list")
	}
}
