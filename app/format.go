package app

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nextvisit/scribe/sync/api"
)

// PatientName is how a patient is named on screen: "Jane Marie Doe".
// A patient with no name on file is "Patient #ID".
func PatientName(p api.Patient) string {
	var parts []string
	for _, s := range []string{p.FirstName, deref(p.MiddleName), p.LastName} {
		if s = strings.TrimSpace(s); s != "" {
			parts = append(parts, s)
		}
	}
	if len(parts) == 0 {
		return "Patient #" + strconv.FormatInt(p.Id, 10)
	}
	return strings.Join(parts, " ")
}

// NoteStatus says where a progress note stands: "Processing" while it is
// being transcribed or drafted, "Ready" once the draft is there, "Signed"
// once signed, or "Failed: <the server's error>".
func NoteStatus(n api.ProgressNote) string {
	if n.ErrorState != nil && strings.TrimSpace(*n.ErrorState) != "" {
		return "Failed: " + strings.TrimSpace(*n.ErrorState)
	}
	if n.Has != nil && n.Has.Signed != nil && *n.Has.Signed {
		return "Signed"
	}
	if n.AnalysisCompletedAt != nil {
		return "Ready"
	}
	return "Processing"
}

// Ago is t relative to now in a person's words: "never", "just now",
// "12 s ago", "in 3 min".
func Ago(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	future := d < 0
	if future {
		d = -d
	}
	if d < 5*time.Second {
		if future {
			return "in a moment"
		}
		return "just now"
	}
	var s string
	switch {
	case d < time.Minute:
		s = fmt.Sprintf("%d s", int(d/time.Second))
	case d < time.Hour:
		s = fmt.Sprintf("%d min", int(d/time.Minute))
	case d < 48*time.Hour:
		s = fmt.Sprintf("%d h", int(d/time.Hour))
	default:
		s = fmt.Sprintf("%d days", int(d/(24*time.Hour)))
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}
