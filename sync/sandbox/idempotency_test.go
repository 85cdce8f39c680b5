package sandbox

import (
	"bytes"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/nextvisit/scribe/sync/sandbox/internal/sqlitedb"
)

func TestIdempotentCreatePatient(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	key := map[string]string{"Idempotency-Key": "patient-1"}
	body := map[string]string{"first_name": "Retry", "last_name": "Safe"}
	first := e.doAs(e.token, "POST", "/v1/patients", body, key)
	if first.status != http.StatusCreated {
		t.Fatalf("first: %d %s", first.status, first.body)
	}
	for range 3 {
		again := e.doAs(e.token, "POST", "/v1/patients", body, key)
		if again.status != first.status || !bytes.Equal(again.body, first.body) || again.header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("retry: %d %s, want the first answer replayed", again.status, again.body)
		}
	}
	if n := e.srv.EffectCount("patient-1"); n != 1 {
		t.Errorf("EffectCount = %d, want 1", n)
	}
	var page apiPage[apiPatient]
	e.must("GET", "/v1/patients?search=retry+safe", nil, http.StatusOK, &page)
	if page.Meta.Total != 1 {
		t.Errorf("%d patients named Retry Safe, want 1", page.Meta.Total)
	}
	// Without a key, each request is its own.
	e.must("POST", "/v1/patients", body, http.StatusCreated, nil)
	e.must("GET", "/v1/patients?search=retry+safe", nil, http.StatusOK, &page)
	if page.Meta.Total != 2 {
		t.Errorf("%d patients after a keyless create, want 2", page.Meta.Total)
	}
	if n := e.srv.EffectCount("never-used"); n != 0 {
		t.Errorf("EffectCount of an unknown key = %d", n)
	}

	// A validation failure is an answer too: replayed, with no effect.
	bad := map[string]string{"Idempotency-Key": "patient-bad"}
	r1 := e.doAs(e.token, "POST", "/v1/patients", map[string]string{"first_name": "Only"}, bad)
	r2 := e.doAs(e.token, "POST", "/v1/patients", map[string]string{"first_name": "Only", "last_name": "Now"}, bad)
	if r1.status != http.StatusUnprocessableEntity || r2.status != r1.status || !bytes.Equal(r1.body, r2.body) {
		t.Errorf("validation replay: %d %s / %d %s", r1.status, r1.body, r2.status, r2.body)
	}
	if n := e.srv.EffectCount("patient-bad"); n != 0 {
		t.Errorf("EffectCount after a 422 = %d, want 0", n)
	}
	// The same key on another route is a client bug, refused.
	r := e.postForm("/v1/progress-notes", []field{{"name", "x"}, {"note", "y"}}, nil, key)
	var v apiValidation
	r.decode(t, &v)
	if r.status != http.StatusUnprocessableEntity || len(v.Errors["Idempotency-Key"]) == 0 {
		t.Errorf("key reused on another route: %d %s", r.status, r.body)
	}
	if r := e.doAs(e.token, "POST", "/v1/patients", body, map[string]string{"Idempotency-Key": strings.Repeat("k", 256)}); r.status != http.StatusUnprocessableEntity {
		t.Errorf("overlong key: %d", r.status)
	}
}

// Concurrent retries with one key (a client that timed out and retried while the first was still
// running) all get the one answer, and the effect happens once.
func TestIdempotentConcurrentRetries(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	const n = 12
	var wg sync.WaitGroup
	results := make([]response, n)
	for i := range n {
		wg.Go(func() {
			results[i] = e.postForm("/v1/progress-notes", []field{{"name", "Concurrent"}, {"note", "Patient reports a good week."}},
				nil, map[string]string{"Idempotency-Key": "note-concurrent"})
		})
	}
	wg.Wait()
	for i, r := range results {
		if r.status != http.StatusCreated || !bytes.Equal(r.body, results[0].body) {
			t.Errorf("request %d: %d %s", i, r.status, r.body)
		}
	}
	if c := e.srv.EffectCount("note-concurrent"); c != 1 {
		t.Errorf("EffectCount = %d, want 1", c)
	}
	var page apiPage[apiNote]
	e.must("GET", "/v1/progress-notes", nil, http.StatusOK, &page)
	if page.Meta.Total != 31 {
		t.Errorf("%d notes, want the 30 seeded and one more", page.Meta.Total)
	}
}

func TestIdempotentAudioNoteAndTranscription(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	audio := speechWAV()
	for _, path := range []string{"/v1/progress-notes", "/v1/transcriptions"} {
		key := map[string]string{"Idempotency-Key": "key" + path}
		first := e.postForm(path, []field{{"name", "Audio retry"}}, audio, key)
		second := e.postForm(path, []field{{"name", "Audio retry"}}, audio, key)
		if first.status >= 300 || second.status != first.status || !bytes.Equal(first.body, second.body) {
			t.Errorf("%s: %d %s / %d %s", path, first.status, first.body, second.status, second.body)
		}
		if c := e.srv.EffectCount(key["Idempotency-Key"]); c != 1 {
			t.Errorf("%s: EffectCount %d", path, c)
		}
	}
}

// A key claimed by a sandbox process that died before recording anything carries no effect, so a
// retry after the restart runs (once).
func TestIdempotentClaimOfDeadProcess(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	var me apiUser
	e.must("GET", "/v1/user", nil, http.StatusOK, &me)
	if _, err := e.srv.db.ExecContext(t.Context(), `INSERT INTO idempotency_keys (user_id, key, route, boot_id, created_at)
		VALUES (?, 'orphan', 'POST /api/v1/patients', 'a-dead-process', ?)`, me.ID, sqlitedb.FormatTime(e.clock.Now())); err != nil {
		t.Fatal(err)
	}
	r := e.doAs(e.token, "POST", "/v1/patients", map[string]string{"first_name": "Orphan", "last_name": "Key"}, map[string]string{"Idempotency-Key": "orphan"})
	if r.status != http.StatusCreated {
		t.Fatalf("retry after a dead claim: %d %s", r.status, r.body)
	}
	if c := e.srv.EffectCount("orphan"); c != 1 {
		t.Errorf("EffectCount %d", c)
	}
}
