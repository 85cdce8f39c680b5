package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/internal/wavtest"
	"github.com/nextvisit/scribe/sync/api"
	"github.com/nextvisit/scribe/sync/ehr"
	"github.com/nextvisit/scribe/sync/ehr/ehrtest"
	"github.com/nextvisit/scribe/sync/ehr/nexhealth"
	"github.com/nextvisit/scribe/sync/ehr/oauthehr"
	"github.com/nextvisit/scribe/sync/ehr/oauthflow"
	"github.com/nextvisit/scribe/sync/ehr/simplepractice"
	"github.com/nextvisit/scribe/sync/outbox"
	"github.com/nextvisit/scribe/sync/sandbox"
	sbnex "github.com/nextvisit/scribe/sync/sandbox/ehr/nexhealth"
	sboauth "github.com/nextvisit/scribe/sync/sandbox/ehr/oauthehr"
	sbsp "github.com/nextvisit/scribe/sync/sandbox/ehr/simplepractice"
)

// The chart audit's child process is this test binary run with these
// variables set: it runs TestChartAuditChild only.
const (
	auditProfileEnv = "SCRIBE_AUDIT_PROFILE" // the profile folder
	auditDrainEnv   = "SCRIBE_AUDIT_DRAIN"   // "1": exit once no job is waiting
)

// TestChartAuditChild is the child process of TestChartAudit: it resumes
// the stored session and serves the outbox (the pushes the parent queued)
// until killed, or in drain mode until no job is left to run.
func TestChartAuditChild(t *testing.T) {
	dir := os.Getenv(auditProfileEnv)
	if dir == "" {
		t.Skip("the child process of TestChartAudit; runs only under it")
	}
	ctx := t.Context()
	c := serveChild(t, dir)
	if os.Getenv(auditDrainEnv) != "1" {
		<-ctx.Done() // until killed
		return
	}
	wctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	for {
		changed := c.JobsChanged()
		counts, err := c.JobCounts(wctx)
		if err != nil {
			t.Fatal(err)
		}
		if counts[outbox.Queued] == 0 && counts[outbox.Running] == 0 {
			// Jobs that need a person are the parent's audit to report.
			return
		}
		select {
		case <-changed:
		case <-wctx.Done():
			t.Fatalf("gave up waiting for the jobs to drain: %v", counts)
		}
	}
}

func startAuditChild(t *testing.T, dir string, drain bool) *child {
	t.Helper()
	env := []string{auditProfileEnv + "=" + dir}
	if drain {
		env = append(env, auditDrainEnv+"=1")
	}
	return spawnChild(t, "TestChartAuditChild", env...)
}

// pushArrivals counts the chart writes (note and document pushes) reaching
// the sandbox EHRs and finished there, so a kill can land mid-push.
type pushArrivals struct{ arrivals }

func (a *pushArrivals) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		write := (r.Method == http.MethodPost || r.Method == http.MethodPut) &&
			(strings.Contains(r.URL.Path, "/notes") || strings.Contains(r.URL.Path, "/documents")) &&
			!strings.HasPrefix(r.URL.Path, "/api/")
		if !write {
			next.ServeHTTP(w, r)
			return
		}
		a.bump(&a.came)
		defer a.bump(&a.finished)
		next.ServeHTTP(w, r)
	})
}

// combo is one combination of push settings.
type combo struct {
	when   app.PushWhen
	what   ehr.Content
	update ehr.Update
}

func (c combo) String() string { return fmt.Sprintf("%s/%s/%s", c.when, c.what, c.update) }

func combos() []combo {
	var out []combo
	for _, w := range []app.PushWhen{app.PushOnSign, app.PushOnUnsign, app.PushOnBoth} {
		for _, what := range []ehr.Content{ehr.NoteWithCodes, ehr.NoteOnly} {
			for _, u := range []ehr.Update{ehr.Append, ehr.Replace} {
				out = append(out, combo{w, what, u})
			}
		}
	}
	return out
}

