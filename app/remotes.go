package app

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/nextvisit/scribe/sync/store"
)

// Remote is what this profile knows of one server it talks to.
type Remote struct {
	Host      string
	LastRead  time.Time // the last successful read (a GET answered 2xx); zero if never
	LastWrite time.Time // the last successful change (any other method answered 2xx); zero if never
}

// settingRemote + host keeps a Remote (JSON) across runs.
const settingRemote = "remote:"

// remoteSaveEvery bounds how often a host's read time is written to the
// profile: listing and searching must not turn every request into a
// database write. Writes are saved every time (each is one already). The
// times shown during a run are exact; the next run may see a read up to
// this much older.
const remoteSaveEvery = 2 * time.Second

// remotes watches every request Core sends (an http.RoundTripper around
// the real one): any HTTP answer proves the network is back, which wakes
// the outbox, and 2xx answers stamp the host's last read or write.
type remotes struct {
	next   http.RoundTripper
	db     store.Store
	online func() // called on any HTTP answer

	mu    sync.Mutex
	hosts map[string]*remoteState
}

type remoteState struct {
	Remote
	saved time.Time // when it was last written to the profile
}

var _ http.RoundTripper = (*remotes)(nil)

func (r *remotes) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	r.online()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		r.stamp(req.Context(), req.URL.Host, req.Method != http.MethodGet && req.Method != http.MethodHead)
	}
	return resp, nil
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// real transport.
func (r *remotes) CloseIdleConnections() {
	if c, ok := r.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

func (r *remotes) stamp(ctx context.Context, host string, write bool) {
	now := time.Now().UTC()
	r.mu.Lock()
	st := r.hosts[host]
	if st == nil {
		// Start from what earlier runs saw, or saving a read would erase
		// the last write.
		st = &remoteState{Remote: r.stored(ctx, host)}
		r.hosts[host] = st
	}
	if write {
		st.LastWrite = now
	} else {
		st.LastRead = now
	}
	save := write || now.Sub(st.saved) >= remoteSaveEvery
	if save {
		st.saved = now
	}
	snapshot := st.Remote
	r.mu.Unlock()
	if save {
		r.save(ctx, snapshot)
	}
}

func (r *remotes) save(ctx context.Context, rm Remote) {
	b, err := json.Marshal(rm)
	if err != nil {
		return
	}
	// The request's context may end as soon as the body is read; the stamp
	// belongs to the profile, not to the request.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	_ = r.db.SetSetting(ctx, settingRemote+rm.Host, string(b)) // best effort: only a status display
}

// load reads the times kept for host by this or an earlier run.
func (r *remotes) load(ctx context.Context, host string) Remote {
	r.mu.Lock()
	if st, ok := r.hosts[host]; ok {
		defer r.mu.Unlock()
		return st.Remote
	}
	r.mu.Unlock()
	return r.stored(ctx, host)
}

// stored reads the times saved for host; missing or unreadable (edited by
// hand) reads as never.
func (r *remotes) stored(ctx context.Context, host string) Remote {
	rm := Remote{Host: host}
	if v, err := r.db.Setting(ctx, settingRemote+host); err == nil && json.Unmarshal([]byte(v), &rm) == nil {
		rm.Host = host
	}
	return rm
}

// Remotes lists the servers this profile talks to, with the last
// successful read and write of each: the current Nextvisit server first,
// then any other host seen in this run.
func (c *Core) Remotes(ctx context.Context) []Remote {
	var hosts []string
	if server := c.Server(); server != "" {
		hosts = append(hosts, hostOf(server))
	}
	c.remotes.mu.Lock()
	var others []string
	for h := range c.remotes.hosts {
		if len(hosts) == 0 || h != hosts[0] {
			others = append(others, h)
		}
	}
	c.remotes.mu.Unlock()
	sort.Strings(others)
	out := make([]Remote, 0, len(hosts)+len(others))
	for _, h := range append(hosts, others...) {
		out = append(out, c.remotes.load(ctx, h))
	}
	return out
}
