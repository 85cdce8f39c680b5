package ehr

import (
	"errors"
	"fmt"
	"net"
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
	if err := Secure(u); err != nil {
		return nil, fmt.Errorf("the base URL %q uses plain http; credentials must travel over https (http is only for a loopback host)", raw)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}

// ErrPlainHTTP: a URL that would carry credentials or patient data uses
// plain http to a host that is not loopback.
var ErrPlainHTTP = errors.New("plain http is only allowed to a loopback host; use https")

// Secure refuses an http URL whose host is not loopback (the sandbox and
// test servers listen there); https and other schemes pass, for the
// caller's own scheme check.
func Secure(u *url.URL) error {
	if strings.EqualFold(u.Scheme, "http") && !Loopback(u.Hostname()) {
		// Only the host: a path or query may hold ids.
		return fmt.Errorf("http://%s: %w", u.Host, ErrPlainHTTP)
	}
	return nil
}

// Loopback reports whether host (without port) is localhost or a loopback
// IP address.
func Loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
