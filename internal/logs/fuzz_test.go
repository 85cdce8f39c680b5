package logs

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// plants are secrets and contact data of every shape the scrubber claims
// to catch in free values.
var plants = []string{
	"jane.doe@example.com",
	"sp_sandbox_3f9c1a7e2b6d4058a1c9e7f2d4b6a8c0",
	"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJqYW5lIn0.c2lnbmF0dXJlMTIz",
	"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b",
	"dGhpc2lzYXNlY3JldHRva2VuMTIz",
	"AKIAIOSFODNN7EXAMPLE",
}

// FuzzRedact: whatever surrounds a planted secret or e-mail, and however
// it reaches the handler (string, error, Stringer, bytes, group, With), it
// never comes out, in text or JSON.
func FuzzRedact(f *testing.F) {
	f.Add("note", "before ", " after", uint8(0), uint8(0))
	f.Add("url", "https://x/", "?q=1", uint8(1), uint8(1))
	f.Add("k", `{"a":"`, `"}`, uint8(2), uint8(2))
	f.Add("error", "x://", "@evil", uint8(3), uint8(3))
	f.Add("msg", "Bearer", "", uint8(4), uint8(4))
	f.Add("", "a@", "=", uint8(5), uint8(5))
	f.Add("id", "3f2a1b4c-1234-4abc-8def-0123456789ab", "-", uint8(0), uint8(1))
	f.Fuzz(func(t *testing.T, key, before, after string, which, how uint8) {
		plant := plants[int(which)%len(plants)]
		value := before + plant + after
		var text, js bytes.Buffer
		for _, h := range []slog.Handler{slog.NewTextHandler(&text, nil), slog.NewJSONHandler(&js, nil)} {
			log := slog.New(NewHandler(h))
			switch how % 6 {
			case 0:
				log.Info("m", key, value)
			case 1:
				log.Info("m", key, fmt.Errorf("wrapped: %w", errors.New(value)))
			case 2:
				log.Info("m", slog.Group("g", slog.Group(key, "v", value)))
			case 3:
				log.With(key, value).WithGroup(key).Info("m", key, value)
			case 4:
				log.Info("m", key, []byte(value))
			case 5:
				log.Info("m", key, &stringer{value}, "list", []string{value})
			}
		}
		for _, out := range []string{text.String(), js.String()} {
			if strings.Contains(out, plant) {
				t.Fatalf("planted %q came out:\n%s", plant, out)
			}
		}
	})
}
