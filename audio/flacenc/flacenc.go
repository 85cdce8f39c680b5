// Package flacenc writes mono 16-bit PCM as FLAC, losslessly and in pure Go,
// for uploading the stretches of a recording the live transcript missed; and
// as WAV for servers that refuse FLAC.
//
// The encoder uses FLAC's fixed polynomial predictors (orders 0–4, the best
// chosen per block) with partitioned Rice coding of the residual, which
// keeps it simple and fast; speech comes out at roughly half its PCM size.
// github.com/mewkiz/flac has an encoder too, but it Rice-codes each subframe
// as a single partition, and at Close it records the short last block as the
// stream's minimum block size and leaves the frame sizes unknown.
package flacenc

import (
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
)

// BlockSize is the number of samples in every frame but the last.
const BlockSize = 4096

// MaxSampleRate is the largest rate STREAMINFO's 20-bit field holds.
const MaxSampleRate = 1<<20 - 1

// maxSamples is the largest total STREAMINFO's 36-bit field holds.
const maxSamples = 1<<36 - 1

var (
	// ErrSampleRate is returned for a sample rate FLAC or WAV cannot carry.
	ErrSampleRate = errors.New("unsupported sample rate")
	// ErrTooLong is returned when the audio exceeds what one file can hold.
	ErrTooLong = errors.New("audio too long for one file")
	// ErrClosed is returned by Write and Close after Close.
	ErrClosed = errors.New("flac encoder closed")
)

// Encoder streams PCM into a FLAC file without holding it: samples are
// coded a block at a time as they are written. STREAMINFO comes first in a
// FLAC file but its total, MD5 and frame sizes are known only at the end, so
// the Encoder writes a placeholder and Close seeks back to fill it in; that
// is why it needs an io.WriteSeeker (a file not opened with O_APPEND).
type Encoder struct {
	w      io.WriteSeeker
	start  int64 // offset of the stream in w
	s      stream
	buf    []int16 // samples waiting for a full block
	err    error   // first error; the stream is unusable after it
	closed bool
}

var _ io.Closer = (*Encoder)(nil)

// NewEncoder writes a FLAC stream header to w at its current offset and
// returns an Encoder for mono 16-bit samples at sampleRate Hz.
func NewEncoder(w io.WriteSeeker, sampleRate int) (*Encoder, error) {
	rate, err := checkRate(sampleRate, MaxSampleRate)
	if err != nil {
		return nil, err
	}
	start, err := w.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, fmt.Errorf("find FLAC stream start: %w", err)
	}
	e := &Encoder{w: w, start: start, s: newStream(w, rate, md5.New())}
	if err := e.s.writeHeader(); err != nil {
		return nil, err
	}
	return e, nil
}

// Write encodes pcm, keeping the samples short of a whole block for the next
// Write or Close.
func (e *Encoder) Write(pcm []int16) error {
	switch {
	case e.closed:
		return ErrClosed
	case e.err != nil:
		return e.err
	case e.s.written+uint64(len(e.buf))+uint64(len(pcm)) > maxSamples:
		e.err = fmt.Errorf("%w: FLAC holds at most %d samples; split the audio", ErrTooLong, uint64(maxSamples))
		return e.err
	}
	if len(e.buf) > 0 {
		n := min(BlockSize-len(e.buf), len(pcm))
		e.buf = append(e.buf, pcm[:n]...)
		pcm = pcm[n:]
		if len(e.buf) < BlockSize {
			return nil
		}
		if e.err = e.s.writeFrame(e.buf); e.err != nil {
			return e.err
		}
		e.buf = e.buf[:0]
	}
	for len(pcm) >= BlockSize {
		if e.err = e.s.writeFrame(pcm[:BlockSize]); e.err != nil {
			return e.err
		}
		pcm = pcm[BlockSize:]
	}
	if e.buf == nil {
		e.buf = make([]int16, 0, BlockSize)
	}
	e.buf = append(e.buf, pcm...)
	return nil
}

// Close encodes the last, short block and completes STREAMINFO. It leaves w
// open, positioned at the end of the stream.
func (e *Encoder) Close() error {
	if e.closed {
		return ErrClosed
	}
	e.closed = true
	if e.err != nil {
		return e.err
	}
	if len(e.buf) > 0 {
		if err := e.s.writeFrame(e.buf); err != nil {
			return err
		}
	}
	e.s.total = e.s.written
	e.s.md5.Sum(e.s.sum[:0])
	end, err := e.w.Seek(0, io.SeekCurrent)
	if err != nil {
		return fmt.Errorf("find FLAC stream end: %w", err)
	}
	if _, err := e.w.Seek(e.start, io.SeekStart); err != nil {
		return fmt.Errorf("seek to FLAC header: %w", err)
	}
	if err := e.s.writeHeader(); err != nil {
		return err
	}
	if _, err := e.w.Seek(end, io.SeekStart); err != nil {
		return fmt.Errorf("seek to FLAC stream end: %w", err)
	}
	return nil
}

// Encode writes pcm (mono, 16-bit, sampleRate Hz) as a FLAC stream to w.
// Knowing all the samples up front, it writes STREAMINFO's total and MD5
// first, so w needs no seeking (an upload body, a pipe); the frame sizes,
// which only encoding reveals, are recorded as unknown (0), as FLAC allows.
func Encode(w io.Writer, pcm []int16, sampleRate int) error {
	rate, err := checkRate(sampleRate, MaxSampleRate)
	if err != nil {
		return err
	}
	if uint64(len(pcm)) > maxSamples {
		return fmt.Errorf("%w: FLAC holds at most %d samples; split the audio", ErrTooLong, uint64(maxSamples))
	}
	s := newStream(w, rate, nil)
	s.total = uint64(len(pcm))
	s.sum = pcmMD5(pcm)
	if err := s.writeHeader(); err != nil {
		return err
	}
	for len(pcm) > 0 {
		n := min(BlockSize, len(pcm))
		if err := s.writeFrame(pcm[:n]); err != nil {
			return err
		}
		pcm = pcm[n:]
	}
	return nil
}

