package ehr

import (
	"fmt"
	"net/url"
	"strings"
)

// BaseURL checks an EHR API's address from configuration: an http(s) URL
// with a host, https unless the host is loopback (credentials travel with
// every call), without query or fragment or a trailing slash. example is
// offered in the error.
func BaseURL(raw, example string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("the base URL %q is not an http(s) URL with a host; give the API's address, e.g. %s", raw, example)
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("the base URL %q uses plain http; credentials must travel over https (http is only for a loopback host)", raw)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}

func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}
