package platform

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// ErrUnreachable is returned (wrapped) by Reachable when no HTTP answer
// came back.
var ErrUnreachable = errors.New("server unreachable")

// reachTimeout keeps the probe cheap: a server that has not answered a HEAD
// within this time is not worth sending real work to yet.
const reachTimeout = 5 * time.Second

// reachClient follows no redirects: any HTTP response, even a 3xx, 404 or
// 500, proves the network path works, which is all the probe asks.
var reachClient = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// Reachable sends one HEAD request to baseURL and reports whether any HTTP
// response came back within a few seconds (or before ctx ends). Failures
// wrap ErrUnreachable; a baseURL that is not an http(s) URL is a plain error.
func Reachable(ctx context.Context, baseURL string) error {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("check server %q: not an http(s) URL; use e.g. https://host/api", baseURL)
	}
	ctx, cancel := context.WithTimeout(ctx, reachTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, u.String(), nil)
	if err != nil {
		return fmt.Errorf("check server %s: %w", u.Host, err)
	}
	resp, err := reachClient.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrUnreachable, u.Host, err)
	}
	resp.Body.Close()
	return nil
}
