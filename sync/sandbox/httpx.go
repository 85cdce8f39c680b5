package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

const (
	maxJSONBody  = 1 << 20   // 1 MB: every JSON request
	maxAudioBody = 200 << 20 // 200 MB: multipart uploads with audio
	// maxAudioDuration bounds decoded audio (a well-compressed FLAC can be tiny and hours long): three
	// hours, a long visit, is about 350 MB of 16 kHz samples.
	maxAudioDuration = 3 * time.Hour
	maxTextField     = 2 << 20 // one non-file multipart field (a whole visit's text fits many times over)
	maxNameLen       = 255
)

// message is the body of every non-validation error: {"message": "..."}.
type message struct {
	Message string `json:"message"`
}

// marshal encodes a response body. Unlike json.Marshal it leaves & < > alone, so links read as
// written ("?page=2&per_page=15").
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := marshal(v)
	if err != nil {
		// Only our own response types reach here; failing to marshal one is a bug worth a clear 500.
		status, body = http.StatusInternalServerError, []byte(`{"message":"The sandbox could not encode its response."}`)
	}
	writeRaw(w, status, body)
}

func writeRaw(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeMessage(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, message{Message: msg})
}

var (
	msgUnauthenticated = "Unauthenticated."
	msgInternal        = "The sandbox failed to handle this request; see its log."
)

// fieldErrors collects validation failures in the order they were found, and renders Laravel's
// 422 body: {"message": first error (and N more errors), "errors": {field: [messages]}}.
type fieldErrors struct {
	order []string
	by    map[string][]string
}

func (e *fieldErrors) add(field, msg string) {
	if e.by == nil {
		e.by = map[string][]string{}
	}
	if _, ok := e.by[field]; !ok {
		e.order = append(e.order, field)
	}
	e.by[field] = append(e.by[field], msg)
}

func (e *fieldErrors) has(field string) bool { _, ok := e.by[field]; return ok }

func (e *fieldErrors) empty() bool { return len(e.order) == 0 }

type validationBody struct {
	Message string              `json:"message"`
	Errors  map[string][]string `json:"errors"`
}

func (e *fieldErrors) body() validationBody {
	n := 0
	for _, f := range e.order {
		n += len(e.by[f])
	}
	msg := e.by[e.order[0]][0]
	switch n {
	case 1:
	case 2:
		msg += " (and 1 more error)"
	default:
		msg += fmt.Sprintf(" (and %d more errors)", n-1)
	}
	return validationBody{Message: msg, Errors: e.by}
}

// write answers 422 with the collected errors.
func (e *fieldErrors) write(w http.ResponseWriter) {
	writeJSON(w, http.StatusUnprocessableEntity, e.body())
}

// invalid answers 422 for a single field.
func invalid(w http.ResponseWriter, field, msg string) {
	var e fieldErrors
	e.add(field, msg)
	e.write(w)
}

// label turns a field name into the words Laravel uses in its messages: first_name → "first name".
func label(field string) string { return strings.ReplaceAll(field, "_", " ") }

// jsonObject is a decoded JSON request body, kept raw per field so absent, null and wrong-typed values
// can be told apart.
type jsonObject map[string]json.RawMessage

// readJSON decodes the request body as one JSON object (an empty body counts as {}). On failure it has
// already answered and returns false.
func readJSON(w http.ResponseWriter, r *http.Request) (jsonObject, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxJSONBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			writeMessage(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("The request body is larger than %d bytes; send less.", maxJSONBody))
			return nil, false
		}
		writeMessage(w, http.StatusBadRequest, "The request body could not be read.")
		return nil, false
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return jsonObject{}, true
	}
	if body[0] != '{' {
		writeMessage(w, http.StatusBadRequest, "The request body must be a JSON object ({...}).")
		return nil, false
	}
	var obj jsonObject
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&obj); err != nil {
		writeMessage(w, http.StatusBadRequest, "The request body is not valid JSON: "+describeJSONError(err)+".")
		return nil, false
	}
	if dec.More() {
		writeMessage(w, http.StatusBadRequest, "The request body has data after its JSON object; send one object.")
		return nil, false
	}
	return obj, true
}

