package logs

import "strings"

// The replacements. They say what was there so a reader of the log can
// still follow what happened.
const (
	Redacted    = "[redacted]"
	maskEmail   = "[email]"
	maskSecret  = "[secret]"
	minTokenRun = 20 // shortest unbroken run taken for a random secret
	minHexRun   = 32 // shortest hex run taken for a key or digest
)

// keyPrefixes start API keys of the services Scribe talks to and the
// common vendors' formats; such a string is a secret however short.
var keyPrefixes = []string{"sp_", "sk_", "pk_", "rk_", "nv_", "nx_", "ghp_", "gho_", "xoxb-", "xoxp-", "AKIA"}

// Scrub masks what in s looks like a secret or contact data: URLs are cut
// to scheme://host (their paths and queries hold identifiers and tokens),
// Bearer/Basic credentials and key=value or "key":"value" pairs whose key
// names a secret or patient data lose their value, e-mail addresses become
// [email], and JWTs, long hex runs, prefixed API keys and long random-looking
// runs become [secret]. Canonical UUIDs are kept: they are Scribe's own
// opaque ids. It cannot recognise a bare name in free text; that is why
// free text must only be logged under a key the handler redacts.
func Scrub(s string) string {
	s = scrubURLs(s)
	s = scrubCredentials(s)
	s = scrubPairs(s)
	s = scrubEmails(s)
	return scrubRuns(s)
}

// isEnd ends a URL or an unquoted value: white space, quotes, angle
// brackets and control bytes.
func isEnd(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '"', '\'', '`', '<', '>':
		return true
	}
	return c < 0x20 || c == 0x7f
}

// scrubURLs cuts every scheme://... to scheme://host, dropping user
// information, path, query and fragment.
func scrubURLs(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	last, i := 0, 0
	for {
		j := strings.Index(s[i:], "://")
		if j < 0 {
			break
		}
		j += i
		a := j + 3
		e := a
		for e < len(s) && !isEnd(s[e]) && s[e] != '/' && s[e] != '?' && s[e] != '#' {
			e++
		}
		host := s[a:e]
		if at := strings.LastIndexByte(host, '@'); at >= 0 {
			host = host[at+1:]
		}
		r := e
		for r < len(s) && !isEnd(s[r]) {
			r++
		}
		b.WriteString(s[last:j])
		b.WriteString("://")
		b.WriteString(host)
		last, i = r, r
		if i >= len(s) {
			break
		}
	}
	b.WriteString(s[last:])
	return b.String()
}

// hasFoldPrefix reports whether s starts with the lower-case ASCII word p,
// ignoring case.
func hasFoldPrefix(s, p string) bool {
	if len(s) < len(p) {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := s[i]
		if isUpper(c) {
			c += 'a' - 'A'
		}
		if c != p[i] {
			return false
		}
	}
	return true
}

