package ui

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/nextvisit/scribe/app"
	"github.com/nextvisit/scribe/sync/ehr"
	"github.com/nextvisit/scribe/sync/ehr/mapping"
	"github.com/nextvisit/scribe/sync/sandbox/ehr/simplepractice"
)

// connectedSimplePractice opens the panel with SimplePractice connected
// through its card.
func connectedSimplePractice(h *ehrHarness) *externalApps {
	h.t.Helper()
	a := h.openApps()
	h.connectWithToken(a, simplepractice.SampleToken)
	h.waitFor("the connection", func() bool { return a.connect == nil })
	h.waitConn(a, ehr.SimplePractice, "test mode", func(c app.Connection) bool { return c.State == app.ConnTest })
	return a
}

// openMap opens kind's provider mapping from its card and waits for it.
func openMap(h *ehrHarness, a *externalApps, kind ehr.Kind) *providerMapView {
	h.t.Helper()
	test.Tap(a.cards[kind].providers)
	v := a.mapView
	if v == nil || a.box.Objects[0] != v.box {
		h.t.Fatal("Providers did not open the mapping")
	}
	h.waitFor("the provider mapping", func() bool { return v.loaded && !v.loading.Visible() })
	return v
}

func (h *ehrHarness) providerMap(kind ehr.Kind) app.ProviderMap {
	h.t.Helper()
	pm, err := h.core.ProviderMap(h.ctx(), kind)
	if err != nil {
		h.t.Fatal(err)
	}
	return pm
}

