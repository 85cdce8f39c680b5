package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"

	"github.com/nextvisit/scribe/sync/sandbox/ehr/nexhealth"
	"github.com/nextvisit/scribe/sync/sandbox/ehr/oauthehr"
	"github.com/nextvisit/scribe/sync/sandbox/ehr/simplepractice"
)

// ehrs are the sandbox's EHR models, each in its own folder under the
// sandbox's and mounted beside the Nextvisit API: /osmind, /kalix,
// /simplepractice, /nexhealth. They keep their own fault switches.
type ehrs struct {
	osmind, kalix *oauthehr.Server
	sp            *simplepractice.Server
	nex           *nexhealth.Server
}

func openEHRs(ctx context.Context, cfg Config) (*ehrs, error) {
	dir := filepath.Join(cfg.Dir, "ehr")
	log := cfg.Logger
	var e ehrs
	var err error
	if e.osmind, err = oauthehr.New(ctx, oauthehr.Config{Name: "Osmind", Dir: filepath.Join(dir, "osmind"), Logger: log, Now: cfg.Now}); err != nil {
		return nil, fmt.Errorf("open the Osmind model: %w", err)
	}
	if e.kalix, err = oauthehr.New(ctx, oauthehr.Config{Name: "Kalix", Dir: filepath.Join(dir, "kalix"), Logger: log, Now: cfg.Now}); err != nil {
		return nil, errors.Join(fmt.Errorf("open the Kalix model: %w", err), e.close())
	}
	if e.sp, err = simplepractice.New(ctx, simplepractice.Config{Dir: filepath.Join(dir, "simplepractice"), Logger: log, Now: cfg.Now}); err != nil {
		return nil, errors.Join(fmt.Errorf("open the SimplePractice model: %w", err), e.close())
	}
	if e.nex, err = nexhealth.New(ctx, nexhealth.Config{Dir: filepath.Join(dir, "nexhealth"), Logger: log, Now: cfg.Now}); err != nil {
		return nil, errors.Join(fmt.Errorf("open the NexHealth model: %w", err), e.close())
	}
	return &e, nil
}

// mount adds the EHR models to mux, outside the Nextvisit API's own fault
// switches and access log.
func (e *ehrs) mount(mux *http.ServeMux) {
	mux.Handle(e.osmind.Prefix()+"/", e.osmind.Handler())
	mux.Handle(e.kalix.Prefix()+"/", e.kalix.Handler())
	mux.Handle("/simplepractice/", http.StripPrefix("/simplepractice", e.sp.Handler()))
	mux.Handle("/nexhealth/", http.StripPrefix("/nexhealth", e.nex.Handler()))
}

func (e *ehrs) close() error {
	var errs []error
	if e.osmind != nil {
		errs = append(errs, e.osmind.Close())
	}
	if e.kalix != nil {
		errs = append(errs, e.kalix.Close())
	}
	if e.sp != nil {
		errs = append(errs, e.sp.Close())
	}
	if e.nex != nil {
		errs = append(errs, e.nex.Close())
	}
	return errors.Join(errs...)
}

// Osmind is the sandbox's Osmind model (its chart, for tests and audits).
func (s *Server) Osmind() *oauthehr.Server { return s.ehr.osmind }

// Kalix is the sandbox's Kalix model.
func (s *Server) Kalix() *oauthehr.Server { return s.ehr.kalix }

// SimplePractice is the sandbox's SimplePractice model.
func (s *Server) SimplePractice() *simplepractice.Server { return s.ehr.sp }

// NexHealth is the sandbox's NexHealth model.
func (s *Server) NexHealth() *nexhealth.Server { return s.ehr.nex }
