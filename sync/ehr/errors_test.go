package ehr_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/nextvisit/scribe/sync/ehr"
)

func TestWithoutURL(t *testing.T) {
	// A request to a closed port: the transport's error names the URL,
	// patient id and all.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+"/api/patients/3001/notes", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, sendErr := http.DefaultClient.Do(req)
	if sendErr == nil || !strings.Contains(sendErr.Error(), "3001") {
		t.Fatalf("the transport error %v does not name the URL; the test proves nothing", sendErr)
	}
	err = ehr.WithoutURL(sendErr)
	if strings.Contains(err.Error(), "3001") || strings.Contains(err.Error(), "/api/") {
		t.Errorf("WithoutURL kept the URL: %v", err)
	}
	var op *net.OpError
	if !errors.As(err, &op) {
		t.Errorf("WithoutURL lost the cause: %v", err)
	}

	ctxErr := ehr.WithoutURL(context.DeadlineExceeded)
	if !errors.Is(ctxErr, context.DeadlineExceeded) {
		t.Errorf("an error without a URL changed: %v", ctxErr)
	}
}

func TestPushOptionsCheck(t *testing.T) {
	good := ehr.PushOptions{Content: ehr.NoteWithCodes, Update: ehr.Append, IdempotencyKey: "k"}
	if err := good.Check(); err != nil {
		t.Errorf("good options: %v", err)
	}
	for _, tc := range []struct {
		edit func(*ehr.PushOptions)
		want string
	}{
		{func(o *ehr.PushOptions) { o.Content = "" }, "content setting"},
		{func(o *ehr.PushOptions) { o.Content = "everything" }, "content setting"},
		{func(o *ehr.PushOptions) { o.Update = "merge" }, "update setting"},
		{func(o *ehr.PushOptions) { o.IdempotencyKey = "" }, "idempotency key"},
	} {
		o := good
		tc.edit(&o)
		if err := o.Check(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Check(%+v) = %v, want an error naming the %s", o, err, tc.want)
		}
	}
}

// TestStatusErrorAlwaysSays: every answer's error has words, also for a
// status with no name.
func TestStatusErrorAlwaysSays(t *testing.T) {
	for _, status := range []int{320, 499, 599, 404} {
		if e := ehr.NewStatusError(ehr.NexHealth, "push note", status, "", "", nil, nil); e.Message == "" {
			t.Errorf("HTTP %d: empty message in %q", status, e.Error())
		}
	}
}
