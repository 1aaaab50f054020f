package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ppter/ppter/shared/auth"
	"github.com/ppter/ppter/shared/wire"
)

// The bounds of the clock correction. The function's server_time comes in an answer that is
// not signed, so it is only a hint, and the function still checks every signature's
// timestamp against its own clock: a forged server_time can cost a failed ping, never an
// accepted one. What it could buy is a signature made for later: a pinger that believes
// its clock is behind signs ahead of it, and whoever captured that ping could replay it,
// from their own address, once the function's clock reaches it — re-pointing the VPN.
// Signing behind its own clock makes no signature that becomes valid later, so the two
// directions have their own bounds.
const (
	// MaxClockBehind bounds the correction of a clock behind the function's (signing
	// ahead of it): 2 hours, a daylight-saving or one-zone mistake and the drift of a
	// router without NTP. A forged server_time can put off a replay by no more than this.
	MaxClockBehind = 2 * time.Hour
	// MaxClockAhead bounds the correction of a clock ahead of the function's (signing
	// behind it, which no forger can use later): 48 hours, every time-zone mistake (up to
	// 14 hours, a router set to local time as UTC: 8 hours in China) and a wrong day.
	// Beyond it the answer is not believed; a clock off by months fails TLS verification
	// before any answer comes.
	MaxClockAhead = 48 * time.Hour
	// clockAgrees is the skew under which the local clock is taken as right and the
	// correction dropped: half the function's window, room for the round trip and
	// server_time's whole seconds.
	clockAgrees = auth.Window / 2
)

// ErrClockSkew means the function refused a ping as stale and its server_time puts the
// local clock further off than the pinger corrects (wrapped with the 401's StatusError).
var ErrClockSkew = errors.New("clock skew beyond what the pinger corrects")

// Clock is the pinger's correction of its host's clock, learnt from the function's
// stale_timestamp answers and kept for the run. One Clock serves every Client of a process.
type Clock struct {
	log    *slog.Logger
	mu     sync.Mutex
	offset time.Duration // added to the local clock when signing
}

// NewClock returns a Clock that corrects nothing yet and logs to log (nil: nowhere).
func NewClock(log *slog.Logger) *Clock {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Clock{log: log}
}

// Offset returns the correction the next ping is signed with.
func (k *Clock) Offset() time.Duration {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.offset
}

// learn takes skew (the function's clock minus the local one) measured from the stale
// answer to a ping signed with used, and reports whether a ping signed now would differ
// enough to be worth one retry. A skew under clockAgrees drops the correction: the local
// clock is right (NTP caught up), so the next ping signs with it. A skew over the bounds
// changes nothing and is an ErrClockSkew.
func (k *Clock) learn(skew, used time.Duration) (retry bool, err error) {
	dir, size, limit := "behind", skew, MaxClockBehind
	if skew < 0 {
		dir, size, limit = "ahead of", -skew, MaxClockAhead
	}
	if size > limit {
		return false, fmt.Errorf("%w: the local clock is %s %s the function's, more than the %s the pinger corrects; set it (NTP)",
			ErrClockSkew, size.Round(time.Second), dir, limit)
	}
	if size < clockAgrees {
		skew = 0
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	switch {
	case skew == k.offset:
	case skew == 0:
		k.log.Info("the local clock agrees with the function's again; signing with it", "skew", size.Round(time.Second).String())
	default:
		k.log.Warn("the local clock is "+dir+" the function's; signing with the function's time for the rest of this run; set the clock (NTP)",
			"skew", size.Round(time.Second).String())
	}
	k.offset = skew
	return (skew - used).Abs() >= clockAgrees, nil
}

// staleAnswer is a stale_timestamp refusal that carried server_time: skew is the
// function's clock minus the local one at the middle of the round trip, used the
// correction the refused ping was signed with.
type staleAnswer struct {
	*StatusError
	skew, used time.Duration
}

func (e *staleAnswer) Unwrap() error { return e.StatusError }

// measured turns err, the answer to a ping sent at sent and signed with used, into a
// staleAnswer when it is a stale_timestamp refusal with the function's time.
func (c *Client) measured(err error, sent time.Time, used time.Duration) error {
	var se *StatusError
	if !errors.As(err, &se) || se.Code != wire.CodeStaleTimestamp || se.ServerTime.IsZero() {
		return err
	}
	mid := sent.Add(c.opts.Now().Sub(sent) / 2)
	// server_time is in whole seconds: the function's clock was half a second later, on
	// average.
	return &staleAnswer{StatusError: se, skew: se.ServerTime.Add(time.Second / 2).Sub(mid), used: used}
}

// Ping sends one signed POST /v1/ping and returns the function's answer (see hedged). When
// the function refuses it as stale and tells its time, the pinger corrects its clock by
// the skew within MaxClockBehind and MaxClockAhead, says so in the log, and retries once;
// the correction holds for the following pings of the run, until a stale answer shows the
// local clock right again.
//
// since, when not nil, is the fleet version of the last answer applied in full: the answer
// may then be a delta (wire.PingResponse.Delta).
func (c *Client) Ping(ctx context.Context, since *int64) (wire.PingResponse, error) {
	pr, err := c.hedged(ctx, since)
	var sa *staleAnswer
	if !errors.As(err, &sa) {
		return pr, err
	}
	retry, cerr := c.opts.Clock.learn(sa.skew, sa.used)
	if cerr != nil {
		return pr, fmt.Errorf("%w: %w", cerr, err)
	}
	if !retry {
		return pr, err
	}
	return c.hedged(ctx, since)
}
