package oauthehr

import (
	"net/http"

	"github.com/nextvisit/scribe/sync/ehr"
)

// errorBody is the EHR API's error answer.
type errorBody struct {
	Error   string            `json:"error"`
	Message string            `json:"message"`
	Scope   string            `json:"scope"`
	Fields  map[string]string `json:"fields"`
}

func statusError(kind ehr.Kind, op string, resp *http.Response, body errorBody) *ehr.StatusError {
	e := ehr.NewStatusError(kind, op, resp.StatusCode, body.Error, body.Message, body.Fields, resp.Header)
	if resp.StatusCode == http.StatusForbidden && body.Scope != "" && body.Message == "" {
		e.Message = "the connection was not granted the " + body.Scope + " scope; connect again and allow it"
	}
	return e
}
