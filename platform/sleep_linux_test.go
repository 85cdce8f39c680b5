package platform

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// startTestBus runs a private dbus-daemon and returns its address, to stand
// in for the system bus through DBUS_SYSTEM_BUS_ADDRESS.
func startTestBus(t *testing.T) string {
	t.Helper()
	exe, err := exec.LookPath("dbus-daemon")
	if err != nil {
		t.Skip("dbus-daemon is not installed")
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "bus.conf")
	err = os.WriteFile(conf, []byte(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <listen>unix:path=`+filepath.Join(dir, "bus")+`</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
    <allow own="*"/>
  </policy>
</busconfig>
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "--config-file="+conf, "--nofork", "--print-address")
	// Cleanup does not run if the test binary dies (a timeout panic);
	// the daemon must not outlive it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	// The daemon prints its address once it listens.
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- strings.TrimSpace(s)
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case addr := <-line:
		if addr == "" {
			t.Fatal("dbus-daemon exited without printing its address")
		}
		return addr
	case <-time.After(10 * time.Second):
		t.Fatal("dbus-daemon printed no address within 10 s")
	}
	return ""
}

// fakeLogind answers Manager.Inhibit like logind: it keeps the read end of
// a pipe and hands out the write end.
type fakeLogind struct {
	refuse *dbus.Error   // when set, Inhibit fails with it
	block  chan struct{} // when set, Inhibit waits for it to close
	called chan struct{} // gets a value at every call

	mu     sync.Mutex
	args   [][]string
	reads  []*os.File
	writes []*os.File
}

func (f *fakeLogind) Inhibit(what, who, why, mode string) (dbus.UnixFD, *dbus.Error) {
	f.called <- struct{}{}
	if f.block != nil {
		<-f.block
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.args = append(f.args, []string{what, who, why, mode})
	if f.refuse != nil {
		return 0, f.refuse
	}
	r, w, err := os.Pipe()
	if err != nil {
		return 0, dbus.MakeFailedError(err)
	}
	f.reads = append(f.reads, r)
	f.writes = append(f.writes, w)
	return dbus.UnixFD(w.Fd()), nil
}

// serveFakeLogind owns logind's name on the bus at addr.
func serveFakeLogind(t *testing.T, addr string, f *fakeLogind) {
	t.Helper()
	f.called = make(chan struct{}, 8)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	conn, err := dbus.Connect(addr, dbus.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, p := range append(f.reads, f.writes...) {
			_ = p.Close()
		}
	})
	if err := conn.Export(f, logindPath, "org.freedesktop.login1.Manager"); err != nil {
		t.Fatal(err)
	}
	reply, err := conn.RequestName(logindName, dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("own %s on the test bus: reply %v, %v", logindName, reply, err)
	}
}

// openCopies counts this process's descriptors that refer to the same pipe
// (or other object) as f, f's own included.
func openCopies(t *testing.T, f *os.File) int {
	t.Helper()
	raw, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var target string
	// Control, not Fd: Fd would switch f to blocking mode and disable its
	// read deadline.
	if err := raw.Control(func(fd uintptr) {
		target, err = os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	}); err != nil || target == "" {
		t.Fatalf("read link of %s: %v", f.Name(), err)
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && l == target {
			n++
		}
	}
	return n
}

func wantUnsupported(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ErrSleepInhibitUnsupported) {
		t.Fatalf("InhibitSleep = %v, want ErrSleepInhibitUnsupported", err)
	}
	for _, part := range []string{"no logind", "keep the computer awake", "plugged in"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("InhibitSleep error %q does not say %q", err, part)
		}
	}
}

func TestInhibitSleepNoSystemBus(t *testing.T) {
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path="+filepath.Join(t.TempDir(), "no-bus"))
	release, err := InhibitSleep(t.Context(), "recording a visit")
	release()
	wantUnsupported(t, err)
}

func TestInhibitSleepNoLogindOnBus(t *testing.T) {
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", startTestBus(t))
	release, err := InhibitSleep(t.Context(), "recording a visit")
	release()
	wantUnsupported(t, err)
	var de dbus.Error
	if !errors.As(err, &de) || de.Name != "org.freedesktop.DBus.Error.ServiceUnknown" {
		t.Errorf("InhibitSleep = %v, want the bus's ServiceUnknown error in the chain", err)
	}
}

func TestInhibitSleepHoldsLogindInhibitor(t *testing.T) {
	addr := startTestBus(t)
	fake := &fakeLogind{}
	serveFakeLogind(t, addr, fake)
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", addr)

	release, err := InhibitSleep(t.Context(), " recording a visit ")
	if err != nil {
		t.Fatalf("InhibitSleep: %v", err)
	}
	fake.mu.Lock()
	args, r, w := fake.args, fake.reads[0], fake.writes[0]
	fake.mu.Unlock()
	want := []string{"sleep:idle", "Scribe", "recording a visit", "block"}
	if len(args) != 1 || strings.Join(args[0], "|") != strings.Join(want, "|") {
		t.Errorf("logind got Inhibit%q, want one call Inhibit%q", args, want)
	}
	// The reply has arrived, so the fake's copy of the write end can go,
	// as logind's does; only Scribe's copy keeps the inhibitor now.
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if n := openCopies(t, r); n != 2 {
		t.Fatalf("%d descriptors refer to the inhibitor pipe while held, want 2 (logind's end and Scribe's)", n)
	}

	var wg sync.WaitGroup
	for range 4 {
		wg.Go(release)
	}
	wg.Wait()
	release()

	if n := openCopies(t, r); n != 1 {
		t.Errorf("%d descriptors refer to the inhibitor pipe after release, want only logind's", n)
	}
	if err := r.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("logind's end reads %v after release, want EOF (inhibitor dropped)", err)
	}
}

