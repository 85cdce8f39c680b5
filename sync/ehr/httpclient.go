package ehr

import (
	"net/http"
	"time"
)

// Timeouts of NewHTTPClient. An EHR call moves a page of patients or one
// note: a minute is ample, and an EHR that hangs must not hold an outbox
// worker (or the connect dialog) for ever, as http.DefaultClient would.
const (
	RequestTimeout        = time.Minute
	ResponseHeaderTimeout = 30 * time.Second
)

// NewHTTPClient is the client connectors and the OAuth flow use when their
// Config gives none: its own connection pool, each request bounded by
// RequestTimeout (headers and body), the wait for headers by
// ResponseHeaderTimeout.
func NewHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = ResponseHeaderTimeout
	return &http.Client{Transport: t, Timeout: RequestTimeout}
}
