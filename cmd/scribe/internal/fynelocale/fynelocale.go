// Package fynelocale keeps Fyne quiet on systems whose locale is C.UTF-8
// (the default of Debian and most containers). Fyne's translations look the
// locale up while Fyne initializes, through go-locale, which takes
// "C.UTF-8" for the language "C", fails to parse it, and logs three errors
// on stderr at every start, before main runs — noise in front of every
// command's output. go-locale consults LANGUAGE for such locales, so
// setting LANGUAGE=en makes it answer "en", which is also what Fyne falls
// back to.
//
// main imports this package for its side effect. Go initializes packages
// in import-path order among those whose imports are ready (Go 1.21
// spec), so this one, importing only the standard library, runs before
// Fyne's lang package, which waits for github.com/nicksnyder/go-i18n.
// cmd/scribe's tests check stderr stays clean under LANG=C.UTF-8.
package fynelocale

import (
	"os"
	"strings"
)

func init() {
	if os.Getenv("LANGUAGE") != "" {
		return
	}
	// The first of these that is set is the locale of messages.
	for _, name := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		v := os.Getenv(name)
		if v == "" {
			continue
		}
		// go-locale handles plain "C" and "POSIX" itself.
		if base, _, found := strings.Cut(v, "."); found && (base == "C" || base == "POSIX") {
			os.Setenv("LANGUAGE", "en")
		}
		return
	}
}
