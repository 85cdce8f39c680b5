package journal

// Segments are written by hand behind a 44-byte canonical header rather than
// with go-audio/wav's Encoder: the Encoder only fixes its size fields in
// Close, so a crash would leave a file claiming 42 bytes of audio, and it
// encodes sample by sample through binary.Write (an allocation per sample).
// Here the header is rewritten with the true sizes at every sync, so a killed
// process leaves a valid WAV short of at most the last SyncInterval. Reading
// and validation go through go-audio/wav's Decoder, an independent parser.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/go-audio/wav"
)

const (
	headerSize     = 44
	bytesPerSample = 2
	// maxDataBytes keeps both RIFF size fields within uint32.
	maxDataBytes = 1<<32 - 1 - (headerSize - 8)
)

// header returns the canonical header of a 16 kHz mono s16le WAV holding
// samples samples.
func header(samples int64) [headerSize]byte {
	var h [headerSize]byte
	data := uint32(samples * bytesPerSample)
	le := binary.LittleEndian
	copy(h[0:], "RIFF")
	le.PutUint32(h[4:], data+headerSize-8)
	copy(h[8:], "WAVEfmt ")
	le.PutUint32(h[16:], 16)                        // fmt chunk size
	le.PutUint16(h[20:], 1)                         // PCM
	le.PutUint16(h[22:], 1)                         // mono
	le.PutUint32(h[24:], SampleRate)                // sample rate
	le.PutUint32(h[28:], SampleRate*bytesPerSample) // bytes per second
	le.PutUint16(h[32:], bytesPerSample)            // block align
	le.PutUint16(h[34:], 8*bytesPerSample)          // bits per sample
	copy(h[36:], "data")
	le.PutUint32(h[40:], data)
	return h
}

// writeHeader writes the header for samples samples at the start of f.
func writeHeader(f File, samples int64) error {
	h := header(samples)
	_, err := f.WriteAt(h[:], 0)
	return err
}

// headerKind classifies the first bytes of a segment during recovery.
type headerKind int

const (
	// headerOurs: our canonical format; only the size fields may be stale.
	headerOurs headerKind = iota
	// headerBlank: shorter than a header, or all zero (created, header not
	// yet durable): safe to rewrite.
	headerBlank
	// headerForeign: something else; never overwritten.
	headerForeign
)

func classifyHeader(b []byte) headerKind {
	if len(b) < headerSize || bytes.Count(b[:headerSize], []byte{0}) == headerSize {
		return headerBlank
	}
	want := header(0)
	if bytes.Equal(b[0:4], want[0:4]) && bytes.Equal(b[8:40], want[8:40]) {
		return headerOurs
	}
	return headerForeign
}

// checkSegment validates a finished segment with go-audio/wav: 16 kHz mono
// 16-bit PCM whose data chunk starts right after the canonical header and
// holds samples samples. stale allows the data size field to lag the file
// (the open segment of a journal still being written).
func checkSegment(f File, size, samples int64, stale bool) error {
	d := wav.NewDecoder(io.NewSectionReader(f, 0, size))
	if err := d.FwdToPCM(); err != nil {
		return fmt.Errorf("no data chunk: %w", err)
	}
	if err := d.Err(); err != nil {
		return fmt.Errorf("not a WAV file: %w", err)
	}
	if d.WavAudioFormat != 1 || d.NumChans != 1 || d.BitDepth != 8*bytesPerSample || d.SampleRate != SampleRate {
		return fmt.Errorf("format is %d-bit, %d channel(s), %d Hz (format tag %d); want 16-bit mono %d Hz PCM",
			d.BitDepth, d.NumChans, d.SampleRate, d.WavAudioFormat, SampleRate)
	}
	if pos, err := d.Seek(0, io.SeekCurrent); err != nil || pos != headerSize {
		return fmt.Errorf("data chunk at byte %d, want %d", pos, headerSize)
	}
	if stale {
		if d.PCMLen() > samples*bytesPerSample {
			return fmt.Errorf("header claims %d bytes of audio, file holds %d", d.PCMLen(), samples*bytesPerSample)
		}
		return nil
	}
	if d.PCMLen() != samples*bytesPerSample {
		return fmt.Errorf("header claims %d bytes of audio, want %d", d.PCMLen(), samples*bytesPerSample)
	}
	if size < headerSize+samples*bytesPerSample {
		return fmt.Errorf("file is %d bytes, too short for %d samples", size, samples)
	}
	return nil
}
