package sandbox

import (
	"context"
	"math"
	"net/http"
	"time"

	"github.com/nextvisit/scribe/sync/sandbox/internal/sqlitedb"
)

// The sandbox's plan. Usage is counted from the database: notes created and audio minutes (recorded
// notes, files sent to /v1/transcriptions and live sessions) in the current calendar month.
const (
	planName            = "Sandbox Solo"
	planPriceCents      = 9900
	planIncludedMinutes = 1200
	overageCentsPerMin  = 10
	currency            = "usd"
)

type billingPlanBody struct {
	Name            string `json:"name"`
	Interval        string `json:"interval"`
	PriceCents      int64  `json:"price_cents"`
	Currency        string `json:"currency"`
	IncludedMinutes int64  `json:"included_minutes"`
}

type billingUsageBody struct {
	PeriodStart  string  `json:"period_start"`
	PeriodEnd    string  `json:"period_end"`
	NotesCreated int64   `json:"notes_created"`
	AudioMinutes float64 `json:"audio_minutes"`
}

type billingEstimateBody struct {
	PeriodEnd   string `json:"period_end"`
	AmountCents int64  `json:"amount_cents"`
	Currency    string `json:"currency"`
}

func (s *Server) billingPlan(w http.ResponseWriter, _ *http.Request, _ principal) {
	writeJSON(w, http.StatusOK, billingPlanBody{Name: planName, Interval: "month", PriceCents: planPriceCents, Currency: currency, IncludedMinutes: planIncludedMinutes})
}

// period is the current calendar month (UTC): [start, next).
func (s *Server) period() (start, next time.Time) {
	now := s.now().UTC()
	start = time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	return start, start.AddDate(0, 1, 0)
}

func (s *Server) usage(ctx context.Context, p principal) (billingUsageBody, error) {
	start, next := s.period()
	u := billingUsageBody{PeriodStart: start.Format(time.DateOnly), PeriodEnd: next.AddDate(0, 0, -1).Format(time.DateOnly)}
	from, to := sqlitedb.FormatTime(start), sqlitedb.FormatTime(next)
	var noteSeconds, fileSeconds float64
	err := s.db.QueryRowContext(ctx, `SELECT count(*), COALESCE(SUM(audio_duration), 0) FROM progress_notes
		WHERE team_id = ? AND created_at >= ? AND created_at < ?`, p.teamID, from, to).Scan(&u.NotesCreated, &noteSeconds)
	if err != nil {
		return u, err
	}
	err = s.db.QueryRowContext(ctx, `SELECT COALESCE(SUM(t.duration), 0) FROM transcription_usage t JOIN users u ON u.id = t.user_id
		WHERE u.team_id = ? AND t.created_at >= ? AND t.created_at < ?`, p.teamID, from, to).Scan(&fileSeconds)
	if err != nil {
		return u, err
	}
	u.AudioMinutes = math.Round((noteSeconds+fileSeconds)/60*10) / 10
	return u, nil
}

func (s *Server) billingUsage(w http.ResponseWriter, r *http.Request, p principal) {
	u, err := s.usage(r.Context(), p)
	if err != nil {
		s.internal(w, "billing usage", err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

// billingEstimate is the plan price plus overage for the minutes used beyond the plan's.
func (s *Server) billingEstimate(w http.ResponseWriter, r *http.Request, p principal) {
	u, err := s.usage(r.Context(), p)
	if err != nil {
		s.internal(w, "billing estimate", err)
		return
	}
	over := math.Max(0, math.Ceil(u.AudioMinutes)-planIncludedMinutes)
	writeJSON(w, http.StatusOK, billingEstimateBody{
		PeriodEnd:   u.PeriodEnd,
		AmountCents: planPriceCents + int64(over)*overageCentsPerMin,
		Currency:    currency,
	})
}
