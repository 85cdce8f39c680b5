package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"testing"
)

func ip(v int) *int { return &v }

func TestPaginationMeta(t *testing.T) {
	for _, tc := range []struct {
		name           string
		meta           PaginationMeta
		current, pages int
		next, prev     bool
		first, last    int
		summary        string
	}{
		{"middle page", PaginationMeta{CurrentPage: ip(2), LastPage: ip(5), PerPage: ip(15), Total: ip(73)},
			2, 5, true, true, 16, 30, "Page 2 of 5 (73 notes)"},
		{"last partial page", PaginationMeta{CurrentPage: ip(5), LastPage: ip(5), PerPage: ip(15), Total: ip(73)},
			5, 5, false, true, 61, 73, "Page 5 of 5 (73 notes)"},
		{"exactly full", PaginationMeta{CurrentPage: ip(2), LastPage: ip(2), PerPage: ip(10), Total: ip(20)},
			2, 2, false, true, 11, 20, "Page 2 of 2 (20 notes)"},
		{"one item", PaginationMeta{CurrentPage: ip(1), LastPage: ip(1), PerPage: ip(15), Total: ip(1)},
			1, 1, false, false, 1, 1, "Page 1 of 1 (1 note)"},
		{"empty list (Laravel says last_page 1)", PaginationMeta{CurrentPage: ip(1), LastPage: ip(1), PerPage: ip(15), Total: ip(0)},
			1, 1, false, false, 0, 0, "No notes"},
		{"past the end", PaginationMeta{CurrentPage: ip(7), LastPage: ip(5), PerPage: ip(15), Total: ip(73)},
			7, 5, false, true, 0, 0, "Page 7 of 5 (73 notes)"},
		{"last_page derived from total", PaginationMeta{CurrentPage: ip(1), PerPage: ip(15), Total: ip(31)},
			1, 3, false, false, 1, 15, "Page 1 of 3 (31 notes)"},
		{"nothing known", PaginationMeta{},
			1, 1, false, false, 0, 0, "Page 1 of 1"},
		{"per_page zero", PaginationMeta{CurrentPage: ip(1), PerPage: ip(0), Total: ip(5)},
			1, 1, false, false, 0, 0, "Page 1 of 1 (5 notes)"},
		{"negative nonsense", PaginationMeta{CurrentPage: ip(-3), LastPage: ip(-1), PerPage: ip(-15), Total: ip(-2)},
			1, 1, false, false, 0, 0, "No notes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.meta
			if got := m.Current(); got != tc.current {
				t.Errorf("Current = %d, want %d", got, tc.current)
			}
			if got := m.Pages(); got != tc.pages {
				t.Errorf("Pages = %d, want %d", got, tc.pages)
			}
			if got := m.HasNext(); got != tc.next {
				t.Errorf("HasNext = %v, want %v", got, tc.next)
			}
			if got := m.HasPrev(); got != tc.prev {
				t.Errorf("HasPrev = %v, want %v", got, tc.prev)
			}
			if first, last := m.ItemRange(); first != tc.first || last != tc.last {
				t.Errorf("ItemRange = %d–%d, want %d–%d", first, last, tc.first, tc.last)
			}
			if got := m.Summary("note", "notes"); got != tc.summary {
				t.Errorf("Summary = %q, want %q", got, tc.summary)
			}
		})
	}
}

