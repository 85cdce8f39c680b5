package app

import (
	"context"
	"time"
)

// every runs f at once, then each period after the last run ended (and
// sooner when kicked), until ctx ends: the shape of Serve's background
// loops (roster sync, retention).
func every(ctx context.Context, period func() time.Duration, kicked <-chan struct{}, f func(context.Context)) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-kicked:
		}
		f(ctx)
		t.Reset(period())
	}
}

// kick wakes a loop waiting on ch without blocking; one pending kick is
// enough.
func kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