func TestInhibitSleepLogindRefuses(t *testing.T) {
	addr := startTestBus(t)
	fake := &fakeLogind{refuse: dbus.NewError("org.freedesktop.DBus.Error.AccessDenied", []any{"Permission denied"})}
	serveFakeLogind(t, addr, fake)
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", addr)

	release, err := InhibitSleep(t.Context(), "recording a visit")
	release()
	if err == nil {
		t.Fatal("InhibitSleep succeeded although logind refused")
	}
	if errors.Is(err, ErrSleepInhibitUnsupported) {
		t.Errorf("InhibitSleep = %v; a refusal is not ErrSleepInhibitUnsupported", err)
	}
	var de dbus.Error
	if !errors.As(err, &de) || de.Name != "org.freedesktop.DBus.Error.AccessDenied" {
		t.Errorf("InhibitSleep = %v, want logind's AccessDenied in the chain", err)
	}
	if !strings.Contains(err.Error(), "keep the computer awake") {
		t.Errorf("InhibitSleep error %q does not say what to do", err)
	}
}

func TestInhibitSleepContextBoundsSetup(t *testing.T) {
	addr := startTestBus(t)
	fake := &fakeLogind{block: make(chan struct{})}
	serveFakeLogind(t, addr, fake)
	defer close(fake.block)
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", addr)

	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-fake.called
		cancel()
	}()
	release, err := InhibitSleep(ctx, "recording a visit")
	release()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("InhibitSleep cancelled while logind is busy = %v, want context.Canceled", err)
	}
}

func TestInhibitSleepBusNotAnswering(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "mute-bus")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// Accept and say nothing, like a wedged dbus-daemon.
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path="+sock)
	defer func(d time.Duration) { logindTimeout = d }(logindTimeout)
	logindTimeout = 200 * time.Millisecond

	release, err := InhibitSleep(t.Context(), "recording a visit")
	release()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("InhibitSleep with a mute bus = %v, want a timeout", err)
	}
	for _, part := range []string{"did not answer", "keep the computer awake"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("InhibitSleep error %q does not say %q", err, part)
		}
	}
}

// TestInhibitSleepOnThisSystem runs against the real system bus: without
// one, or without logind on it, InhibitSleep must say so; with logind, the
// inhibitor must show in its list until released.
func TestInhibitSleepOnThisSystem(t *testing.T) {
	why := fmt.Sprintf("Scribe test %s %d", t.Name(), os.Getpid())
	conn, err := dbus.ConnectSystemBus(dbus.WithContext(t.Context()))
	if err != nil {
		t.Logf("no system bus here (%v)", err)
		release, err := InhibitSleep(t.Context(), why)
		release()
		wantUnsupported(t, err)
		return
	}
	defer conn.Close()
	var hasLogind bool
	if err := conn.BusObject().CallWithContext(t.Context(), "org.freedesktop.DBus.NameHasOwner", 0, logindName).Store(&hasLogind); err != nil {
		t.Fatal(err)
	}
	if !hasLogind {
		// logind may still be bus-activatable; then InhibitSleep starts it.
		var activatable []string
		if err := conn.BusObject().CallWithContext(t.Context(), "org.freedesktop.DBus.ListActivatableNames", 0).Store(&activatable); err != nil {
			t.Fatal(err)
		}
		for _, n := range activatable {
			hasLogind = hasLogind || n == logindName
		}
	}
	if !hasLogind {
		t.Log("system bus without logind")
		release, err := InhibitSleep(t.Context(), why)
		release()
		wantUnsupported(t, err)
		return
	}

	listed := func() bool {
		var list []struct {
			What, Who, Why, Mode string
			UID, PID             uint32
		}
		err := conn.Object(logindName, logindPath).
			CallWithContext(t.Context(), "org.freedesktop.login1.Manager.ListInhibitors", 0).Store(&list)
		if err != nil {
			t.Fatalf("ListInhibitors: %v", err)
		}
		for _, in := range list {
			if in.Why == why && in.Who == "Scribe" && in.What == "sleep:idle" && in.Mode == "block" && int(in.PID) == os.Getpid() {
				return true
			}
		}
		return false
	}
	release, err := InhibitSleep(t.Context(), why)
	if err != nil {
		t.Fatalf("InhibitSleep with logind on the system bus: %v", err)
	}
	waitFor(t, "the inhibitor to be listed", listed)
	release()
	waitFor(t, "the inhibitor to go after release", func() bool { return !listed() })
}