func TestPageHasNextFallsBackToLinks(t *testing.T) {
	next := "https://nextvisit.app/api/v1/patients?page=2"
	empty := ""
	for _, tc := range []struct {
		name string
		p    Page[Patient]
		want bool
	}{
		{"meta says more", Page[Patient]{Meta: PaginationMeta{CurrentPage: ip(1), LastPage: ip(2)}, Links: PaginationLinks{}}, true},
		{"meta wins over a stray link", Page[Patient]{Meta: PaginationMeta{CurrentPage: ip(2), LastPage: ip(2)}, Links: PaginationLinks{Next: &next}}, false},
		{"no meta, next link", Page[Patient]{Links: PaginationLinks{Next: &next}}, true},
		{"no meta, null next", Page[Patient]{}, false},
		{"no meta, empty next", Page[Patient]{Links: PaginationLinks{Next: &empty}}, false},
	} {
		if got := tc.p.HasNext(); got != tc.want {
			t.Errorf("%s: HasNext = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// listServer serves total patients, per per page, in the API's {data, links, meta} shape. fault
// changes what a page says: "ignore-page" always serves page 1 (without current_page), "repeat-meta"
// serves page 1 but labels it with the page asked for.
func listServer(t *testing.T, total, per int, fault string) *server {
	return newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		asked := page
		if fault != "" {
			page = 1
		}
		last := max((total+per-1)/per, 1)
		var data []any
		for id := (page-1)*per + 1; id <= min(page*per, total); id++ {
			data = append(data, map[string]any{"id": id, "first_name": "P", "last_name": strconv.Itoa(id)})
		}
		if data == nil {
			data = []any{}
		}
		meta := map[string]any{"current_page": page, "last_page": last, "per_page": per, "total": total}
		links := map[string]any{"next": nil}
		switch fault {
		case "ignore-page":
			meta = map[string]any{"per_page": per, "total": total}
			links["next"] = "http://elsewhere.example/api/v1/patients?page=2"
		case "repeat-meta":
			meta["current_page"] = asked
			meta["last_page"] = last + 5
		}
		if page < last {
			links["next"] = fmt.Sprintf("http://%s/api/v1/patients?page=%d", r.Host, page+1)
		}
		writeJSON(w, http.StatusOK, map[string]any{"data": data, "links": links, "meta": meta})
	})
}

func TestPatientsIteratorWalksAllPages(t *testing.T) {
	s := listServer(t, 5, 2, "")
	c, _ := newTestClient(t, s.base(), Options{})
	var ids []int64
	for p, err := range c.Patients(t.Context(), PatientQuery{PerPage: 2}) {
		if err != nil {
			t.Fatalf("Patients: %v", err)
		}
		ids = append(ids, p.Id)
	}
	if fmt.Sprint(ids) != "[1 2 3 4 5]" {
		t.Errorf("ids = %v, want [1 2 3 4 5]", ids)
	}
	if got := s.hits.Load(); got != 3 {
		t.Errorf("requests = %d, want 3 pages", got)
	}
}

func TestPatientsIteratorStopsWhenTheConsumerBreaks(t *testing.T) {
	s := listServer(t, 5, 2, "")
	c, _ := newTestClient(t, s.base(), Options{})
	var ids []int64
	for p, err := range c.Patients(t.Context(), PatientQuery{PerPage: 2}) {
		if err != nil {
			t.Fatalf("Patients: %v", err)
		}
		ids = append(ids, p.Id)
		if len(ids) == 3 {
			break
		}
	}
	if fmt.Sprint(ids) != "[1 2 3]" {
		t.Errorf("ids = %v", ids)
	}
	if got := s.hits.Load(); got != 2 {
		t.Errorf("requests = %d, want 2 (no page fetched after the break)", got)
	}
}

func TestIteratorEmptyList(t *testing.T) {
	s := listServer(t, 0, 15, "")
	c, _ := newTestClient(t, s.base(), Options{})
	for p, err := range c.Patients(t.Context(), PatientQuery{}) {
		t.Errorf("yielded %+v, %v from an empty list", p, err)
	}
	if got := s.hits.Load(); got != 1 {
		t.Errorf("requests = %d, want 1", got)
	}
}

func TestIteratorGuardsAgainstRepeatedPages(t *testing.T) {
	for _, fault := range []string{"ignore-page", "repeat-meta"} {
		t.Run(fault, func(t *testing.T) {
			s := listServer(t, 5, 2, fault)
			c, _ := newTestClient(t, s.base(), Options{})
			var ids []int64
			var last error
			for p, err := range c.Patients(t.Context(), PatientQuery{PerPage: 2}) {
				if err != nil {
					last = err
					continue // the iterator must end by itself after an error
				}
				ids = append(ids, p.Id)
			}
			if !errors.Is(last, ErrBadResponse) {
				t.Errorf("err = %v, want ErrBadResponse", last)
			}
			if fmt.Sprint(ids) != "[1 2]" {
				t.Errorf("ids = %v, want page 1 once", ids)
			}
			if got := s.hits.Load(); got != 2 {
				t.Errorf("requests = %d, want 2", got)
			}
		})
	}
}

func TestNotesIteratorPassesErrorsOn(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			writeJSON(w, http.StatusOK, map[string]any{"data": []any{sampleNote(1)}, "links": map[string]any{},
				"meta": map[string]any{"current_page": 1, "last_page": 2, "per_page": 1, "total": 2}})
			return
		}
		writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "Unauthenticated."})
	})
	c, _ := newTestClient(t, s.base(), Options{})
	var got []string
	for n, err := range c.Notes(t.Context(), NoteQuery{PerPage: 1}) {
		if err != nil {
			if !errors.Is(err, ErrUnauthorized) {
				t.Errorf("err = %v, want ErrUnauthorized", err)
			}
			got = append(got, "error")
			continue
		}
		got = append(got, strconv.FormatInt(n.Id, 10))
	}
	if fmt.Sprint(got) != "[1 error]" {
		t.Errorf("yielded %v, want [1 error]", got)
	}
}
