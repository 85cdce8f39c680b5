package ehrtest

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// Browser stands in for the system browser on an OAuth EHR's login and
// consent pages, as an administrator would click through them: its Open is
// an oauthflow Config.OpenBrowser. It fetches the authorization URL, posts
// the login form, posts the consent form and follows the redirect to the
// app's loopback listener.
type Browser struct {
	Email, Password string
	// Decision is the consent button: "allow" (the default) or "deny".
	Decision string
	// Scopes are the boxes left ticked; nil leaves every box as shown.
	Scopes []string
	// Tamper, when set, may rewrite the redirect to the loopback listener
	// before the browser follows it (a forged state, say).
	Tamper func(*url.URL)
}

var (
	formRE   = regexp.MustCompile(`<form method="post" action="([^"]*)">`)
	hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
	scopeRE  = regexp.MustCompile(`<input type="checkbox" name="scope" value="([^"]*)"`)
)

// Open returns the func to pass as OpenBrowser. The browser works in its own
// goroutine, as a real one would; what goes wrong in it fails the test, and
// the test waits for it to finish.
func (b *Browser) Open(t *testing.T) func(ctx context.Context, url string) error {
	t.Helper()
	done := make(chan struct{})
	started := false
	t.Cleanup(func() {
		if started {
			<-done
		}
	})
	return func(ctx context.Context, authURL string) error {
		if started {
			return errors.New("ehrtest.Browser: opened twice")
		}
		started = true
		go func() {
			defer close(done)
			// A browser outlives the app's wait: it is not cancelled
			// when the flow returns.
			if err := b.run(context.WithoutCancel(ctx), authURL); err != nil {
				t.Errorf("browser: %v", err)
			}
		}()
		return nil
	}
}

func (b *Browser) run(ctx context.Context, authURL string) error {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return err
	}
	c := &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if req.URL.Path == "/callback" && b.Tamper != nil {
			b.Tamper(req.URL)
		}
		return nil
	}}
	page, at, err := get(ctx, c, authURL)
	if err != nil {
		return fmt.Errorf("open the authorization URL: %w", err)
	}
	action, form, err := readForm(page, at)
	if err != nil {
		return fmt.Errorf("login page: %w", err)
	}
	form.Set("email", b.Email)
	form.Set("password", b.Password)
	if page, at, err = post(ctx, c, action, form); err != nil {
		return fmt.Errorf("sign in: %w", err)
	}
	action, form, err = readForm(page, at)
	if err != nil {
		return fmt.Errorf("consent page: %w", err)
	}
	decision := b.Decision
	if decision == "" {
		decision = "allow"
	}
	form.Set("decision", decision)
	var shown []string
	for _, m := range scopeRE.FindAllStringSubmatch(page, -1) {
		shown = append(shown, html.UnescapeString(m[1]))
	}
	form["scope"] = shown
	if b.Scopes != nil {
		form["scope"] = slices.DeleteFunc(shown, func(s string) bool { return !slices.Contains(b.Scopes, s) })
	}
	// The consent answer redirects to the loopback listener; its page is
	// the app's, and whatever it says is the app's business.
	if _, _, err = post(ctx, c, action, form); err != nil && !errors.Is(err, errStatus) {
		return fmt.Errorf("consent: %w", err)
	}
	return nil
}

var errStatus = errors.New("unexpected status")

func get(ctx context.Context, c *http.Client, u string) (string, *url.URL, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", nil, err
	}
	return do(c, req)
}

func post(ctx context.Context, c *http.Client, u string, form url.Values) (string, *url.URL, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return "", nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(c, req)
}

func do(c *http.Client, req *http.Request) (string, *url.URL, error) {
	resp, err := c.Do(req)
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return string(body), resp.Request.URL, fmt.Errorf("%w %d from %s: %s", errStatus, resp.StatusCode, resp.Request.URL.Path, body)
	}
	return string(body), resp.Request.URL, nil
}

// readForm finds the page's form: where it posts and its hidden fields.
func readForm(page string, at *url.URL) (string, url.Values, error) {
	m := formRE.FindStringSubmatch(page)
	if m == nil {
		return "", nil, fmt.Errorf("no form in the page:\n%s", page)
	}
	action, err := at.Parse(html.UnescapeString(m[1]))
	if err != nil {
		return "", nil, fmt.Errorf("form action %q: %w", m[1], err)
	}
	v := url.Values{}
	for _, h := range hiddenRE.FindAllStringSubmatch(page, -1) {
		v.Set(h[1], html.UnescapeString(h[2]))
	}
	return action.String(), v, nil
}
