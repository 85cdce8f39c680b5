package oauthflow

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzCallback: whatever reaches the loopback listener, the flow gets one
// result, and a code only when the state is ours and no error came with it.
func FuzzCallback(f *testing.F) {
	f.Add("code=abc&state=S")
	f.Add("error=access_denied&error_description=no&state=S")
	f.Add("code=abc&state=T")
	f.Add("state=S")
	f.Add("%zz&state=S&state=S")
	f.Fuzz(func(t *testing.T, query string) {
		results := make(chan callbackResult, 1)
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/callback", nil)
		req.URL.RawQuery = query
		callbackHandler("S", results).ServeHTTP(rec, req)
		res := <-results
		q := req.URL.Query()
		switch {
		case q.Get("state") != "S":
			if !errors.Is(res.err, ErrStateMismatch) {
				t.Errorf("state %q: %v, want ErrStateMismatch", q.Get("state"), res.err)
			}
		case q.Get("error") != "" || q.Get("code") == "":
			if res.err == nil || res.code != "" {
				t.Errorf("%q: code %q err %v, want an error", query, res.code, res.err)
			}
		case res.err != nil || res.code != q.Get("code"):
			t.Errorf("%q: code %q err %v", query, res.code, res.err)
		}
		if (res.err == nil) != (rec.Code == http.StatusOK) {
			t.Errorf("%q: page status %d with err %v", query, rec.Code, res.err)
		}
	})
}
