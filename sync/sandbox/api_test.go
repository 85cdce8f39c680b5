package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/nextvisit/scribe/sync/sandbox/internal/sqlitedb"
)

func TestLoginLogoutRevoke(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})

	t.Run("wrong password", func(t *testing.T) {
		for _, c := range []struct{ email, password string }{{SampleEmail, "wrong"}, {"nobody@sandbox.local", SamplePassword}} {
			r := e.doAs("", "POST", "/v1/tokens", map[string]string{"email": c.email, "password": c.password, "device_name": "x"}, nil)
			var m apiMessage
			r.decode(t, &m)
			if r.status != http.StatusUnauthorized || m.Message == "" {
				t.Errorf("login %s: status %d message %q, want 401 with a message", c.email, r.status, m.Message)
			}
		}
	})
	t.Run("missing fields", func(t *testing.T) {
		r := e.doAs("", "POST", "/v1/tokens", map[string]string{"email": SampleEmail}, nil)
		var v apiValidation
		r.decode(t, &v)
		if r.status != http.StatusUnprocessableEntity {
			t.Fatalf("status %d, want 422", r.status)
		}
		for _, f := range []string{"password", "device_name"} {
			if len(v.Errors[f]) == 0 {
				t.Errorf("no error for %s in %s", f, r.body)
			}
		}
		if _, ok := v.Errors["email"]; ok {
			t.Errorf("error for the email that was given: %s", r.body)
		}
		if v.Message != "The password field is required. (and 1 more error)" {
			t.Errorf("message %q", v.Message)
		}
	})
	t.Run("wrong type", func(t *testing.T) {
		r := e.doAs("", "POST", "/v1/tokens", map[string]any{"email": 5, "password": "x", "device_name": "d"}, nil)
		if r.status != http.StatusUnprocessableEntity || !strings.Contains(string(r.body), "must be a string") {
			t.Errorf("status %d body %s", r.status, r.body)
		}
	})

	// A second device signs in; the first lists both and revokes the second.
	var me apiUser
	e.must("GET", "/v1/user", nil, http.StatusOK, &me)
	if me.Email != SampleEmail || me.TeamID == 0 {
		t.Fatalf("user %+v", me)
	}
	other := e.login(strings.ToUpper(SampleEmail), SamplePassword, "phone") // emails match case-insensitively
	var list struct {
		Data []struct {
			ID         int64   `json:"id"`
			Name       string  `json:"name"`
			Current    bool    `json:"current"`
			LastUsedAt *string `json:"last_used_at"`
			ExpiresAt  string  `json:"expires_at"`
		} `json:"data"`
	}
	e.must("GET", "/v1/tokens", nil, http.StatusOK, &list)
	if len(list.Data) != 2 {
		t.Fatalf("tokens: %+v", list.Data)
	}
	var phoneID int64
	for _, tk := range list.Data {
		switch tk.Name {
		case "test":
			if !tk.Current || tk.LastUsedAt == nil {
				t.Errorf("current token %+v: want current and last_used_at", tk)
			}
		case "phone":
			phoneID = tk.ID
			if tk.Current {
				t.Errorf("phone token marked current")
			}
		}
		exp, err := time.Parse(time.RFC3339, tk.ExpiresAt)
		if err != nil || exp.Sub(e.clock.Now()) < 29*24*time.Hour {
			t.Errorf("token expires_at %q: want about 30 days ahead (%v)", tk.ExpiresAt, err)
		}
	}
	if r := e.doAs(other, "GET", "/v1/user", nil, nil); r.status != http.StatusOK {
		t.Fatalf("phone token before revoke: %d", r.status)
	}
	e.must("DELETE", fmt.Sprintf("/v1/tokens/%d", phoneID), nil, http.StatusOK, nil)
	if r := e.doAs(other, "GET", "/v1/user", nil, nil); r.status != http.StatusUnauthorized {
		t.Errorf("revoked token still works: %d", r.status)
	}
	e.must("DELETE", fmt.Sprintf("/v1/tokens/%d", phoneID), nil, http.StatusNotFound, nil)
	e.must("DELETE", "/v1/tokens/abc", nil, http.StatusNotFound, nil)

	// Another user's token cannot be revoked by id.
	maya := e.login("maya.okafor@sandbox.local", SamplePassword, "maya")
	var mayaTokens struct {
		Data []struct {
			ID int64 `json:"id"`
		} `json:"data"`
	}
	r := e.doAs(maya, "GET", "/v1/tokens", nil, nil)
	r.decode(t, &mayaTokens)
	e.must("DELETE", fmt.Sprintf("/v1/tokens/%d", mayaTokens.Data[0].ID), nil, http.StatusNotFound, nil)

	// Logout revokes the token used.
	e.must("DELETE", "/v1/tokens/current", nil, http.StatusOK, nil)
	var m apiMessage
	r = e.do("GET", "/v1/user", nil)
	r.decode(t, &m)
	if r.status != http.StatusUnauthorized || m.Message != "Unauthenticated." {
		t.Errorf("after logout: %d %s", r.status, r.body)
	}
}

