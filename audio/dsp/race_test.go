//go:build race

package dsp

// raceEnabled trims the longest tests, which the race detector slows about
// tenfold, to their most distinct cases.
const raceEnabled = true
