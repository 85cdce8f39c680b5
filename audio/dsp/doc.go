// Package dsp holds the small signal-processing pieces of the sound path:
// an anti-aliasing streaming resampler to 16 kHz, downmixing, conversion to
// 16-bit PCM, the 50 ms level meter and the "no audio detected" detector.
// Nothing here allocates per sample or keeps more than a filter's worth of
// history, so the same code serves live capture and hour-long imports.
package dsp
