// PortAudio input into a lock-free ring, entirely in C: the audio thread
// never enters Go (no scheduler, no allocation, no locks), and the Go
// writer reads the ring through ring.go, which shares this layout.
#ifndef SCRIBE_PA_CAPTURE_H
#define SCRIBE_PA_CAPTURE_H

#include <portaudio.h>
#include <stdint.h>

typedef struct {
	// Shared with Go's ringState: six 64-bit counters, in this order.
	uint64_t head, tail;
	uint64_t calls, overruns, overrun_frames, overflows;
	// Fixed before the stream starts.
	uint64_t mask;
	int channels;
	float *buf;
	PaStream *stream;
} scribe_capture;

scribe_capture *scribe_capture_new(int channels, uint64_t size);
PaError scribe_capture_open(scribe_capture *c, int device, double rate, double latency);
void scribe_capture_free(scribe_capture *c);

#endif
