package logs

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// handler redacts every record before passing it on. Messages are left
// alone: they are constants in the code. Values are what carry data.
type handler struct {
	next slog.Handler
	// under is set inside a WithGroup whose name marks everything in it
	// as secret or personal, e.g. WithGroup("patient").
	under keyClass
}

var _ slog.Handler = (*handler)(nil)

// NewHandler returns a handler that passes records to next with secrets
// and patient data removed:
//   - an attribute whose key names a secret (token, password, secret, api
//     key, authorization, cookie, code_verifier, refresh, an OAuth "code"...)
//     or patient data and visit content (name, email, phone, date of birth,
//     address, transcript, note, draft, text, body, query...) gets the value
//     [redacted], also inside groups and With/WithGroup; a group under
//     such a key is dropped whole; keys ending in id, count, bytes, state
//     and the like (patient_id, note_count) are kept, since they describe
//     rather than hold the data;
//   - an attribute whose key names a link (url, endpoint, redirect...)
//     keeps only scheme://host;
//   - every other string, error, Stringer or other value is rendered and
//     passed through Scrub.
//
// Levels, times, numbers, booleans and durations pass through unchanged.
func NewHandler(next slog.Handler) slog.Handler {
	return &handler{next: next}
}

func (h *handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redact(a, h.under))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		out[i] = redact(a, h.under)
	}
	return &handler{next: h.next.WithAttrs(out), under: h.under}
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	under := h.under
	if c := classify(name); c == keySecret || c == keyPerson {
		under = c
	}
	return &handler{next: h.next.WithGroup(name), under: under}
}

// redact returns a with its value made safe to log. under is the class of
// an enclosing group (keyPlain at top level).
func redact(a slog.Attr, under keyClass) slog.Attr {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindAny && v.Any() == nil {
		// Keeps the empty Attr empty, which handlers drop.
		return slog.Attr{Key: a.Key, Value: v}
	}
	class := under
	if class == keyPlain {
		class = classify(a.Key)
	}
	if class == keySecret || class == keyPerson {
		return slog.String(a.Key, Redacted)
	}
	switch v.Kind() {
	case slog.KindGroup:
		attrs := v.Group()
		out := make([]slog.Attr, len(attrs))
		for i, g := range attrs {
			out[i] = redact(g, keyPlain)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(out...)}
	case slog.KindString:
		s := v.String()
		if class == keyURL {
			return slog.String(a.Key, hostOnly(s))
		}
		if t := Scrub(s); t != s {
			return slog.String(a.Key, t)
		}
		return slog.Attr{Key: a.Key, Value: v}
	case slog.KindAny:
		s := render(v.Any())
		if class == keyURL {
			return slog.String(a.Key, hostOnly(s))
		}
		return slog.String(a.Key, Scrub(s))
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// render turns an arbitrary value into the text a handler would print.
// Rendering it here, rather than letting the next handler marshal it,
// means errors, Stringers, structs, maps and byte slices (which a JSON
// handler would otherwise base64-encode past the scrubber) are all
// scrubbed. fmt recovers from a panicking Error or String method.
func render(x any) string {
	if b, ok := x.([]byte); ok {
		return string(b)
	}
	return fmt.Sprint(x)
}

// hostOnly keeps scheme://host of a link; anything that is not an
// absolute URL under a link's key is redacted whole.
func hostOnly(s string) string {
	if !strings.Contains(s, "://") {
		return Redacted
	}
	return Scrub(s)
}
