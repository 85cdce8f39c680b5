// Package audio will hold Scribe's sound path: capture from the microphone
// (PortAudio), the crash-safe journal of short fsynced WAV segments that
// every recording reaches before anything else, import of WAV and MP3
// files, resampling to 16 kHz mono, the level meter and silence detection.
// They arrive with the capture issue; see DESIGN.md, "One encounter, end to
// end".
package audio
