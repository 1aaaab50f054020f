//go:build !race

package app

// raceAllocs is what the race detector adds to a steady ping's allocations.
const raceAllocs = 0
