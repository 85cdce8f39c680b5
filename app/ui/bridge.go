package ui

import (
	"context"
	"sync"
	"time"
)

// bridge is the one place where work leaves the UI goroutine and where its
// results come back. Screens never start goroutines or timers themselves:
// they call run or a debouncer, and every callback those deliver runs on the
// UI goroutine, so no widget is ever touched from anywhere else.
type bridge struct {
	// do hands fn to the UI goroutine. It is fyne.Do in the app; the tests
	// put a queue here that the test goroutine drains, which keeps the
	// race detector honest (the test driver's fyne.Do runs fn in place).
	do func(fn func())

	wg sync.WaitGroup
}

// run calls work on its own goroutine and hands the result to done on the UI
// goroutine. If ctx has been cancelled by the time the result arrives, the
// screen that asked has moved on (new search, screen closed, window gone) and
// done is not called, so stale answers never overwrite newer ones. Cancelling
// happens on the UI goroutine too, so the check cannot race the cancel.
func run[T any](b *bridge, ctx context.Context, work func(context.Context) (T, error), done func(T, error)) {
	b.wg.Go(func() {
		v, err := work(ctx)
		b.do(func() {
			if ctx.Err() != nil {
				return
			}
			done(v, err)
		})
	})
}

// wait blocks until every goroutine started by run has handed its result
// over. Callers cancel the contexts first so this is quick.
func (b *bridge) wait() { b.wg.Wait() }

// debouncer runs the latest of a burst of calls once the burst has been
// quiet for delay, on the UI goroutine: typing "smi" searches once, not
// three times.
type debouncer struct {
	b     *bridge
	delay time.Duration
	gen   uint64 // touched only on the UI goroutine
}

func newDebouncer(b *bridge, delay time.Duration) *debouncer {
	return &debouncer{b: b, delay: delay}
}

// call schedules fn, replacing anything scheduled before. A timer that has
// already fired for an older call finds the generation moved on and does
// nothing, which is why this does not rely on Timer.Stop.
func (d *debouncer) call(fn func()) {
	d.gen++
	gen := d.gen
	time.AfterFunc(d.delay, func() {
		d.b.do(func() {
			if gen == d.gen {
				fn()
			}
		})
	})
}

// cancel drops whatever is scheduled.
func (d *debouncer) cancel() { d.gen++ }