// auditVisit is one encounter of the audit and what each EHR should hold.
type auditVisit struct {
	id      string
	patient api.Patient
	date    string // the visit date, YYYY-MM-DD
	set     combo
	cycle   bool     // signed, unsigned, edited and signed again
	texts   []string // the text at each note version (index version-1)
	events  []string // "sign" / "unsign" at each version
}

// wants are the versions set pushes, in order.
func (v auditVisit) wants(set combo) []int {
	var out []int
	for i, ev := range v.events {
		if set.when == app.PushOnBoth || string(set.when) == ev {
			out = append(out, i+1)
		}
	}
	return out
}

// A practice's worth of visits (200) signed across the four connectors and
// every combination of push settings, pushed by child processes killed at
// random points mid-push while the EHRs fail on purpose (5xx, 429 bursts,
// lost replies, access tokens expiring every few seconds): every chart
// must then hold each pushed version exactly once, on the right patient,
// visit date and clinician, with the content the setting says.
func TestChartAudit(t *testing.T) {
	n, kills := 200, 6
	if testing.Short() {
		n, kills = 48, 2
	}
	ctx := t.Context()
	began := time.Now()
	srv, err := sandbox.New(ctx, sandbox.Config{Dir: t.TempDir(), ProcessingDelay: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	seen := &pushArrivals{arrivals{changed: make(chan struct{})}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: seen.wrap(srv.Handler()), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	base := "http://" + ln.Addr().String()
	url := base + "/api"

	p := newProfile(t)
	c := p.open(t, "")
	me := signIn(t, c, url)
	sctx, stopServe := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- c.Serve(sctx) }()
	var stopOnce sync.Once
	stop := func() {
		stopOnce.Do(func() {
			stopServe()
			<-served
		})
	}
	t.Cleanup(stop)

	// Connect the four, as an admin would, and confirm the suggested
	// provider mapping.
	for _, kind := range app.EHRKinds() {
		req := app.ConnectRequest{Kind: kind}
		switch kind {
		case ehr.Osmind, ehr.Kalix:
			b := &ehrtest.Browser{Email: sboauth.AdminEmail(app.EHRName(kind)), Password: sboauth.AdminPassword}
			req.OpenBrowser = b.Open(t)
		case ehr.SimplePractice:
			req.Token = sbsp.SampleToken
		case ehr.NexHealth:
			req.APIKey, req.Subdomain, req.LocationID = sbnex.SampleAPIKey, sbnex.SampleSubdomain, strconv.Itoa(sbnex.SampleLocationID)
		}
		conn, err := c.ConnectEHR(ctx, req)
		if err != nil {
			t.Fatalf("connect %s: %v (%s)", kind, err, app.Explain(err))
		}
		if conn.State != app.ConnTest {
			t.Fatalf("%s connected in state %s; want test mode", kind, conn.State)
		}
		if _, err := c.ConfirmSuggestions(ctx, kind); err != nil {
			t.Fatal(err)
		}
		pm, err := c.ProviderMap(ctx, kind)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(pm.Rows, func(r app.ProviderRow) bool { return r.Clinician.ID == me.Id })
		if i < 0 || pm.Rows[i].ProviderID == "" || !pm.Rows[i].Confirmed {
			t.Fatalf("%s: the signed-in clinician is not mapped after confirming the suggestions: %+v", kind, pm.Rows)
		}
	}

	truth := readCharts(t, base)

	// Patients every chart knows (matched by date of birth, which the
	// sample charts keep unique).
	pg, err := c.Patients(ctx, "", 1, 100)
	if err != nil {
		t.Fatal(err)
	}
	var patients []api.Patient
	for _, pt := range pg.Items {
		if pt.DateOfBirth == nil || !truth.hasDOB(dob(pt)) {
			continue
		}
		patients = append(patients, pt)
	}
	if len(patients) < 10 {
		t.Fatalf("only %d patients are in every chart", len(patients))
	}

	// Record the visits (imported, as a practice uploading a day's files
	// would) and wait for their drafts.
	wav := filepath.Join(t.TempDir(), "visit.wav")
	wavtest.Tone(t, wav, 16000, 1, 400*time.Millisecond)
	visits := make([]*auditVisit, n)
	for i := range n {
		pt := patients[i%len(patients)]
		enc, err := c.ImportRecording(ctx, wav, app.ImportOptions{PatientID: pt.Id})
		if err != nil {
			t.Fatalf("import visit %d: %v (%s)", i, err, app.Explain(err))
		}
		visits[i] = &auditVisit{id: enc.ID, patient: pt, date: enc.Created.Local().Format(time.DateOnly)}
	}
	for _, v := range visits {
		waitVisit(t, c, v.id, 3*time.Minute, "the draft", func(v app.Visit) bool { return v.State == app.StateReady })
	}
	t.Logf("%d visits drafted in %v", n, time.Since(began).Round(time.Second))

	sign := func(v *auditVisit, text string) {
		t.Helper()
		if err := c.SaveDraft(ctx, v.id, text); err != nil {
			t.Fatal(err)
		}
		if err := c.SignNote(ctx, v.id); err != nil {
			t.Fatal(err)
		}
		v.texts, v.events = append(v.texts, text), append(v.events, "sign")
	}
	unsign := func(v *auditVisit) {
		t.Helper()
		if err := c.UnsignNote(ctx, v.id); err != nil {
			t.Fatal(err)
		}
		v.texts, v.events = append(v.texts, v.texts[len(v.texts)-1]), append(v.events, "unsign")
	}

	// Test mode: the first visit, signed with the default settings, is
	// each connection's test push; the admin confirms it landed.
	first := visits[0]
	first.set = combo{app.PushOnSign, ehr.NoteWithCodes, ehr.Append}
	sign(first, auditText(0, 1))
	for _, kind := range app.EHRKinds() {
		if _, err := c.TestPush(ctx, kind, first.id); err != nil {
			t.Fatalf("test push to %s: %v (%s)", kind, err, app.Explain(err))
		}
	}
	for _, kind := range app.EHRKinds() {
		waitConn(t, c, kind, 2*time.Minute, "the test push to land", func(cn app.Connection) bool {
			return cn.Test != nil && cn.Test.Sent != nil && cn.Test.Sent.Status == ehr.Confirmed
		})
		if err := c.ConfirmTestPush(ctx, kind); err != nil {
			t.Fatalf("confirm the test push to %s: %v", kind, err)
		}
	}
	stop()

	// Sign the rest in blocks, one block per combination of settings.
	// Children push them; the parent only signs.
	cs := combos()
	rest := visits[1:]
	for b, set := range cs {
		for _, kind := range app.EHRKinds() {
			ps := app.PushSettings{When: set.when, What: set.what, Update: set.update}
			if conn, _ := c.Connection(ctx, kind); !conn.CanReplace {
				ps.Update = ehr.Append
			}
			if err := c.SetPushSettings(ctx, kind, ps); err != nil {
				t.Fatalf("settings %s for %s: %v", set, kind, err)
			}
		}
		lo, hi := b*len(rest)/len(cs), (b+1)*len(rest)/len(cs)
		for i, v := range rest[lo:hi] {
			v.set = set
			v.cycle = i%2 == 1
			sign(v, auditText(lo+i+1, 1))
			if v.cycle {
				unsign(v)
				sign(v, auditText(lo+i+1, 2))
			}
		}
	}

	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	faults := []interface {
		Seed(uint64)
		SetErrorRate(float64)
		SetLostReplyRate(float64)
		Burst429(int, time.Duration)
		Reset()
	}{srv.Osmind().Faults(), srv.Kalix().Faults(), srv.SimplePractice().Faults(), srv.NexHealth().Faults()}
	for i, f := range faults {
		f.Seed(seed + uint64(i))
		f.SetErrorRate(0.15)
		f.SetLostReplyRate(0.05)
	}
	srv.Osmind().Faults().SetAccessTokenTTL(3 * time.Second)
	srv.Kalix().Faults().SetAccessTokenTTL(3 * time.Second)
	srv.NexHealth().SetTokenTTL(3 * time.Second)

	for k := range kills {
		for _, f := range faults {
			f.Burst429(2, 500*time.Millisecond)
		}
		from, _, _ := seen.count()
		target := from + 1 + rng.IntN(40)
		afterReply := rng.IntN(2) == 1
		ch := startAuditChild(t, p.dir, false)
		deadline := time.NewTimer(2 * time.Minute)
	wait:
		for {
			came, finished, more := seen.count()
			got := came
			if afterReply {
				got = finished
			}
			if got >= target {
				break wait
			}
			select {
			case <-more:
			case err := <-ch.exited:
				t.Fatalf("child %d exited by itself: %v\n%s", k+1, err, ch.out.String())
			case <-deadline.C:
				t.Fatalf("child %d: no progress in 2 minutes (%d of %d pushes)\n%s", k+1, got, target, ch.out.String())
			}
		}
		deadline.Stop()
		if err := ch.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-ch.exited
		t.Logf("child %d killed at chart write %d (after the reply: %v)", k+1, target, afterReply)
	}
	last := startAuditChild(t, p.dir, true)
	select {
	case err := <-last.exited:
		if err != nil {
			t.Errorf("the last child: %v\n%s", err, tail(last.out.String(), 40))
		}
	case <-time.After(5 * time.Minute):
		t.Errorf("the last child did not finish in 5 minutes\n%s", tail(last.out.String(), 40))
	}
	for _, f := range faults {
		f.Reset()
	}
	came, _, _ := seen.count()
	t.Logf("pushed in %v with %d kills; %d chart writes reached the EHRs", time.Since(began).Round(time.Second), kills, came)

	audit(t, c, srv, truth, me, visits)
}

func auditText(i, rev int) string {
	return fmt.Sprintf("Audit visit %03d, revision %d.\nSubjective: sleeping better.\nPlan: continue; follow up in 4 weeks.", i, rev)
}

func dob(p api.Patient) string {
	if p.DateOfBirth == nil {
		return ""
	}
	return p.DateOfBirth.Format(time.DateOnly)
}

func waitConn(t *testing.T, c *app.Core, kind ehr.Kind, d time.Duration, what string, cond func(app.Connection) bool) app.Connection {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	for {
		changed, jobs := c.ConnectionsChanged(), c.JobsChanged()
		cn, err := c.Connection(ctx, kind)
		if err != nil {
			t.Fatal(err)
		}
		if cond(cn) {
			return cn
		}
		select {
		case <-changed:
		case <-jobs:
		case <-ctx.Done():
			t.Fatalf("%s: gave up after %v waiting for %s; state %s (%s)", kind, d, what, cn.State, cn.Reason)
		}
	}
}

// charts is what each sandbox EHR holds, read through its own API with
// credentials of the test's own: patient id → date of birth and provider
// id → name, per EHR.
type charts struct {
	patients  map[ehr.Kind]map[string]string
	providers map[ehr.Kind]map[string]string
	lastNames map[string]string // date of birth → last name as NexHealth's chart has it
	sp        *simplepractice.Connector
}

func (c *charts) hasDOB(d string) bool {
	for _, kind := range []ehr.Kind{ehr.Osmind, ehr.Kalix, ehr.NexHealth} {
		if !slices.Contains(mapValues(c.patients[kind]), d) {
			return false
		}
	}
	return true
}

func mapValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func readCharts(t *testing.T, base string) *charts {
	t.Helper()
	ctx := t.Context()
	out := &charts{patients: map[ehr.Kind]map[string]string{}, providers: map[ehr.Kind]map[string]string{}, lastNames: map[string]string{}}
	var conns []ehr.Connector
	for _, kind := range []ehr.Kind{ehr.Osmind, ehr.Kalix} {
		name := app.EHRName(kind)
		issuer := base + "/" + string(kind)
		md, err := oauthflow.Discover(ctx, http.DefaultClient, issuer)
		if err != nil {
			t.Fatal(err)
		}
		b := &ehrtest.Browser{Email: sboauth.AdminEmail(name), Password: sboauth.AdminPassword}
		tok, err := oauthflow.Authorize(ctx, oauthflow.Config{ClientID: "nextvisit-scribe", Scopes: oauthehr.Scopes, OpenBrowser: b.Open(t)}, md)
		if err != nil {
			t.Fatalf("the audit's own %s token: %v", name, err)
		}
		cn, err := oauthehr.New(oauthehr.Config{Kind: kind, Issuer: issuer, APIBase: issuer + "/api", ClientID: "nextvisit-scribe", Token: tok, TokenEndpoint: md.TokenEndpoint})
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, cn)
	}
	nx, err := nexhealth.New(nexhealth.Config{BaseURL: base + "/nexhealth", APIKey: sbnex.SampleAPIKey, Subdomain: sbnex.SampleSubdomain, LocationID: strconv.Itoa(sbnex.SampleLocationID)})
	if err != nil {
		t.Fatal(err)
	}
	conns = append(conns, nx)
	if out.sp, err = simplepractice.New(simplepractice.Config{BaseURL: base + "/simplepractice", Token: sbsp.SampleToken}); err != nil {
		t.Fatal(err)
	}
	for _, cn := range append(conns, ehr.Connector(out.sp)) {
		kind := cn.Kind()
		provs, err := cn.Providers(ctx)
		if err != nil {
			t.Fatalf("%s providers: %v", kind, err)
		}
		out.providers[kind] = map[string]string{}
		for _, pr := range provs {
			out.providers[kind][pr.ID] = pr.Name
		}
		if kind == ehr.SimplePractice {
			continue
		}
		pts, _, err := cn.Roster(ctx, time.Time{})
		if err != nil {
			t.Fatalf("%s roster: %v", kind, err)
		}
		out.patients[kind] = map[string]string{}
		for _, pt := range pts {
			out.patients[kind][pt.ID] = pt.DateOfBirth
			if kind == ehr.NexHealth {
				out.lastNames[pt.DateOfBirth] = pt.LastName
			}
		}
	}
	return out
}

// spClients are the SimplePractice clients who are pt (it has no roster
// listing to read).
func (c *charts) spClients(t *testing.T, pt api.Patient) map[string]bool {
	t.Helper()
	// Looked up by the last name as another chart spells it (Garcia, not
	// García): SimplePractice's search is by the chart's spelling.
	last := pt.LastName
	if l, ok := c.lastNames[dob(pt)]; ok {
		last = l
	}
	cls, err := c.sp.FindClients(t.Context(), last, dob(pt))
	if err != nil {
		t.Fatalf("SimplePractice clients named %s: %v", pt.LastName, err)
	}
	out := map[string]bool{}
	for _, cl := range cls {
		out[cl.ID] = true
	}
	return out
}

// landed is one note version as a chart holds it.
type landed struct {
	key               string // the push's idempotency key: encounter and version
	patient, provider string
	date              string
	content           []byte
	version           int // for replaced notes: how many pushes it took
	note              string
}

// auditRow is one line of the audit table.
type auditRow struct {
	pushes, landed, misfiled, duplicates, missing, wrongContent int
}

func audit(t *testing.T, c *app.Core, srv *sandbox.Server, truth *charts, me api.User, visits []*auditVisit) {
	t.Helper()
	ctx := t.Context()
	// The note snapshots the app queued (title, codes, signed-at), keyed as
	// the push: the content is checked against them and the test's own text.
	jobs, err := c.Jobs(ctx, app.JobFilter{})
	if err != nil {
		t.Fatal(err)
	}
	type snapshot struct {
		Title     string     `json:"title"`
		Text      string     `json:"text"`
		Codes     []ehr.Code `json:"codes"`
		VisitDate string     `json:"visit_date"`
		SignedAt  time.Time  `json:"signed_at"`
		Clinician string     `json:"clinician"`
	}
	snaps := map[string]snapshot{}
	for _, j := range jobs {
		if j.Kind != "ehr-push" {
			continue
		}
		if j.State != outbox.Done {
			t.Errorf("push job %d (%s) is %s: %s", j.ID, j.IdempotencyKey, j.State, j.LastError)
		}
		var s snapshot
		if err := json.Unmarshal(j.Payload, &s); err != nil {
			t.Fatal(err)
		}
		snaps[j.IdempotencyKey] = s
	}

	charts := map[ehr.Kind][]landed{}
	osm, err := srv.Osmind().Documents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kal, err := srv.Kalix().Documents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for kind, docs := range map[ehr.Kind][]sboauth.Document{ehr.Osmind: osm, ehr.Kalix: kal} {
		for _, d := range docs {
			charts[kind] = append(charts[kind], landed{key: d.IdempotencyKey, patient: d.PatientID, provider: d.ProviderID,
				date: d.VisitDate, content: []byte(d.Content), version: d.Version, note: d.ExternalID})
		}
	}
	spd, err := srv.SimplePractice().Documents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range spd {
		charts[ehr.SimplePractice] = append(charts[ehr.SimplePractice], landed{key: d.IdempotencyKey,
			patient: strconv.FormatInt(d.PatientID, 10), provider: strconv.FormatInt(d.ProviderID, 10),
			date: d.VisitDate, content: []byte(d.Content), version: d.Version, note: strconv.FormatInt(d.ID, 10)})
	}
	nxd, err := srv.NexHealth().Documents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range nxd {
		charts[ehr.NexHealth] = append(charts[ehr.NexHealth], landed{key: d.IdempotencyKey,
			patient: strconv.FormatInt(d.PatientID, 10), provider: strconv.FormatInt(d.ProviderID, 10),
			date: d.VisitDate, content: d.Content, version: 1, note: strconv.FormatInt(d.ID, 10)})
		if d.Status != "completed" {
			t.Errorf("NexHealth document %d is %s, not completed", d.ID, d.Status)
		}
	}

	rows := map[string]*auditRow{}
	var order []string
	row := func(kind ehr.Kind, set combo) *auditRow {
		k := fmt.Sprintf("%-14s %-30s", app.EHRName(kind), set)
		if rows[k] == nil {
			rows[k] = &auditRow{}
			order = append(order, k)
		}
		return rows[k]
	}
	shown := false
	byVisit := map[ehr.Kind]map[string][]landed{}
	for kind, ls := range charts {
		byVisit[kind] = map[string][]landed{}
		for _, l := range ls {
			enc, _, ok := parsePushKey(l.key, kind)
			if !ok {
				t.Errorf("%s holds a note pushed under key %q, not the app's", kind, l.key)
				continue
			}
			byVisit[kind][enc] = append(byVisit[kind][enc], l)
		}
	}
	for _, kind := range app.EHRKinds() {
		for _, v := range visits {
			set := v.set
			if kind == ehr.NexHealth {
				set.update = ehr.Append
			}
			r := row(kind, set) // NexHealth rows say append: that is what it was sent as
			want := v.wants(set)
			got := byVisit[kind][v.id]
			r.pushes += len(want)
			var spIDs map[string]bool
			if kind == ehr.SimplePractice {
				spIDs = truth.spClients(t, v.patient)
			}
			for _, l := range got {
				okPatient := truth.patients[kind][l.patient] == dob(v.patient)
				if kind == ehr.SimplePractice {
					okPatient = spIDs[l.patient]
				}
				if !okPatient || l.date != v.date || !strings.Contains(truth.providers[kind][l.provider], "Rivera") {
					r.misfiled++
					t.Errorf("%s: visit %s landed misfiled: patient %s, date %s (want %s), provider %q", kind, v.id, l.patient, l.date, v.date, truth.providers[kind][l.provider])
				}
			}
			versions := map[int]int{}
			for _, l := range got {
				_, ver, _ := parsePushKey(l.key, kind)
				versions[ver]++
			}
			if kind == ehr.SimplePractice && set.update == ehr.Replace && len(got) == 1 {
				// SimplePractice keeps one row per note, its key the first
				// push's, and counts the replacements: the versions it holds
				// are the first one pushed and each replacement after it.
				_, first, _ := parsePushKey(got[0].key, kind)
				if i := slices.Index(want, first); i >= 0 {
					for _, ver := range want[i+1 : min(len(want), i+got[0].version)] {
						versions[ver]++
					}
					if extra := got[0].version - (len(want) - i); extra > 0 {
						r.duplicates += extra
						t.Errorf("%s: visit %s was replaced %d times more than pushed", kind, v.id, extra)
					}
				}
			}
			for _, ver := range want {
				if versions[ver] == 0 {
					r.missing++
					t.Errorf("%s: visit %s version %d is missing", kind, v.id, ver)
				}
			}
			for ver, k := range versions {
				if !slices.Contains(want, ver) {
					r.duplicates += k
					t.Errorf("%s: visit %s version %d landed but was not to be pushed", kind, v.id, ver)
				} else if k > 1 {
					r.duplicates += k - 1
					t.Errorf("%s: visit %s version %d landed %d times", kind, v.id, ver, k)
				}
			}
			r.landed += len(versions)
			notes := map[string]bool{}
			for _, l := range got {
				notes[l.note] = true
			}
			if set.update == ehr.Replace && len(notes) > 1 {
				r.duplicates += len(notes) - 1
				t.Errorf("%s: visit %s is %d notes in the chart; replace should keep one", kind, v.id, len(notes))
			}
			for _, l := range got {
				_, ver, _ := parsePushKey(l.key, kind)
				if kind == ehr.SimplePractice && set.update == ehr.Replace && len(want) > 0 {
					ver = want[len(want)-1] // the chart shows the last replacement
				}
				if ver < 1 || ver > len(v.texts) {
					continue
				}
				s := snaps[ehrKey(kind, v.id, ver)]
				if s.Text != v.texts[ver-1] || s.VisitDate != v.date || s.Clinician != me.Name {
					r.wrongContent++
					t.Errorf("%s: visit %s version %d was queued as %+v; want text %q, date %s, clinician %s", kind, v.id, ver, s, v.texts[ver-1], v.date, me.Name)
					continue
				}
				note := ehr.Note{Title: s.Title, Text: v.texts[ver-1], Codes: s.Codes, VisitDate: v.date, Clinician: me.Name, SignedAt: s.SignedAt}
				var want []byte
				if kind == ehr.NexHealth {
					if want, err = nexhealth.RenderPDF(note, set.what); err != nil {
						t.Fatal(err)
					}
				} else {
					want = []byte(ehr.Body(note, set.what))
				}
				if !bytes.Equal(l.content, want) {
					r.wrongContent++
					t.Errorf("%s: visit %s version %d content differs from the %s rendering of the note", kind, v.id, ver, set.what)
					if kind != ehr.NexHealth && !shown {
						shown = true
						t.Logf("the chart holds:\n%s\nthe note renders as:\n%s", l.content, want)
					}
				}
			}
		}
	}
	var tbl strings.Builder
	fmt.Fprintf(&tbl, "%-14s %-30s %6s %6s %8s %10s %7s %13s\n", "EHR", "when/what/update", "pushes", "landed", "misfiled", "duplicates", "missing", "wrong content")
	total := auditRow{}
	for _, k := range order {
		r := rows[k]
		fmt.Fprintf(&tbl, "%s %6d %6d %8d %10d %7d %13d\n", k, r.pushes, r.landed, r.misfiled, r.duplicates, r.missing, r.wrongContent)
		total.pushes += r.pushes
		total.landed += r.landed
		total.misfiled += r.misfiled
		total.duplicates += r.duplicates
		total.missing += r.missing
		total.wrongContent += r.wrongContent
	}
	fmt.Fprintf(&tbl, "%-45s %6d %6d %8d %10d %7d %13d\n", "total", total.pushes, total.landed, total.misfiled, total.duplicates, total.missing, total.wrongContent)
	t.Logf("chart audit, %d visits:\n%s", len(visits), tbl.String())
}

func ehrKey(kind ehr.Kind, enc string, ver int) string {
	return fmt.Sprintf("ehr-push:%s:%s:%d", kind, enc, ver)
}

// parsePushKey reads the encounter and version from a push's key.
func parsePushKey(key string, kind ehr.Kind) (string, int, bool) {
	rest, ok := strings.CutPrefix(key, "ehr-push:"+string(kind)+":")
	if !ok {
		return "", 0, false
	}
	i := strings.LastIndexByte(rest, ':')
	if i < 0 {
		return "", 0, false
	}
	ver, err := strconv.Atoi(rest[i+1:])
	return rest[:i], ver, err == nil
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
