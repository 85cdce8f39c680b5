package stream_test

import (
	"context"
	"log/slog"

	"github.com/nextvisit/scribe/audio/journal"
	"github.com/nextvisit/scribe/sync/api"
	"github.com/nextvisit/scribe/sync/stream"
)

// The recorder tells the stream about every write through a Growth; the stream reads the journal.
func Example() {
	ctx := context.Background()
	var (
		client *api.Client     // signed in
		sink   stream.Sink     // stores final turns with their offsets, shows partials and the state
		w      *journal.Writer // the encounter's journal, being recorded
		dir    string          // its folder
		from   int64           // end of the last final turn stored (0 for a new encounter)
	)
	g := stream.NewGrowth(w.Samples())
	// Recorder, after each w.Write(pcm): g.Grew(w.Samples()); after w.Close(): g.End().

	src, err := stream.OpenJournalSource(dir, journal.Options{}, g)
	if err != nil {
		slog.Error("open journal", "err", err)
		return
	}
	defer src.Close()
	tokens := func(ctx context.Context) (api.StreamingToken, error) { return client.StreamingToken(ctx, 0) }
	res, err := stream.Run(ctx, src, tokens, sink, from, stream.Options{Logger: slog.Default()})
	if err != nil {
		slog.Error("live transcript stopped", "err", err, "covered", res.Covered)
	}
	// Audio in [res.Covered, end) still needs a transcribe-gap job.
}
