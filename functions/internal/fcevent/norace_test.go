//go:build !race

package fcevent

// raceAllocs is what the race detector adds to an allocation count.
const raceAllocs = 0
