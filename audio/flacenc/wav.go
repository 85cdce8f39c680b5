package flacenc

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// EncodeWAV writes pcm (mono, 16-bit, sampleRate Hz) as a PCM WAV file to w,
// the fallback for servers that refuse FLAC.
func EncodeWAV(w io.Writer, pcm []int16, sampleRate int) error {
	e, err := NewWAVEncoder(w, sampleRate, int64(len(pcm)))
	if err != nil {
		return err
	}
	if err := e.Write(pcm); err != nil {
		return err
	}
	return e.Close()
}

// WAVEncoder streams PCM into a WAV file whose length is given up front,
// so nothing needs holding or seeking back.
type WAVEncoder struct {
	w    io.Writer
	left int64
	buf  []byte
}

var _ io.Closer = (*WAVEncoder)(nil)

// NewWAVEncoder writes the header of a WAV holding samples samples (mono,
// 16-bit, sampleRate Hz); Write must then be given exactly that many.
func NewWAVEncoder(w io.Writer, sampleRate int, samples int64) (*WAVEncoder, error) {
	// The byte rate field is 32 bits; RIFF sizes are too.
	rate, err := checkRate(sampleRate, math.MaxUint32/2)
	if err != nil {
		return nil, err
	}
	const headerRest = 36 // RIFF size counts the header after its own field
	if samples < 0 || uint64(samples)*2 > math.MaxUint32-headerRest {
		return nil, fmt.Errorf("%w: WAV holds at most %d samples; split the audio or use FLAC", ErrTooLong, (math.MaxUint32-headerRest)/2)
	}
	le := binary.LittleEndian
	dataLen := uint32(2 * samples)
	h := make([]byte, 0, 44)
	h = append(h, "RIFF"...)
	h = le.AppendUint32(h, headerRest+dataLen)
	h = append(h, "WAVEfmt "...)
	h = le.AppendUint32(h, 16)   // fmt chunk size
	h = le.AppendUint16(h, 1)    // PCM
	h = le.AppendUint16(h, 1)    // mono
	h = le.AppendUint32(h, rate) // samples per second
	h = le.AppendUint32(h, 2*rate)
	h = le.AppendUint16(h, 2)  // bytes per frame
	h = le.AppendUint16(h, 16) // bits per sample
	h = append(h, "data"...)
	h = le.AppendUint32(h, dataLen)
	if _, err := w.Write(h); err != nil {
		return nil, fmt.Errorf("write WAV header: %w", err)
	}
	return &WAVEncoder{w: w, left: samples, buf: make([]byte, 0, 32<<10)}, nil
}

// Write appends samples; more than the header announced is an error.
func (e *WAVEncoder) Write(pcm []int16) error {
	if int64(len(pcm)) > e.left {
		return fmt.Errorf("%w: %d more samples than the WAV header announced", ErrTooLong, int64(len(pcm))-e.left)
	}
	e.left -= int64(len(pcm))
	for len(pcm) > 0 {
		n := min(len(pcm), cap(e.buf)/2)
		e.buf = appendLE(e.buf[:0], pcm[:n])
		if _, err := e.w.Write(e.buf); err != nil {
			return fmt.Errorf("write WAV data: %w", err)
		}
		pcm = pcm[n:]
	}
	return nil
}

// Close checks that every announced sample was written.
func (e *WAVEncoder) Close() error {
	if e.left != 0 {
		return fmt.Errorf("WAV: %d announced samples were never written", e.left)
	}
	return nil
}