func TestProviderMappingConfirmAndCSV(t *testing.T) {
	h := newEHRHarness(t)
	a := connectedSimplePractice(h)
	v := openMap(h, a, ehr.SimplePractice)

	pm := h.providerMap(ehr.SimplePractice)
	if len(pm.Rows) == 0 || len(pm.Providers) == 0 {
		t.Fatalf("nothing to map: %d clinicians, %d providers", len(pm.Rows), len(pm.Providers))
	}
	if len(v.views) != len(pm.Rows) {
		t.Fatalf("the view has %d rows, Core %d", len(v.views), len(pm.Rows))
	}
	suggested := 0
	for i, r := range pm.Rows {
		rv := v.views[i]
		if rv.row.Clinician.ID != r.Clinician.ID {
			t.Errorf("row %d is clinician %d, want %d", i, rv.row.Clinician.ID, r.Clinician.ID)
		}
		if r.Confirmed || r.Suggestion == nil {
			continue
		}
		suggested++
		s := r.Suggestion
		want := fmt.Sprintf("name %.2f", s.Score)
		if s.By == mapping.ByEmail {
			want = "by email"
		}
		if !strings.Contains(rv.suggest.Text, want) {
			t.Errorf("%s's suggestion reads %q, want it to say %q", r.Clinician.Name, rv.suggest.Text, want)
		}
		if rv.chosen() != s.ProviderID || !rv.confirm.Visible() {
			t.Errorf("%s: the select shows %q (want the suggestion %q), confirm shown %v",
				r.Clinician.Name, rv.chosen(), s.ProviderID, rv.confirm.Visible())
		}
	}
	if suggested == 0 {
		t.Fatal("the sandbox offers no suggestion to confirm")
	}
	h.capture("mapping")

	// Confirm all suggested.
	test.Tap(v.confirmAll)
	h.waitFor("the suggestions confirmed", func() bool { return v.msg.Visible() && v.loaded && !v.loading.Visible() })
	if want := "Confirmed " + plural(suggested, "suggestion", "suggestions") + "."; v.msg.Text != want {
		t.Errorf("after Confirm all: %q, want %q", v.msg.Text, want)
	}
	after := h.providerMap(ehr.SimplePractice)
	for i, r := range pm.Rows {
		if r.Suggestion == nil {
			continue
		}
		got := after.Rows[i]
		if !got.Confirmed || got.ProviderID != r.Suggestion.ProviderID {
			t.Errorf("%s: confirmed %v to %q, want %q", r.Clinician.Name, got.Confirmed, got.ProviderID, r.Suggestion.ProviderID)
		}
		if rv := v.views[i]; rv.confirm.Visible() || rv.state.Text != "Confirmed" {
			t.Errorf("%s's row: confirm shown %v, state %q", r.Clinician.Name, rv.confirm.Visible(), rv.state.Text)
		}
	}
	if !v.confirmAll.Disabled() {
		t.Error("Confirm all suggested stays on with nothing left to confirm")
	}

	// One row changed by hand: Confirm appears, and maps it.
	rv := v.views[0]
	other := slices.IndexFunc(after.Providers, func(p ehr.Provider) bool { return p.ID != after.Rows[0].ProviderID })
	rv.choice.SetSelectedIndex(other + 1)
	if !rv.confirm.Visible() {
		t.Fatal("changing the provider should offer Confirm")
	}
	test.Tap(rv.confirm)
	h.waitFor("the row mapped", func() bool { return v.msg.Text == "Mapped "+after.Rows[0].Clinician.Name+"." && !v.loading.Visible() })
	if got := h.providerMap(ehr.SimplePractice).Rows[0]; got.ProviderID != after.Providers[other].ID || !got.Confirmed {
		t.Errorf("row 0 mapped to %q (confirmed %v), want %q", got.ProviderID, got.Confirmed, after.Providers[other].ID)
	}

	// Export, through the save dialog.
	dir := t.TempDir()
	h.files.save1 = filepath.Join(dir, "providers.csv")
	test.Tap(v.export)
	h.waitFor("the export", func() bool { return strings.HasPrefix(v.msg.Text, "Saved the mapping to ") })
	if len(h.files.saves) != 1 || !strings.HasSuffix(h.files.saves[0], ".csv") {
		t.Errorf("suggested names %q", h.files.saves)
	}
	exported, err := os.ReadFile(h.files.save1)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(exported)), "\n")
	if len(lines) != len(pm.Rows)+1 || !strings.HasPrefix(lines[0], "clinician_id") {
		t.Fatalf("exported %q", exported)
	}

	// Import an edited file with a bad row: the good rows apply, the bad
	// one is listed with its line.
	current := h.providerMap(ehr.SimplePractice)
	good := strings.Split(lines[1], ",")
	good[3] = current.Providers[0].ID // clinician 1 → the first provider
	bad := strings.Split(lines[2], ",")
	bad[3] = "no-such-provider"
	edited := strings.Join([]string{lines[0], strings.Join(good, ","), strings.Join(bad, ",")}, "\n") + "\n"
	h.files.open1 = filepath.Join(dir, "edited.csv")
	if err := os.WriteFile(h.files.open1, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	_, wantErrs, err := mapping.ReadCSV(strings.NewReader(edited), current.Clinicians, current.Providers)
	if err != nil || len(wantErrs) == 0 {
		t.Fatalf("the edited file should have a bad row: %v, %v", wantErrs, err)
	}
	test.Tap(v.importCSV)
	h.waitFor("the import", func() bool { return strings.HasPrefix(v.msg.Text, "Imported ") && !v.loading.Visible() })
	var shown []string
	for _, o := range v.rowErrs.Objects {
		shown = append(shown, o.(*widget.Label).Text)
	}
	var want []string
	for _, e := range wantErrs {
		want = append(want, fmt.Sprintf("Line %d: %s", e.Line, e.Msg))
	}
	if !slices.Equal(shown, want) {
		t.Errorf("row errors shown %q, want %q", shown, want)
	}
	if !strings.Contains(v.msg.Text, "left out") || v.msg.Importance != widget.WarningImportance {
		t.Errorf("import summary %q (importance %d)", v.msg.Text, v.msg.Importance)
	}
	goodID := good[0]
	for _, r := range h.providerMap(ehr.SimplePractice).Rows {
		if fmt.Sprint(r.Clinician.ID) == goodID && r.ProviderID != current.Providers[0].ID {
			t.Errorf("the good row did not apply: clinician %s mapped to %q", goodID, r.ProviderID)
		}
	}
	h.capture("mapping-import")

	// A file that is no mapping at all is refused as a whole.
	if err := os.WriteFile(h.files.open1, []byte("hello,world\n1,2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	test.Tap(v.importCSV)
	h.waitFor("the refusal", func() bool { return v.msg.Importance == widget.DangerImportance && !v.loading.Visible() })
	if len(v.rowErrs.Objects) != 0 || v.msg.Text == "" {
		t.Errorf("not a mapping: %q, %d row errors", v.msg.Text, len(v.rowErrs.Objects))
	}
	t.Logf("not a mapping: %s", v.msg.Text)

	// Back (Escape) returns to the cards.
	h.escape()
	if a.mapView != nil || a.box.Objects[0] != a.panel {
		t.Error("Escape should close the mapping")
	}
}