// Every route but sign-in and the signed audio link answers 401 without a valid token.
func TestEveryRouteNeedsToken(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	routes := []string{
		"GET /v1/tokens", "DELETE /v1/tokens/current", "DELETE /v1/tokens/1",
		"GET /v1/user", "PUT /v1/user", "GET /v1/team/users",
		"GET /v1/patients", "POST /v1/patients", "GET /v1/patients/1", "PUT /v1/patients/1", "DELETE /v1/patients/1",
		"GET /v1/templates",
		"GET /v1/progress-notes", "POST /v1/progress-notes", "GET /v1/progress-notes/1", "PUT /v1/progress-notes/1",
		"DELETE /v1/progress-notes/1", "PUT /v1/progress-notes/1/sign", "PUT /v1/progress-notes/1/unsign",
		"GET /v1/progress-notes/1/audio-url",
		"POST /v1/transcriptions", "POST /v1/transcription/token",
		"GET /v1/billing/plan", "GET /v1/billing/usage", "GET /v1/billing/estimate",
	}
	for _, rt := range routes {
		method, path, _ := strings.Cut(rt, " ")
		for _, tok := range []string{"", "nvsb_not-a-real-token"} {
			r := e.doAs(tok, method, path, nil, nil)
			var m apiMessage
			r.decode(t, &m)
			if r.status != http.StatusUnauthorized || m.Message != "Unauthenticated." {
				t.Errorf("%s with token %q: %d %s", rt, tok, r.status, r.body)
			}
		}
	}
	// The same routes do work with the token (the note and patient exist in the seed); deleting the
	// current token is left out so the loop can go on.
	for _, rt := range []string{"GET /v1/tokens", "GET /v1/user", "GET /v1/team/users", "GET /v1/patients", "GET /v1/patients/1", "GET /v1/templates",
		"GET /v1/progress-notes", "GET /v1/progress-notes/1", "GET /v1/billing/plan", "GET /v1/billing/usage", "GET /v1/billing/estimate"} {
		method, path, _ := strings.Cut(rt, " ")
		if r := e.do(method, path, nil); r.status != http.StatusOK {
			t.Errorf("%s with token: %d %s", rt, r.status, r.body)
		}
	}
}

func TestUser(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	var u apiUser
	e.must("PUT", "/v1/user", map[string]string{"name": "Dr. Sam Rivera-Lee"}, http.StatusOK, &u)
	if u.Name != "Dr. Sam Rivera-Lee" || u.Email != SampleEmail {
		t.Errorf("after rename: %+v", u)
	}
	for _, c := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"email": "not an email"}, "email"},
		{map[string]any{"email": "maya.okafor@sandbox.local"}, "email"},
		{map[string]any{"name": ""}, "name"},
		{map[string]any{"name": strings.Repeat("x", 256)}, "name"},
		{map[string]any{"name": 7}, "name"},
	} {
		r := e.do("PUT", "/v1/user", c.body)
		var v apiValidation
		r.decode(t, &v)
		if r.status != http.StatusUnprocessableEntity || len(v.Errors[c.field]) == 0 {
			t.Errorf("PUT %v: %d %s", c.body, r.status, r.body)
		}
	}
	e.must("PUT", "/v1/user", map[string]string{"email": "sam@sandbox.local"}, http.StatusOK, &u)
	if u.Email != "sam@sandbox.local" {
		t.Errorf("email not changed: %+v", u)
	}
	e.login("sam@sandbox.local", SamplePassword, "after-change")
}

