// Package logs holds Scribe's logging plumbing: a slog handler that redacts
// secrets and patient data before anything reaches a log, and a
// size-rotating log file.
package logs

import "strings"

// keyClass is what an attribute key says about its value.
type keyClass uint8

const (
	keyPlain  keyClass = iota // value kept, strings still scrubbed
	keySecret                 // credentials: always replaced
	keyPerson                 // patient data or clinical content: replaced
	keyURL                    // a link: kept as scheme://host only
)

// secretParts are matched as substrings of the key with separators and
// case removed, so accessToken, X-Api-Key, client_secret and
// refresh_token_expiry all count: a false positive costs one log value, a
// false negative leaks a credential.
var secretParts = []string{
	"token", "password", "passwd", "passphrase", "secret", "apikey",
	"accesskey", "privatekey", "datakey", "authorization", "cookie",
	"verifier", "credential", "bearer", "refresh", "signature",
}

// secretWords are whole words of a key that name a credential but are too
// short to match as substrings ("auth" is inside "author", "pin" inside
// "spinner").
var secretWords = map[string]bool{
	"auth": true, "pwd": true, "otp": true, "pin": true, "jwt": true,
}

// secretKeys are whole keys that are credentials here but ordinary words
// as part of a longer key: an OAuth "code" is a secret, an "error_code" or
// "status_code" is not; a "key" alone is taken to be key material.
var secretKeys = map[string]bool{"code": true, "key": true}

// personWords are whole words of a key that name a person, their contact
// details or the content of a visit. Whole words, not substrings, so
// "hostname", "transcribed" or "notebook" stay visible. The list follows
// the HIPAA identifiers that can reach a log (names, contact data, dates of
// birth, addresses, record numbers) plus every field that carries the
// visit's words (transcript, note, draft, body, search query...), and the
// fields of the Nextvisit API's patient and note objects.
var personWords = map[string]bool{
	"name": true, "names": true, "firstname": true, "lastname": true,
	"middlename": true, "fullname": true, "givenname": true,
	"familyname": true, "surname": true, "username": true,
	"displayname": true, "filename": true,
	"email": true, "emails": true, "mail": true, "phone": true,
	"phones": true, "mobile": true, "telephone": true, "tel": true,
	"fax": true, "dob": true, "birth": true, "birthdate": true,
	"birthday": true, "address": true, "street": true, "city": true,
	"zip": true, "zipcode": true, "postcode": true, "postal": true,
	"ssn": true, "mrn": true, "insurance": true, "gender": true,
	"sex": true, "patient": true, "patients": true, "person": true,
	"text": true, "transcript": true, "transcripts": true,
	"transcription": true, "note": true, "notes": true, "draft": true,
	"drafts": true, "content": true, "contents": true, "body": true,
	"summary": true, "analysis": true, "utterance": true,
	"comment": true, "comments": true, "diagnosis": true,
	"medication": true, "medications": true, "allergies": true,
	"query": true, "search": true,
}

// measureWords end a key whose value describes a person or text without
// being it: patient_id, note_count, body_bytes, transcription_started_at.
// Our identifiers are opaque (UUIDs, server integers), so they may be
// logged and are what a support request needs.
var measureWords = map[string]bool{
	"id": true, "ids": true, "uuid": true, "count": true, "len": true,
	"length": true, "size": true, "bytes": true, "chars": true,
	"version": true, "status": true, "state": true, "kind": true,
	"type": true, "at": true, "time": true,
}

// urlWords name links: the host is useful in a log, the path and query can
// hold patient identifiers and tokens.
var urlWords = map[string]bool{
	"url": true, "urls": true, "uri": true, "href": true, "link": true,
	"endpoint": true, "redirect": true, "location": true,
	"referer": true, "referrer": true, "callback": true,
}

// classify decides what a key says about its value. Keys deliberately left
// plain although they look close: "state" (connection and recording states;
// an OAuth state is a one-time nonce and long ones are masked as values
// anyway), "session" (server session ids), "path" and "dir" (our own
// folders, named by UUIDs), "message" and "reason" (code constants or
// server errors, which are scrubbed as strings).
func classify(key string) keyClass {
	if key == "" {
		return keyPlain
	}
	var buf [8]string
	words := splitKey(key, buf[:0])
	if len(words) == 0 {
		return keyPlain
	}
	joined := strings.Join(words, "")
	if secretKeys[joined] {
		return keySecret
	}
	for _, p := range secretParts {
		if strings.Contains(joined, p) {
			return keySecret
		}
	}
	for _, w := range words {
		if secretWords[w] {
			return keySecret
		}
	}
	if joined == "q" {
		// A search box's query: patient names.
		return keyPerson
	}
	if !measureWords[words[len(words)-1]] {
		if personWords[joined] {
			return keyPerson
		}
		for _, w := range words {
			if personWords[w] {
				return keyPerson
			}
		}
	}
	for _, w := range words {
		if urlWords[w] {
			return keyURL
		}
	}
	return keyPlain
}

// splitKey lowercases key and splits it into words at separators and at
// camelCase boundaries ("accessToken", "APIKey" -> "api", "key").
func splitKey(key string, words []string) []string {
	start := -1
	flush := func(end int) {
		if start >= 0 && end > start {
			words = append(words, strings.ToLower(key[start:end]))
		}
		start = -1
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case isLower(c) || isDigit(c):
			if start < 0 {
				start = i
			}
		case isUpper(c):
			switch {
			case start < 0:
				start = i
			case !isUpper(key[i-1]):
				// fooBar: a new word starts at B.
				flush(i)
				start = i
			case i+1 < len(key) && isLower(key[i+1]):
				// APIKey: the K starts "Key".
				flush(i)
				start = i
			}
		default:
			flush(i)
		}
	}
	flush(len(key))
	return words
}

func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlpha(c byte) bool { return isLower(c) || isUpper(c) }
func isAlnum(c byte) bool { return isAlpha(c) || isDigit(c) }
