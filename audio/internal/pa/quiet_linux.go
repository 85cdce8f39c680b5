//go:build linux

package pa

/*
#cgo LDFLAGS: -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>

// ALSA and JACK print to stderr while PortAudio probes devices: dozens of
// "Unknown PCM cards.pcm.rear" and "jack server is not running" lines on
// every start, none of them about a device that is used. Their handlers are
// replaced with silent ones, found with dlsym so that nothing is linked that
// PortAudio did not load already.
static void scribe_alsa_quiet(const char *file, int line, const char *fn, int err, const char *fmt, ...) {
	(void)file; (void)line; (void)fn; (void)err; (void)fmt;
}

static void scribe_jack_quiet(const char *msg) {
	(void)msg;
}

typedef void (*alsa_handler)(const char *, int, const char *, int, const char *, ...);
typedef int (*alsa_set)(alsa_handler);
typedef void (*jack_set)(void (*)(const char *));

static void scribe_quiet(void) {
	alsa_set a = (alsa_set)dlsym(RTLD_DEFAULT, "snd_lib_error_set_handler");
	if (a != NULL) {
		a(scribe_alsa_quiet);
	}
	jack_set je = (jack_set)dlsym(RTLD_DEFAULT, "jack_set_error_function");
	if (je != NULL) {
		je(scribe_jack_quiet);
	}
	jack_set ji = (jack_set)dlsym(RTLD_DEFAULT, "jack_set_info_function");
	if (ji != NULL) {
		ji(scribe_jack_quiet);
	}
}
*/
import "C"

// quietAudioLibs silences ALSA's and JACK's stderr chatter; call it before
// PortAudio initialises.
func quietAudioLibs() { C.scribe_quiet() }
