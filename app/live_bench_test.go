package app

import (
	"testing"
	"time"

	"github.com/nextvisit/scribe/sync/store"
	"github.com/nextvisit/scribe/sync/stream"
)

// BenchmarkLiveFinalStored is the store half of "a final turn reaches the
// screen within 100 ms": from the stream handing a final turn to the
// recording's sink, through the SQLite transaction that stores it with its
// coverage, to the update a screen reads (app/ui's BenchmarkFinalTurnShown
// is the other half).
func BenchmarkLiveFinalStored(b *testing.B) {
	p := newRecProfile(b, testMic)
	c, err := Open(b.Context(), Config{ProfileDir: p.dir, Secrets: p.vault, AudioBackend: p.mics})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	const id = "20260122-093012-3fa9c1d2e4b5"
	if err := c.db.CreateEncounter(b.Context(), store.Encounter{ID: id, State: string(StateRecording),
		CreatedAt: time.Now(), Source: store.SourceMic, Dir: "encounters/" + id}); err != nil {
		b.Fatal(err)
	}
	l := &live{c: c, id: id, updates: make(chan LiveUpdate, liveBuffer)}
	words := []stream.Word{{Text: "blood", Start: 0, End: 4000, Confidence: 0.9}, {Text: "pressure", Start: 4000, End: 9000, Confidence: 0.9}}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		start := int64(i) * 48000
		t := stream.Turn{Start: start, End: start + 32000, Text: "Blood pressure is one twenty over eighty.", Final: true, Words: words}
		if err := l.Final(b.Context(), t); err != nil {
			b.Fatal(err)
		}
		if u := <-l.updates; u.Final == nil {
			b.Fatal("no final update")
		}
	}
}