// checkRate returns sampleRate as a uint32 if it lies in 1..limit.
func checkRate(sampleRate, limit int) (uint32, error) {
	if sampleRate < 1 || sampleRate > limit {
		return 0, fmt.Errorf("%w: %d Hz; give the recording's rate, 1 to %d Hz", ErrSampleRate, sampleRate, limit)
	}
	return uint32(sampleRate), nil
}

// stream writes the parts of a FLAC stream and keeps what STREAMINFO records.
type stream struct {
	w                  io.Writer
	rate               uint32
	rateCode           byte           // frame header sample rate code
	rateTail           []byte         // and the bytes it puts at the header's end
	md5                hash.Hash      // of the samples written, or nil
	le                 []byte         // scratch for hashing samples
	total              uint64         // STREAMINFO's total samples
	sum                [md5.Size]byte // STREAMINFO's MD5
	written            uint64         // samples in frames written
	frames             uint64
	minFrame, maxFrame int // bytes; 0 while unknown
	fe                 frameEncoder
}

// newStream prepares a stream whose header states nothing is known about
// its samples until the caller sets total and sum; h, if not nil, hashes the
// samples of each frame written.
func newStream(w io.Writer, rate uint32, h hash.Hash) stream {
	s := stream{w: w, rate: rate, md5: h}
	s.rateCode, s.rateTail = rateCoding(rate)
	return s
}

// rateCoding returns how frame headers state the rate (RFC 9639 §9.1.2).
// Stating it in every frame, rather than the "see STREAMINFO" code, keeps the
// stream in FLAC's streamable subset wherever the codes allow.
func rateCoding(rate uint32) (byte, []byte) {
	// mewkiz/flac logs a line per frame for 24 and 176.4 kHz's codes, so
	// those two take the explicit forms below instead.
	codes := map[uint32]byte{88200: 0x1, 192000: 0x3, 8000: 0x4, 16000: 0x5,
		22050: 0x6, 32000: 0x8, 44100: 0x9, 48000: 0xA, 96000: 0xB}
	be := binary.BigEndian
	switch c, ok := codes[rate]; {
	case ok:
		return c, nil
	case rate%1000 == 0 && rate/1000 <= 255:
		return 0xC, []byte{byte(rate / 1000)}
	case rate <= 65535:
		return 0xD, be.AppendUint16(nil, uint16(rate))
	case rate%10 == 0 && rate/10 <= 65535:
		return 0xE, be.AppendUint16(nil, uint16(rate/10))
	}
	return 0x0, nil
}

// writeHeader writes the "fLaC" marker and STREAMINFO as the last metadata
// block (RFC 9639 §8.2).
func (s *stream) writeHeader() error {
	be := binary.BigEndian
	b := make([]byte, 0, 42)
	b = append(b, "fLaC"...)
	b = append(b, 0x80, 0, 0, 34) // last block, type STREAMINFO, 34 bytes
	// A fixed-size stream states its block size as both minimum and maximum;
	// the last block may be shorter.
	b = be.AppendUint16(b, BlockSize)
	b = be.AppendUint16(b, BlockSize)
	b = append(b, byte(s.minFrame>>16), byte(s.minFrame>>8), byte(s.minFrame))
	b = append(b, byte(s.maxFrame>>16), byte(s.maxFrame>>8), byte(s.maxFrame))
	const channels, bitsPerSample = 1, 16
	b = be.AppendUint64(b, uint64(s.rate)<<44|(channels-1)<<41|(bitsPerSample-1)<<36|s.total)
	b = append(b, s.sum[:]...)
	if _, err := s.w.Write(b); err != nil {
		return fmt.Errorf("write FLAC header: %w", err)
	}
	return nil
}

// writeFrame encodes and writes one block.
func (s *stream) writeFrame(block []int16) error {
	frame := s.fe.encode(block, s.frames, s.rateCode, s.rateTail)
	if _, err := s.w.Write(frame); err != nil {
		return fmt.Errorf("write FLAC frame %d: %w", s.frames, err)
	}
	if s.md5 != nil {
		s.le = appendLE(s.le[:0], block)
		s.md5.Write(s.le)
	}
	s.written += uint64(len(block))
	s.frames++
	if s.minFrame == 0 || len(frame) < s.minFrame {
		s.minFrame = len(frame)
	}
	s.maxFrame = max(s.maxFrame, len(frame))
	return nil
}

// pcmMD5 is the MD5 FLAC records: of the samples as little-endian bytes.
func pcmMD5(pcm []int16) [md5.Size]byte {
	h := md5.New()
	var le []byte
	for len(pcm) > 0 {
		n := min(len(pcm), 16<<10)
		le = appendLE(le[:0], pcm[:n])
		h.Write(le)
		pcm = pcm[n:]
	}
	var sum [md5.Size]byte
	h.Sum(sum[:0])
	return sum
}

func appendLE(b []byte, pcm []int16) []byte {
	for _, v := range pcm {
		b = binary.LittleEndian.AppendUint16(b, uint16(v))
	}
	return b
}
