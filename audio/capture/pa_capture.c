#include <stdlib.h>
#include <string.h>

#include "pa_capture.h"

// scribe_capture_cb runs on PortAudio's audio thread: two atomic loads, at
// most two memcpys and an atomic store. It is ring.write in ring.go, in C.
static int scribe_capture_cb(const void *input, void *output, unsigned long frames,
	const PaStreamCallbackTimeInfo *time, PaStreamCallbackFlags flags, void *user) {
	(void)output;
	(void)time;
	scribe_capture *c = user;
	__atomic_fetch_add(&c->calls, 1, __ATOMIC_RELAXED);
	if (flags & paInputOverflow) {
		__atomic_fetch_add(&c->overflows, 1, __ATOMIC_RELAXED);
	}
	if (input == NULL) {
		return paContinue;
	}
	uint64_t n = (uint64_t)frames * (uint64_t)c->channels;
	uint64_t size = c->mask + 1;
	uint64_t head = __atomic_load_n(&c->head, __ATOMIC_RELAXED);
	uint64_t tail = __atomic_load_n(&c->tail, __ATOMIC_ACQUIRE);
	if (n > size - (head - tail)) {
		__atomic_fetch_add(&c->overruns, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&c->overrun_frames, frames, __ATOMIC_RELAXED);
		return paContinue;
	}
	uint64_t start = head & c->mask;
	uint64_t first = size - start;
	if (first > n) {
		first = n;
	}
	const float *in = input;
	memcpy(c->buf + start, in, first * sizeof(float));
	memcpy(c->buf, in + first, (n - first) * sizeof(float));
	__atomic_store_n(&c->head, head + n, __ATOMIC_RELEASE);
	return paContinue;
}

scribe_capture *scribe_capture_new(int channels, uint64_t size) {
	scribe_capture *c = calloc(1, sizeof *c);
	if (c == NULL) {
		return NULL;
	}
	c->buf = calloc(size, sizeof(float));
	if (c->buf == NULL) {
		free(c);
		return NULL;
	}
	c->mask = size - 1;
	c->channels = channels;
	return c;
}

PaError scribe_capture_open(scribe_capture *c, int device, double rate, double latency) {
	PaStreamParameters in;
	memset(&in, 0, sizeof in);
	in.device = device;
	in.channelCount = c->channels;
	in.sampleFormat = paFloat32;
	in.suggestedLatency = latency;
	return Pa_OpenStream(&c->stream, &in, NULL, rate, paFramesPerBufferUnspecified, paNoFlag,
		scribe_capture_cb, c);
}

void scribe_capture_free(scribe_capture *c) {
	if (c != NULL) {
		free(c->buf);
		free(c);
	}
}
