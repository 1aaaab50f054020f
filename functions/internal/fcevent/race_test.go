//go:build race

package fcevent

// raceAllocs is what the race detector adds to an allocation count: it drops sync.Pool
// items at random (json.Valid keeps its scanner in one).
const raceAllocs = 2