// The team's users are the seed's three clinicians, and only they: another team's user is not listed,
// and that user sees their own team.
func TestTeamUsers(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	ctx := t.Context()
	now := sqlitedb.FormatTime(e.clock.Now())
	hash, err := bcrypt.GenerateFromPassword([]byte("other-password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.db.ExecContext(ctx, `INSERT INTO teams (id, name, created_at) VALUES (2, 'Other', ?)`, now); err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.db.ExecContext(ctx, `INSERT INTO users (id, team_id, name, email, password_hash, created_at, updated_at)
		VALUES (10, 2, 'Dr. Other', 'other@sandbox.local', ?, ?, ?)`, string(hash), now, now); err != nil {
		t.Fatal(err)
	}

	var list struct{ Data []apiUser }
	e.must("GET", "/v1/team/users", nil, http.StatusOK, &list)
	if len(list.Data) != len(sampleUsers) {
		t.Fatalf("team users = %+v, want the %d sample clinicians", list.Data, len(sampleUsers))
	}
	var me apiUser
	e.must("GET", "/v1/user", nil, http.StatusOK, &me)
	for i, u := range list.Data {
		want := sampleUsers[i]
		if u.ID == 0 || u.Name != want.name || u.Email != want.email || u.TeamID != me.TeamID || u.CreatedAt == "" {
			t.Errorf("team user %d = %+v, want %s <%s> in team %d", i, u, want.name, want.email, me.TeamID)
		}
	}
	if list.Data[0] != me {
		t.Errorf("the signed-in user %+v is not the first team user %+v", me, list.Data[0])
	}

	other := e.login("other@sandbox.local", "other-password", "other team")
	var theirs struct{ Data []apiUser }
	r := e.doAs(other, "GET", "/v1/team/users", nil, nil)
	r.decode(t, &theirs)
	if r.status != http.StatusOK || len(theirs.Data) != 1 || theirs.Data[0].ID != 10 || theirs.Data[0].TeamID != 2 {
		t.Errorf("the other team's users: %d %s", r.status, r.body)
	}
}

func TestPatientsListAndSearch(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	var page apiPage[apiPatient]
	e.must("GET", "/v1/patients", nil, http.StatusOK, &page)
	if page.Meta.Total != len(samplePatients) || page.Meta.PerPage != 15 || len(page.Data) != 15 || page.Meta.LastPage != 2 {
		t.Fatalf("default page: meta %+v, %d items", page.Meta, len(page.Data))
	}
	names := func(p apiPage[apiPatient]) []string {
		var out []string
		for _, x := range p.Data {
			out = append(out, x.FirstName+" "+x.LastName)
		}
		return out
	}
	for _, c := range []struct {
		search string
		want   []string
	}{
		{"doe", []string{"Jane Doe"}},
		{"JANE DOE", []string{"Jane Doe"}},
		{"doe, jane", []string{"Jane Doe"}},
		{"marie", []string{"Jane Doe"}}, // middle name
		{"TOMÁS", []string{"Tomás Herrera"}},
		{"zoë müller", []string{"Zoë Müller"}},
		{"kowalsk", []string{"Ewa Kowalska"}},
		{"nobody-by-this-name", nil},
	} {
		var p apiPage[apiPatient]
		e.must("GET", "/v1/patients?search="+url.QueryEscape(c.search), nil, http.StatusOK, &p)
		if got := names(p); !slices.Equal(got, c.want) || p.Meta.Total != len(c.want) {
			t.Errorf("search %q: %v (total %d), want %v", c.search, got, p.Meta.Total, c.want)
		}
	}
	jane := page.Data[slices.IndexFunc(page.Data, func(p apiPatient) bool { return p.LastName == "Doe" })]
	if jane.User == nil || len(jane.LatestMedications) != 1 || jane.Meta["notes_count"] == nil || jane.UUID == "" {
		t.Errorf("Jane Doe lacks user, medications, meta or uuid: %+v", jane)
	}
	if len(jane.Encounters) == 0 || len(jane.Timeline) < 2 {
		t.Errorf("Jane Doe has notes in the seed, want encounters and a timeline: %+v", jane)
	}
	for _, q := range []string{"per_page=0", "per_page=101", "per_page=abc", "page=0", "page=x"} {
		r := e.do("GET", "/v1/patients?"+q, nil)
		var v apiValidation
		r.decode(t, &v)
		if r.status != http.StatusUnprocessableEntity || len(v.Errors) != 1 {
			t.Errorf("?%s: %d %s", q, r.status, r.body)
		}
	}
}

func TestPatientCRUD(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	var p apiPatient
	e.must("POST", "/v1/patients", map[string]any{"first_name": " Ada ", "last_name": "Lovelace", "gender": "female",
		"date_of_birth": "1990-12-10", "notes": "Test patient"}, http.StatusCreated, &p)
	if p.ID == 0 || p.FirstName != "Ada" || p.DateOfBirth == nil || *p.DateOfBirth != "1990-12-10" || p.MiddleName != nil || p.User == nil {
		t.Fatalf("created %+v", p)
	}
	var got apiPatient
	e.must("GET", fmt.Sprintf("/v1/patients/%d", p.ID), nil, http.StatusOK, &got)
	if got.UUID != p.UUID || got.LastName != "Lovelace" {
		t.Errorf("get %+v", got)
	}
	// A partial update changes what is sent; null clears an optional field.
	e.must("PUT", fmt.Sprintf("/v1/patients/%d", p.ID), map[string]any{"middle_name": "King", "notes": nil}, http.StatusOK, &got)
	if got.MiddleName == nil || *got.MiddleName != "King" || got.Notes != nil || got.FirstName != "Ada" || *got.Gender != "female" {
		t.Errorf("after update %+v", got)
	}
	var found apiPage[apiPatient]
	e.must("GET", "/v1/patients?search=ada+king", nil, http.StatusOK, &found)
	if found.Meta.Total != 1 {
		t.Errorf("search by new middle name: %+v", found.Meta)
	}
	future := e.clock.Now().AddDate(0, 0, 3).Format(time.DateOnly)
	for _, c := range []struct {
		method, path string
		body         map[string]any
		fields       []string
	}{
		{"POST", "/v1/patients", map[string]any{}, []string{"first_name", "last_name"}},
		{"POST", "/v1/patients", map[string]any{"first_name": "  ", "last_name": "X"}, []string{"first_name"}},
		{"POST", "/v1/patients", map[string]any{"first_name": strings.Repeat("a", 256), "last_name": "X"}, []string{"first_name"}},
		{"POST", "/v1/patients", map[string]any{"first_name": "A", "last_name": "X", "date_of_birth": "12/10/1990"}, []string{"date_of_birth"}},
		{"POST", "/v1/patients", map[string]any{"first_name": "A", "last_name": "X", "date_of_birth": future}, []string{"date_of_birth"}},
		{"POST", "/v1/patients", map[string]any{"first_name": "A", "last_name": 3}, []string{"last_name"}},
		{"PUT", fmt.Sprintf("/v1/patients/%d", p.ID), map[string]any{"first_name": ""}, []string{"first_name"}},
		{"PUT", fmt.Sprintf("/v1/patients/%d", p.ID), map[string]any{"last_name": nil}, []string{"last_name"}},
	} {
		r := e.do(c.method, c.path, c.body)
		var v apiValidation
		r.decode(t, &v)
		var fields []string
		for f := range v.Errors {
			fields = append(fields, f)
		}
		slices.Sort(fields)
		if r.status != http.StatusUnprocessableEntity || !slices.Equal(fields, c.fields) || v.Message == "" {
			t.Errorf("%s %v: %d %s, want 422 on %v", c.method, c.body, r.status, r.body, c.fields)
		}
	}
	e.must("DELETE", fmt.Sprintf("/v1/patients/%d", p.ID), nil, http.StatusOK, nil)
	for _, m := range []string{"GET", "PUT", "DELETE"} {
		var body any
		if m == "PUT" {
			body = map[string]string{"first_name": "B"}
		}
		e.must(m, fmt.Sprintf("/v1/patients/%d", p.ID), body, http.StatusNotFound, nil)
		e.must(m, "/v1/patients/99999", body, http.StatusNotFound, nil)
		e.must(m, "/v1/patients/x", body, http.StatusNotFound, nil)
	}
}

// A patient of another team is invisible: 404, never 403, so ids leak nothing.
func TestPatientOfOtherTeam(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	ctx := t.Context()
	now := sqlitedb.FormatTime(e.clock.Now())
	if _, err := e.srv.db.ExecContext(ctx, `INSERT INTO teams (id, name, created_at) VALUES (2, 'Other', ?)`, now); err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.db.ExecContext(ctx, `INSERT INTO users (id, team_id, name, email, password_hash, created_at, updated_at)
		VALUES (10, 2, 'Other', 'other@x', 'x', ?, ?)`, now, now); err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.db.ExecContext(ctx, `INSERT INTO patients (id, uuid, team_id, user_id, first_name, last_name, search_name, created_at, updated_at)
		VALUES (500, 'u', 2, 10, 'Hidden', 'Person', 'hidden person', ?, ?)`, now, now); err != nil {
		t.Fatal(err)
	}
	e.must("GET", "/v1/patients/500", nil, http.StatusNotFound, nil)
	e.must("PUT", "/v1/patients/500", map[string]string{"first_name": "X"}, http.StatusNotFound, nil)
	e.must("DELETE", "/v1/patients/500", nil, http.StatusNotFound, nil)
	var p apiPage[apiPatient]
	e.must("GET", "/v1/patients?search=hidden", nil, http.StatusOK, &p)
	if p.Meta.Total != 0 {
		t.Errorf("another team's patient is listed: %+v", p.Data)
	}
	r := e.postForm("/v1/progress-notes", []field{{"name", "x"}, {"note", "text"}, {"patient_id", "500"}}, nil, nil)
	var v apiValidation
	r.decode(t, &v)
	if r.status != http.StatusUnprocessableEntity || len(v.Errors["patient_id"]) == 0 {
		t.Errorf("note for another team's patient: %d %s", r.status, r.body)
	}
}

func TestTemplates(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	var list struct {
		Data []apiTemplate `json:"data"`
	}
	e.must("GET", "/v1/templates", nil, http.StatusOK, &list)
	var got []string
	for _, tp := range list.Data {
		got = append(got, tp.Name)
		if len(tp.Sections) < 3 || tp.Description == "" {
			t.Errorf("template %+v lacks sections or description", tp)
		}
	}
	if !slices.Equal(got, []string{"SOAP", "DAP", "BIRP", "Intake"}) || list.Data[0].ID != 1 {
		t.Errorf("templates %v", got)
	}
	if !slices.Equal(list.Data[0].Sections, []string{"Subjective", "Objective", "Assessment", "Plan"}) {
		t.Errorf("SOAP sections %v", list.Data[0].Sections)
	}
}

func TestPaginationMath(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest("GET", "http://sb.test/api/v1/patients?search=a&per_page=5&page=2", nil)
	for _, c := range []struct {
		total, perPage, page int
		last                 int
		prev, next           bool
	}{
		{0, 15, 1, 1, false, false},
		{1, 15, 1, 1, false, false},
		{15, 15, 1, 1, false, false},
		{30, 15, 1, 2, false, true},
		{30, 15, 2, 2, true, false},
		{31, 15, 2, 3, true, true},
		{31, 15, 3, 3, true, false},
		{31, 15, 9, 3, true, false}, // beyond the end: empty page, prev still leads back
		{100, 100, 1, 1, false, false},
		{101, 100, 1, 2, false, true},
	} {
		b := paginate(r, pageRequest{page: c.page, perPage: c.perPage}, c.total, []int{})
		if b.Meta.LastPage != c.last || (b.Links.Prev != nil) != c.prev || (b.Links.Next != nil) != c.next ||
			b.Meta.Total != c.total || b.Meta.CurrentPage != c.page || b.Meta.PerPage != c.perPage {
			t.Errorf("total %d per %d page %d: meta %+v prev %v next %v", c.total, c.perPage, c.page, b.Meta, b.Links.Prev != nil, b.Links.Next != nil)
		}
		if *b.Links.First != "http://sb.test/api/v1/patients?page=1&per_page=5&search=a" {
			t.Errorf("first link %s", *b.Links.First)
		}
		if want := fmt.Sprintf("http://sb.test/api/v1/patients?page=%d&per_page=5&search=a", c.last); *b.Links.Last != want {
			t.Errorf("last link %s, want %s", *b.Links.Last, want)
		}
		if b.Data == nil {
			t.Error("data is null, want []")
		}
	}
}

// Pagination through the API: links are absolute, keep the filters, and walking next visits every
// item once.
func TestPaginationLinks(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	for _, c := range []struct {
		query       string
		total, last int
	}{
		{"search=nobody-here", 0, 1},
		{"search=doe", 1, 1},
		{"per_page=13", len(samplePatients), 2},  // 26: an exact multiple
		{"per_page=5", len(samplePatients), 6},   // 26: a remainder of one
		{"per_page=100", len(samplePatients), 1}, // all at once
	} {
		var p apiPage[apiPatient]
		e.must("GET", "/v1/patients?"+c.query, nil, http.StatusOK, &p)
		if p.Meta.Total != c.total || p.Meta.LastPage != c.last || p.Links.Prev != nil {
			t.Errorf("%s: meta %+v prev %v", c.query, p.Meta, p.Links.Prev)
		}
		seen := map[int64]bool{}
		for page := 1; ; page++ {
			for _, x := range p.Data {
				if seen[x.ID] {
					t.Errorf("%s: patient %d twice", c.query, x.ID)
				}
				seen[x.ID] = true
			}
			if p.Links.Next == nil {
				if page != c.last {
					t.Errorf("%s: next ended at page %d of %d", c.query, page, c.last)
				}
				break
			}
			q := queryOf(t, p.Links.Next)
			for k, v := range queryValues(c.query) {
				if q.Get(k) != v[0] {
					t.Errorf("%s: next link %s lost %s", c.query, *p.Links.Next, k)
				}
			}
			r := e.do("GET", *p.Links.Next, nil)
			if r.status != http.StatusOK {
				t.Fatalf("following %s: %d", *p.Links.Next, r.status)
			}
			p = apiPage[apiPatient]{}
			r.decode(t, &p)
			if p.Links.Prev == nil || queryOf(t, p.Links.Prev).Get("page") != fmt.Sprint(page) {
				t.Errorf("%s page %d: prev %v", c.query, page+1, p.Links.Prev)
			}
		}
		if len(seen) != c.total {
			t.Errorf("%s: walked %d items, want %d", c.query, len(seen), c.total)
		}
	}
}

func queryValues(q string) map[string][]string {
	out := map[string][]string{}
	for kv := range strings.SplitSeq(q, "&") {
		k, v, _ := strings.Cut(kv, "=")
		out[k] = []string{v}
	}
	return out
}

func TestUnknownRoutesAndBadBodies(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	for _, c := range []struct {
		method, path string
		body         string
		want         int
	}{
		{"GET", "/v1/nothing-here", "", http.StatusNotFound},
		{"GET", e.base[:len(e.base)-len("/api")] + "/elsewhere", "", http.StatusNotFound},
		{"PATCH", "/v1/patients", "", http.StatusMethodNotAllowed},
		{"POST", "/v1/patients", "{not json", http.StatusBadRequest},
		{"POST", "/v1/patients", `["an array"]`, http.StatusBadRequest},
		{"POST", "/v1/patients", `{"first_name":"A","last_name":"B"} {"again":1}`, http.StatusBadRequest},
		{"POST", "/v1/patients", `{"first_name":"A", "notes":"` + strings.Repeat("x", maxJSONBody) + `"}`, http.StatusRequestEntityTooLarge},
		{"POST", "/v1/tokens", `{"email":`, http.StatusBadRequest},
	} {
		r := e.send(e.token, c.method, c.path, strings.NewReader(c.body), "application/json", nil)
		var m apiMessage
		r.decode(t, &m)
		if r.status != c.want || m.Message == "" || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
			t.Errorf("%s %s: %d %q (%s), want %d with a JSON message", c.method, c.path, r.status, m.Message, r.header.Get("Content-Type"), c.want)
		}
		if c.want == http.StatusMethodNotAllowed && !strings.Contains(r.header.Get("Allow"), "GET") {
			t.Errorf("405 without Allow: %v", r.header)
		}
	}
}

// Handler serves the same API on any listener, e.g. an httptest server.
func TestHandlerOnOwnListener(t *testing.T) {
	t.Parallel()
	s, err := New(t.Context(), Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	body := bytes.NewBufferString(`{"email":"` + SampleEmail + `","password":"` + SamplePassword + `","device_name":"x"}`)
	res, err := http.Post(ts.URL+"/api/v1/tokens", "application/json", body)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Errorf("login through Handler: %d", res.StatusCode)
	}
}

func TestStartAndClose(t *testing.T) {
	t.Parallel()
	s, err := New(t.Context(), Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	base, err := s.Start(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(base, "http://127.0.0.1:") || !strings.HasSuffix(base, "/api") {
		t.Errorf("base URL %q", base)
	}
	if _, err := s.Start(t.Context(), "127.0.0.1:0"); err == nil {
		t.Error("second Start succeeded")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/v1/templates", nil)
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
		t.Errorf("server still answers after Close: %d", res.StatusCode)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "Dir"},
		{Config{Dir: t.TempDir(), Recognizer: "whisper"}, "unknown recognizer"},
		{Config{Dir: t.TempDir(), Recognizer: "openai"}, "OpenAIURL"},
		{Config{Dir: t.TempDir(), ProcessingDelay: -time.Second}, "ProcessingDelay"},
	} {
		s, err := New(t.Context(), c.cfg)
		if err == nil {
			s.Close()
			t.Errorf("New(%+v) succeeded", c.cfg)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v): %v, want it to name %s", c.cfg, err, c.want)
		}
	}
}

func TestBilling(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOptions{})
	var plan struct {
		Name            string `json:"name"`
		Interval        string `json:"interval"`
		PriceCents      int64  `json:"price_cents"`
		Currency        string `json:"currency"`
		IncludedMinutes int64  `json:"included_minutes"`
	}
	e.must("GET", "/v1/billing/plan", nil, http.StatusOK, &plan)
	if plan.Name == "" || plan.Interval != "month" || plan.PriceCents <= 0 || plan.IncludedMinutes <= 0 {
		t.Errorf("plan %+v", plan)
	}
	type usage struct {
		PeriodStart  string  `json:"period_start"`
		PeriodEnd    string  `json:"period_end"`
		NotesCreated int     `json:"notes_created"`
		AudioMinutes float64 `json:"audio_minutes"`
	}
	var before, after usage
	e.must("GET", "/v1/billing/usage", nil, http.StatusOK, &before)
	n := e.postForm("/v1/progress-notes", []field{{"name", "Billing check"}}, speechWAV(), nil)
	if n.status != http.StatusCreated {
		t.Fatalf("create audio note: %d %s", n.status, n.body)
	}
	var note apiNote
	n.decode(t, &note)
	e.waitNote(note.ID, "processing", processed)
	e.must("GET", "/v1/billing/usage", nil, http.StatusOK, &after)
	if after.NotesCreated != before.NotesCreated+1 {
		t.Errorf("notes_created %d → %d, want +1", before.NotesCreated, after.NotesCreated)
	}
	if after.AudioMinutes <= before.AudioMinutes {
		t.Errorf("audio_minutes %v → %v, want it to grow by the 4 s recording", before.AudioMinutes, after.AudioMinutes)
	}
	start, err1 := time.Parse(time.DateOnly, after.PeriodStart)
	end, err2 := time.Parse(time.DateOnly, after.PeriodEnd)
	if err1 != nil || err2 != nil || start.Day() != 1 || !end.After(start) {
		t.Errorf("period %s – %s", after.PeriodStart, after.PeriodEnd)
	}
	var est struct {
		PeriodEnd   string `json:"period_end"`
		AmountCents int64  `json:"amount_cents"`
		Currency    string `json:"currency"`
	}
	e.must("GET", "/v1/billing/estimate", nil, http.StatusOK, &est)
	if est.AmountCents != plan.PriceCents || est.PeriodEnd != after.PeriodEnd || est.Currency != plan.Currency {
		t.Errorf("estimate %+v for a month within the plan's minutes, plan %+v", est, plan)
	}
}