func describeJSONError(err error) string {
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return fmt.Sprintf("%s (at byte %d)", se.Error(), se.Offset)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "it ends too early"
	}
	return err.Error()
}

// str reads a string field. present is false when the field is absent; null is true for JSON null.
// A value of another type adds an error and reads as absent.
func (o jsonObject) str(field string, errs *fieldErrors) (s string, present, null bool) {
	raw, ok := o[field]
	if !ok {
		return "", false, false
	}
	if string(raw) == "null" {
		return "", true, true
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		errs.add(field, fmt.Sprintf("The %s field must be a string.", label(field)))
		return "", false, false
	}
	return s, true, false
}

// integer reads an integer field; present is false when absent or null.
func (o jsonObject) integer(field string, errs *fieldErrors) (n int64, present bool) {
	raw, ok := o[field]
	if !ok || string(raw) == "null" {
		return 0, false
	}
	var f json.Number
	if err := json.Unmarshal(raw, &f); err == nil {
		if n, err := strconv.ParseInt(f.String(), 10, 64); err == nil {
			return n, true
		}
	}
	errs.add(field, fmt.Sprintf("The %s field must be an integer.", label(field)))
	return 0, false
}

// checkLen adds an error when s is longer than limit characters.
func checkLen(errs *fieldErrors, field, s string, limit int) {
	if utf8.RuneCountInString(s) > limit {
		errs.add(field, fmt.Sprintf("The %s field must not be greater than %d characters.", label(field), limit))
	}
}

func required(field string) string { return fmt.Sprintf("The %s field is required.", label(field)) }

// queryInt parses an optional integer query parameter within [lo, hi]; def when absent.
func queryInt(q url.Values, field string, def, lo, hi int, errs *fieldErrors) int {
	raw := q.Get(field)
	if raw == "" {
		return def
	}
	n, err := strconv.Atoi(raw)
	switch {
	case err != nil:
		errs.add(field, fmt.Sprintf("The %s field must be an integer.", label(field)))
	case n < lo:
		errs.add(field, fmt.Sprintf("The %s field must be at least %d.", label(field), lo))
	case n > hi:
		errs.add(field, fmt.Sprintf("The %s field must not be greater than %d.", label(field), hi))
	default:
		return n
	}
	return def
}

// pageRequest is a validated page/per_page pair.
type pageRequest struct{ page, perPage int }

func parsePage(q url.Values, errs *fieldErrors) pageRequest {
	return pageRequest{
		page:    queryInt(q, "page", 1, 1, math.MaxInt32, errs),
		perPage: queryInt(q, "per_page", 15, 1, 100, errs),
	}
}

func (p pageRequest) offset() int { return (p.page - 1) * p.perPage }

type pageLinks struct {
	First *string `json:"first"`
	Last  *string `json:"last"`
	Prev  *string `json:"prev"`
	Next  *string `json:"next"`
}

type pageMeta struct {
	CurrentPage int `json:"current_page"`
	PerPage     int `json:"per_page"`
	Total       int `json:"total"`
	LastPage    int `json:"last_page"`
}

type pageBody[T any] struct {
	Data  []T       `json:"data"`
	Links pageLinks `json:"links"`
	Meta  pageMeta  `json:"meta"`
}

// paginate wraps one page of items the way Laravel's length-aware paginator does: absolute links that
// keep every other query parameter, prev/next null at the ends, last_page at least 1.
func paginate[T any](r *http.Request, p pageRequest, total int, items []T) pageBody[T] {
	if items == nil {
		items = []T{}
	}
	last := max(1, (total+p.perPage-1)/p.perPage)
	link := func(page int) *string {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(page))
		u := url.URL{Scheme: requestScheme(r), Host: r.Host, Path: r.URL.Path, RawQuery: q.Encode()}
		s := u.String()
		return &s
	}
	links := pageLinks{First: link(1), Last: link(last)}
	if p.page > 1 {
		links.Prev = link(p.page - 1)
	}
	if p.page < last {
		links.Next = link(p.page + 1)
	}
	return pageBody[T]{
		Data:  items,
		Links: links,
		Meta:  pageMeta{CurrentPage: p.page, PerPage: p.perPage, Total: total, LastPage: last},
	}
}

func requestScheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// pathID parses the {id} path value; ok is false (and 404 answered) when it is not a positive integer.
func pathID(w http.ResponseWriter, r *http.Request, what string) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		writeMessage(w, http.StatusNotFound, what+" not found.")
		return 0, false
	}
	return id, true
}

// statusWriter remembers the status for the access log. Unwrap lets http.ResponseController and the
// WebSocket upgrader reach the connection underneath.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// muxErrorWriter turns the ServeMux's own plain-text answers (404, 405) into JSON bodies.
type muxErrorWriter struct {
	http.ResponseWriter
	r       *http.Request
	swallow bool
}

func (w *muxErrorWriter) WriteHeader(code int) {
	if code < 400 {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.swallow = true
	msg := "No such route. The Nextvisit API lives under /api/v1/."
	if code == http.StatusMethodNotAllowed {
		msg = fmt.Sprintf("The %s method is not supported for this route. Supported methods: %s.", w.r.Method, w.Header().Get("Allow"))
	}
	w.Header().Del("X-Content-Type-Options")
	writeJSON(w.ResponseWriter, code, message{Message: msg})
}

func (w *muxErrorWriter) Write(b []byte) (int, error) {
	if w.swallow {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// serve is the outermost handler: access log, panic guard, fault injection, then the routes.
func (s *Server) serve(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		_, pattern := mux.Handler(r)
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					// A lost reply (or a handler giving up on its connection): net/http closes it
					// without a stack trace.
					s.log.LogAttrs(r.Context(), slog.LevelInfo, "request aborted",
						slog.String("method", r.Method), slog.String("route", pattern),
						slog.Int("status", sw.status), slog.Duration("duration", time.Since(start)))
					panic(v)
				}
				// The stack, not the value: a value could carry request data.
				s.log.Error("handler panicked", "route", pattern, "stack", string(debug.Stack()))
				if sw.status == 0 {
					writeMessage(sw, http.StatusInternalServerError, msgInternal)
				}
			}
			route := pattern
			if route == "" {
				route = "(no route)"
			}
			// Never the path or query: they can carry ids, search terms and tokens.
			s.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
				slog.String("method", r.Method), slog.String("route", route),
				slog.Int("status", sw.status), slog.Duration("duration", time.Since(start)))
		}()
		v, ok := s.applyFaults(sw, r)
		if !ok {
			return
		}
		var out http.ResponseWriter = sw
		if v.loseReply {
			// The handler runs in full against a writer that keeps nothing; then the connection is
			// cut, so the effect happens and the answer never arrives.
			out = &lostReply{header: http.Header{}}
		}
		if pattern == "" {
			mux.ServeHTTP(&muxErrorWriter{ResponseWriter: out, r: r}, r)
		} else {
			mux.ServeHTTP(out, r)
		}
		if v.loseReply {
			sw.status = out.(*lostReply).status
			panic(http.ErrAbortHandler)
		}
	})
}

// lostReply is the ResponseWriter of a request whose reply the faults drop: it records the status
// for the access log and discards everything else.
type lostReply struct {
	header http.Header
	status int
}

func (w *lostReply) Header() http.Header { return w.header }

func (w *lostReply) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *lostReply) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return len(b), nil
}

// applyFaults adds the configured latency and answers 429 or 503 when the faults say so; it returns
// the verdict and whether the request should go on.
func (s *Server) applyFaults(w http.ResponseWriter, r *http.Request) (verdict, bool) {
	v := s.faults.decide(r.Header.Get("Upgrade") != "")
	if v.latency > 0 {
		t := time.NewTimer(v.latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return v, false
		}
	}
	switch v.status {
	case http.StatusTooManyRequests:
		secs := int(math.Ceil(v.retryAfter.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		writeMessage(w, http.StatusTooManyRequests, fmt.Sprintf("Too Many Attempts. Retry after %d seconds.", secs))
		return v, false
	case http.StatusServiceUnavailable:
		writeMessage(w, http.StatusServiceUnavailable, "Service temporarily unavailable (sandbox fault injection). Retry later.")
		return v, false
	}
	return v, true
}