// scrubCredentials masks the credential after an HTTP auth scheme:
// "Bearer abc.def" becomes "Bearer [redacted]".
func scrubCredentials(s string) string {
	var b *strings.Builder
	last := 0
	for i := 0; i < len(s); i++ {
		if s[i] != 'b' && s[i] != 'B' || i > 0 && isAlnum(s[i-1]) {
			continue
		}
		var n int
		switch {
		case hasFoldPrefix(s[i:], "bearer"):
			n = len("bearer")
		case hasFoldPrefix(s[i:], "basic"):
			n = len("basic")
		default:
			continue
		}
		v := i + n
		for v < len(s) && (s[v] == ' ' || s[v] == '\t') {
			v++
		}
		if v == i+n || v >= len(s) || isEnd(s[v]) {
			continue
		}
		e := v
		for e < len(s) && !isEnd(s[e]) && s[e] != ',' {
			e++
		}
		if b == nil {
			b = new(strings.Builder)
			b.Grow(len(s))
		}
		b.WriteString(s[last:v])
		b.WriteString(Redacted)
		last = e
		i = e - 1
	}
	if b == nil {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

func isKeyChar(c byte) bool { return isAlnum(c) || c == '_' || c == '-' || c == '.' }

// headerNames are the HTTP headers that carry credentials; "Name: value"
// is only read as a pair for these, since "cannot fetch token: timeout" is
// prose.
var headerNames = map[string]bool{
	"authorization": true, "proxy-authorization": true, "cookie": true,
	"set-cookie": true, "x-api-key": true, "x-auth-token": true, "api-key": true,
}

// scrubPairs masks the value of key=value, "key":value and credential
// header pairs inside a string (query strings, form bodies, JSON error
// bodies echoed by a server) when the key names a secret or patient data.
func scrubPairs(s string) string {
	var b *strings.Builder
	last := 0
	for p := 0; p < len(s); p++ {
		c := s[p]
		if c != '=' && c != ':' {
			continue
		}
		var key string
		header := false
		switch {
		case c == ':' && p > 0 && (s[p-1] == '"' || s[p-1] == ' '):
			q := p - 1
			for q >= last && s[q] == ' ' {
				q--
			}
			if q < last || s[q] != '"' {
				continue
			}
			open := strings.LastIndexByte(s[last:q], '"')
			if open < 0 {
				continue
			}
			key = s[last+open+1 : q]
		default:
			k := p
			for k > last && isKeyChar(s[k-1]) {
				k--
			}
			key = s[k:p]
			if c == ':' {
				if !headerNames[strings.ToLower(key)] {
					continue
				}
				header = true
			}
		}
		if class := classify(key); class != keySecret && class != keyPerson {
			continue
		}
		v := p + 1
		for v < len(s) && s[v] == ' ' {
			v++
		}
		start, end := v, valueEnd(s, v, header)
		if end <= start {
			continue
		}
		if s[start] == '"' && end-start >= 2 && s[end-1] == '"' {
			start, end = start+1, end-1 // keep the quotes: JSON stays readable
		}
		if b == nil {
			b = new(strings.Builder)
			b.Grow(len(s))
		}
		b.WriteString(s[last:start])
		b.WriteString(Redacted)
		last = end
		p = end - 1
	}
	if b == nil {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// valueEnd finds the end of the value starting at v: a quoted string, a
// bracketed JSON object or array, the rest of a header line, or a bare
// word.
func valueEnd(s string, v int, header bool) int {
	if v >= len(s) {
		return v
	}
	switch s[v] {
	case '"':
		for i := v + 1; i < len(s); i++ {
			switch s[i] {
			case '\\':
				i++
			case '"':
				return i + 1
			}
		}
		return len(s)
	case '{', '[':
		depth, inStr := 0, false
		for i := v; i < len(s); i++ {
			switch c := s[i]; {
			case inStr && c == '\\':
				i++
			case c == '"':
				inStr = !inStr
			case inStr:
			case c == '{' || c == '[':
				depth++
			case c == '}' || c == ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return len(s)
	}
	i := v
	for i < len(s) {
		c := s[i]
		if c == '\n' || c == '\r' || c == '"' {
			break
		}
		if !header && (isEnd(c) || c == '&' || c == ',' || c == ';' || c == '}' || c == ')' || c == ']') {
			break
		}
		i++
	}
	return i
}

func isEmailLocal(c byte) bool {
	return isAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'
}

func isEmailDomain(c byte) bool { return isAlnum(c) || c == '.' || c == '-' }

// scrubEmails replaces anything shaped like local@domain with [email].
func scrubEmails(s string) string {
	if strings.IndexByte(s, '@') < 0 {
		return s
	}
	var b *strings.Builder
	last := 0
	for at := 0; at < len(s); at++ {
		if s[at] != '@' {
			continue
		}
		l := at
		for l > last && isEmailLocal(s[l-1]) {
			l--
		}
		r := at + 1
		for r < len(s) && isEmailDomain(s[r]) {
			r++
		}
		if l == at || r == at+1 {
			continue
		}
		if b == nil {
			b = new(strings.Builder)
			b.Grow(len(s))
		}
		b.WriteString(s[last:l])
		b.WriteString(maskEmail)
		last = r
		at = r - 1
	}
	if b == nil {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// isRunChar is the base64url alphabet plus '+' and '='. '/' is left out so
// file paths stay readable; a standard-base64 secret is then cut at its
// slashes and only its long pieces are masked.
func isRunChar(c byte) bool { return isAlnum(c) || c == '_' || c == '-' || c == '+' || c == '=' }

// scrubRuns masks runs that look like keys, tokens or digests.
func scrubRuns(s string) string {
	var b *strings.Builder
	last := 0
	for i := 0; i < len(s); {
		if !isRunChar(s[i]) {
			i++
			continue
		}
		j := i
		jwt := strings.HasPrefix(s[i:], "eyJ")
		for j < len(s) && (isRunChar(s[j]) || jwt && s[j] == '.') {
			j++
		}
		if secretRun(s[i:j], jwt) {
			if b == nil {
				b = new(strings.Builder)
				b.Grow(len(s))
			}
			b.WriteString(s[last:i])
			b.WriteString(maskSecret)
			last = j
		}
		i = j
	}
	if b == nil {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

func secretRun(r string, jwt bool) bool {
	if jwt && len(r) >= 10 {
		return true
	}
	for _, p := range keyPrefixes {
		if len(r) >= len(p)+6 && strings.HasPrefix(r, p) {
			return true
		}
	}
	if len(r) < minTokenRun || isUUID(r) {
		return false
	}
	var digit, upper, lower, hex bool
	hex = len(r) >= minHexRun
	for i := 0; i < len(r); i++ {
		c := r[i]
		switch {
		case isDigit(c):
			digit = true
		case isUpper(c):
			upper = true
			hex = hex && c <= 'F'
		case isLower(c):
			lower = true
			hex = hex && c <= 'f'
		default:
			hex = false
		}
	}
	if hex {
		return true
	}
	return digit && (upper || lower) || upper && lower
}

// isUUID reports whether r is a canonical 8-4-4-4-12 hex UUID.
func isUUID(r string) bool {
	if len(r) != 36 {
		return false
	}
	for i := 0; i < len(r); i++ {
		c := r[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !isDigit(c) && !(c >= 'a' && c <= 'f') && !(c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}
