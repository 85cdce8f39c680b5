package ui

import (
	"context"
	"testing"
	"time"
)

// A visit whose draft arrives is announced once, and only then: visits
// already ready when watching starts and later edits are not news.
func TestWatchReadyNotifiesOncePerDraft(t *testing.T) {
	h := newHarness(t, true)
	ctx, cancel := context.WithCancel(t.Context())
	notices := make(chan struct{}, 8)
	done := make(chan error, 1)
	go func() { done <- watchReady(ctx, h.core, func() { notices <- struct{}{} }) }()
	defer func() {
		cancel()
		<-done
	}()

	e := importVisit(h)
	select {
	case <-notices:
	case <-time.After(30 * time.Second):
		t.Fatal("no notification within 30 s of importing the visit")
	}
	v, err := h.core.Visit(t.Context(), e.ID)
	if err != nil || v.Status.Label != "Ready" {
		t.Fatalf("notified, but the visit is %q (%v)", v.Status.Label, err)
	}
	// An edit sent afterwards changes the visit again, but it was already
	// ready: no second notice.
	if err := h.core.SaveDraft(t.Context(), e.ID, "Edited after the notice."); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(15 * time.Second)
	for {
		changed := h.core.JobsChanged()
		v, err := h.core.Visit(t.Context(), e.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !v.Unsent {
			break
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatal("the edit was not sent")
		}
	}
	select {
	case <-notices:
		t.Error("a second notification for the same visit")
	default:
	}
}
