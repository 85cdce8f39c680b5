package outbox

import (
	"context"
	"fmt"
	"testing"
)

func BenchmarkEnqueue(b *testing.B) {
	q, _ := openQueue(b, Options{})
	i := 0
	for b.Loop() {
		i++
		if _, err := q.Enqueue(b.Context(), job(fmt.Sprintf("g%d", i%16), i)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}

// The production shape: a state change (here a settings row standing in for
// an encounter update) and its job in one transaction.
func BenchmarkEnqueueTxWithStateChange(b *testing.B) {
	q, s := openQueue(b, Options{})
	db := s.SQL()
	i := 0
	for b.Loop() {
		i++
		tx, err := db.BeginTx(b.Context(), nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tx.ExecContext(b.Context(),
			"INSERT INTO settings (key, value) VALUES ('note', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", i); err != nil {
			b.Fatal(err)
		}
		if _, err := q.EnqueueTx(b.Context(), tx, job(fmt.Sprintf("g%d", i%16), i)); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}

// Claim and complete with a no-op handler, 16 groups, on one goroutine.
func BenchmarkClaimComplete(b *testing.B) {
	q, _ := openQueue(b, Options{})
	q.Register("test", func(context.Context, Job) error { return nil })
	for i := range b.N {
		if _, err := q.Enqueue(b.Context(), job(fmt.Sprintf("g%d", i%16), i)); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		ran, err := q.step(b.Context(), "bench")
		if err != nil || !ran {
			b.Fatalf("step: %v %v", ran, err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}
