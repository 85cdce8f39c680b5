package outbox

import (
	"fmt"
	"net/url"
	"testing"
	"time"
)

// Draining 10,000 create-patient jobs (100 groups of 100) against the
// sandbox, without faults, with 4 workers: the whole path — claim, HTTP
// request with its idempotency key, the sandbox's own SQLite write, settle.
// Enqueueing is not timed (see BenchmarkEnqueueTxWithStateChange).
func BenchmarkDrain10000AgainstSandbox(b *testing.B) {
	const jobs, groups = 10_000, 100
	sb := newSandbox(b)
	base, err := sb.Start(b.Context(), "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	u, err := url.Parse(base)
	if err != nil {
		b.Fatal(err)
	}
	r := newRemote(b, u.Host, true)
	if _, err := r.signedIn(b.Context()); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for round := 1; round <= b.N; round++ {
		b.StopTimer()
		q, s := openQueue(b, Options{Workers: 4, BaseDelay: 10 * time.Millisecond})
		q.Register(kindCreatePatient, r.createPatient)
		tx, err := s.SQL().BeginTx(b.Context(), nil)
		if err != nil {
			b.Fatal(err)
		}
		for i := range jobs {
			key := fmt.Sprintf("bench-r%d-%05d", round, i)
			if _, err := q.EnqueueTx(b.Context(), tx, patientJob(b, fmt.Sprintf("r%d-g%d", round, i%groups), key, key, "Bench")); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		want := round * jobs
		b.StartTimer()
		stop := serveQueue(b, q)
		waitDone(b, q, jobs, 10*time.Minute, func() bool { return r.count() >= want })
		b.StopTimer()
		stop()
	}
	b.ReportMetric(float64(jobs*b.N)/b.Elapsed().Seconds(), "jobs/s")
}
