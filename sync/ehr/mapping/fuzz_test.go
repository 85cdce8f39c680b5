package mapping

import (
	"bytes"
	"errors"
	"io"
	"maps"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/nextvisit/scribe/sync/ehr"
)

var (
	fuzzClinicians = []Clinician{{ID: 1, Name: "Ana \"Doc\" Ruiz", Email: "ana@example.com"}, {ID: 2, Name: "Lee, Bo\nMD"}, {ID: 30, Name: "Kim"}}
	fuzzProviders  = []ehr.Provider{{ID: "p1", Name: "Ruiz, Ana"}, {ID: "P 2", Name: "Bo \"Lee\""}, {ID: "x,3", Name: "Kim"}}
)

// FuzzReadCSV: whatever file the admin picks, ReadCSV does not panic,
// refuses a file that is not a mapping with ErrNotMapping, and returns
// only pairs of a known clinician and a known provider, each at most once,
// with bad rows named by a line of the file. What it returns, written with
// WriteCSV and read again, is the same mapping with no bad rows.
func FuzzReadCSV(f *testing.F) {
	var exported bytes.Buffer
	if err := WriteCSV(&exported, fuzzClinicians, fuzzProviders, []Pair{{1, "p1"}, {2, "x,3"}}); err != nil {
		f.Fatal(err)
	}
	f.Add(exported.Bytes())
	f.Add([]byte("\ufeffClinician_ID, provider_id\n1,p1\n1,P 2\n2,p1\n9,p1\nx,p1\n30\n\"3\n0\",p1\n"))
	f.Add([]byte("provider_id,clinician_id\n\"P 2\",30\n\"a\"b,1\n"))
	f.Add([]byte("clinician_id\n1\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		pairs, bad, err := ReadCSV(bytes.NewReader(data), fuzzClinicians, fuzzProviders)
		if err != nil {
			if !errors.Is(err, ErrNotMapping) || pairs != nil || bad != nil {
				t.Fatalf("ReadCSV: %v with %d pairs, %d bad rows; want ErrNotMapping and nothing else", err, len(pairs), len(bad))
			}
			return
		}
		lines := bytes.Count(data, []byte("\n")) + bytes.Count(data, []byte("\r")) + 1
		for _, b := range bad {
			if b.Line < 1 || b.Line > lines || b.Msg == "" {
				t.Fatalf("bad row %+v: not a line of a %d-line file, or no message", b, lines)
			}
		}
		got := map[int64]string{}
		usedP := map[string]bool{}
		for _, p := range pairs {
			if _, dup := got[p.ClinicianID]; dup || usedP[p.ProviderID] {
				t.Fatalf("pairs %v map a clinician or a provider twice", pairs)
			}
			if !known(p) {
				t.Fatalf("pair %+v names an unknown clinician or provider", p)
			}
			got[p.ClinicianID], usedP[p.ProviderID] = p.ProviderID, true
		}
		var out bytes.Buffer
		if err := WriteCSV(&out, fuzzClinicians, fuzzProviders, pairs); err != nil {
			t.Fatal(err)
		}
		again, bad2, err := ReadCSV(&out, fuzzClinicians, fuzzProviders)
		if err != nil || len(bad2) != 0 {
			t.Fatalf("re-read of the written mapping: %v, bad rows %v", err, bad2)
		}
		back := map[int64]string{}
		for _, p := range again {
			back[p.ClinicianID] = p.ProviderID
		}
		if !maps.Equal(got, back) {
			t.Fatalf("round trip: %v became %v", got, back)
		}
	})
}

func known(p Pair) bool {
	c, pr := false, false
	for _, x := range fuzzClinicians {
		c = c || x.ID == p.ClinicianID
	}
	for _, x := range fuzzProviders {
		pr = pr || x.ID == p.ProviderID
	}
	return c && pr
}

// TestReadCSVBounded: a file far larger than a mapping is refused without
// reading it whole, and a reader that fails is an error, not a bad row per
// retry for ever.
func TestReadCSVBounded(t *testing.T) {
	head := "clinician_id,provider_id\n"
	huge := io.MultiReader(strings.NewReader(head), strings.NewReader(strings.Repeat("1,p1\n", maxCSV/5+10)), neverEnding{})
	if _, _, err := ReadCSV(huge, fuzzClinicians, fuzzProviders); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("ReadCSV of an endless file: %v, want it refused as too large", err)
	}
	boom := errors.New("disk gone")
	failing := io.MultiReader(strings.NewReader(head+"1,p1\n"), iotest.ErrReader(boom))
	if _, _, err := ReadCSV(failing, fuzzClinicians, fuzzProviders); !errors.Is(err, boom) {
		t.Errorf("ReadCSV of a failing reader: %v, want its error", err)
	}
}

// neverEnding is an endless stream of rows.
type neverEnding struct{}

func (neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = "2,x\n"[i%4]
	}
	return len(p), nil
}

// TestReadCSVLineOfRow: a row's line is where it starts in the file, also
// after a quoted field that spans lines.
func TestReadCSVLineOfRow(t *testing.T) {
	_, bad, err := ReadCSV(strings.NewReader("clinician_id,provider_id,note\n1,p1,\"two\nlines\"\n9,p1,\n"), fuzzClinicians, fuzzProviders)
	if err != nil || len(bad) != 1 || bad[0].Line != 4 {
		t.Errorf("bad rows %v (%v), want one on line 4", bad, err)
	}
}
