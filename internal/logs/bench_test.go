package logs

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
)

// benchLoggers: the plain text handler and the same behind NewHandler, so
// the figures show the cost the redaction adds.
func benchLoggers() map[string]*slog.Logger {
	text := slog.NewTextHandler(io.Discard, nil)
	return map[string]*slog.Logger{"plain": slog.New(text), "redacting": slog.New(NewHandler(text))}
}

func BenchmarkHandleTypical(b *testing.B) {
	for name, log := range benchLoggers() {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				log.LogAttrs(context.Background(), slog.LevelInfo, "recording ended",
					slog.String("encounter", "3f2a1b4c-1234-4abc-8def-0123456789ab"),
					slog.Int64("samples", 480000), slog.Bool("clean", true))
			}
		})
	}
}

func BenchmarkHandleSensitive(b *testing.B) {
	err := errors.New(`Post "https://ehr.example.org/api/patients?email=jane@example.com": 401 {"first_name":"Jane"}`)
	for name, log := range benchLoggers() {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				log.LogAttrs(context.Background(), slog.LevelWarn, "push failed",
					slog.String("ehr", "nexhealth"), slog.String("access_token", "abc"),
					slog.String("first_name", "Jane"), slog.Any("error", err))
			}
		})
	}
}

func BenchmarkScrubClean(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Scrub("could not save the recording's state: database is locked")
	}
}
