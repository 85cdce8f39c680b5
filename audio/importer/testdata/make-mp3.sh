#!/usr/bin/env bash
# Regenerates the MP3 fixtures. They are committed because no MP3 encoder
# ships with the test dependencies (sox on Debian lacks MP3 writing); this
# needs sox, lame and espeak-ng (apt-get install sox lame espeak-ng).
# Tones are 440 Hz at -6 dBFS, so tests can check frequency and level.
set -euo pipefail
cd "$(dirname "$0")"
tone() { sox -V1 -n -r "$1" -c "$2" -b 16 -t wav - synth "$3" sine 440 gain -6; }

# MPEG-1 44.1 kHz stereo VBR: Xing frame count, ID3v2 with padding, ID3v1.
tone 44100 2 2 | lame --quiet -V 5 --add-id3v2 --pad-id3v2-size 2048 --tt "Test tone" --ta "Scribe" - tone-44k-stereo-vbr.mp3
# MPEG-1 48 kHz stereo CBR without any Xing/Info frame.
tone 48000 2 2 | lame --quiet -b 128 -t - tone-48k-stereo-cbr.mp3
# MPEG-1 32 kHz mono ABR.
tone 32000 1 2 | lame --quiet --abr 48 -m m - tone-32k-mono-abr.mp3
# MPEG-2 22.05 kHz mono CBR at 64 kbps, and 16 kHz mono VBR.
tone 22050 1 2 | lame --quiet -b 64 -m m - tone-22k-mono-cbr64.mp3
# MPEG-2 22.05 kHz at 32 kbps: padded frames that go-mp3 v0.3.4 misreads.
tone 22050 1 2 | lame --quiet -b 32 -m m - tone-22k-mono-cbr32.mp3
tone 16000 1 2 | lame --quiet -V 6 -m m - tone-16k-mono-vbr.mp3
# MPEG-2.5 8 kHz: valid MP3 the decoder (go-mp3) cannot read.
tone 8000 1 1 | lame --quiet -b 16 -m m - tone-8k-mono.mp3
# Speech, 44.1 kHz stereo 128 kbps, no Xing frame, so that the benchmark can
# repeat it seamlessly for an hour.
espeak-ng -s 150 --stdout "The patient reports two weeks of intermittent chest pain, worse on exertion." |
	sox -V1 -t wav - -r 44100 -c 2 -b 16 -t wav - gain -3 |
	lame --quiet -b 128 -t - speech-44k-stereo-cbr.mp3
