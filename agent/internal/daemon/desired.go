package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/guardcast/guardcast/internal/atomicfile"
	"os"
	"path/filepath"
	"sync"

	"github.com/guardcast/guardcast/agent/internal/scheduler"
	"github.com/guardcast/guardcast/internal/protocol"
)

// loadDesired restores the last good signed desired state. It is checked
// again against the configured keys: a key removed from the config stops
// being trusted after a restart.
func (d *Daemon) loadDesired() {
	path := filepath.Join(d.state, DesiredFile)
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	if err != nil {
		d.log.Error("cannot read held desired state", "path", path, "err", err)
		return
	}
	doc, err := protocol.OpenDesired(raw, d.trusted)
	if err == nil && doc.Device != d.device {
		err = fmt.Errorf("desired state is for device %q", doc.Device)
	}
	if err != nil {
		d.log.Error("held desired state no longer verifies; starting without one", "path", path, "err", err)
		return
	}
	// Not re-checked for expiry: offline first, the last good schedule
	// keeps playing until something newer is adopted.
	d.raw, d.doc = raw, doc
	d.log.Info("restored desired state", "version", doc.Version)
	d.writeAlertTexts(doc)
	d.signForAlerts(doc) // once per alert: only if not signed before the restart
}

// onDesired adopts a signed desired state or refuses it, keeping the held
// one playing.
func (d *Daemon) onDesired(raw []byte) {
	if len(raw) == 0 {
		d.log.Info("desired state cleared on the broker; keeping the held one")
		return
	}
	d.mu.Lock()
	held, heldDoc := d.raw, d.doc
	d.mu.Unlock()
	if bytes.Equal(raw, held) {
		return // the same document again, e.g. after a reconnect
	}
	// The signature is checked over the payload bytes as received, then
	// they are decoded: fields this agent's capability does not know (from
	// a newer controller) are skipped, the ones it knows validated.
	doc, err := protocol.OpenDesired(raw, d.trusted)
	if err != nil {
		d.refuse(0, err.Error())
		return
	}
	switch now := d.clk.Now().Unix(); {
	case doc.Device != d.device:
		d.refuse(doc.Version, fmt.Sprintf("for device %q", doc.Device))
		return
	case heldDoc != nil && doc.Version < heldDoc.Version:
		d.refuse(doc.Version, fmt.Sprintf("older than held version %d", heldDoc.Version))
		return
	case heldDoc != nil && doc.Version == heldDoc.Version:
		d.refuse(doc.Version, "same version as held, different content")
		return
	case doc.ExpiresAt <= now:
		d.refuse(doc.Version, fmt.Sprintf("expired at %d (agent clock %d)", doc.ExpiresAt, now))
		return
	}
	// Durable first: after a crash the agent must come back with this
	// version as its high-water mark, never an older one.
	if err := atomicfile.Write(filepath.Join(d.state, DesiredFile), raw, 0o600); err != nil {
		d.log.Error("cannot store desired state; not switching", "version", doc.Version, "err", err)
		return
	}
	// An alert's text goes into the cache before the players see the
	// document, so it can preempt at once.
	d.writeAlertTexts(doc)
	d.mu.Lock()
	d.raw, d.doc, d.refused = raw, doc, ""
	d.forgetAlertsLocked(doc)
	close(d.docCh)
	d.docCh = make(chan struct{})
	d.mu.Unlock()
	d.log.Info("adopted desired state", "version", doc.Version, "encoded_for", doc.V, "playlists", len(doc.Playlists),
		"scheduled", doc.Schedule != nil, "alerts", len(doc.Alerts))
	d.ack(protocol.Ack{Event: protocol.AckAdopted, Version: doc.Version})
	d.signForAlerts(doc)
	d.pruneAcks(doc)
	notify(d.statusDirty)
}

func (d *Daemon) refuse(version uint64, why string) {
	msg := why
	if version != 0 {
		msg = fmt.Sprintf("version %d: %s", version, why)
	}
	d.log.Warn("refused desired state; keeping the held one", "reason", msg, "held_version", d.HeldVersion())
	d.mu.Lock()
	d.refused = msg
	d.mu.Unlock()
	notify(d.statusDirty)
}

// snapshot returns the held document and a channel closed when it changes.
func (d *Daemon) snapshot() (*protocol.DesiredState, <-chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.doc, d.docCh
}

func (d *Daemon) cacheWatch() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cacheCh
}

func (d *Daemon) cacheGained() {
	d.mu.Lock()
	close(d.cacheCh)
	d.cacheCh = make(chan struct{})
	d.mu.Unlock()
	notify(d.statusDirty)
}

// fetchLoop brings the cache in line with the held document: fetch what is
// missing (bounded concurrency), then evict what it does not reference;
// retry failures after FetchRetry, start over when the document changes.
func (d *Daemon) fetchLoop(ctx context.Context) {
	for {
		doc, changed := d.snapshot()
		if doc != nil {
			d.fetchRound(ctx, doc, changed)
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

func (d *Daemon) fetchRound(ctx context.Context, doc *protocol.DesiredState, changed <-chan struct{}) {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-changed:
			cancel()
		case <-rctx.Done():
		}
	}()
	base := doc.MediaURL
	if base == "" {
		base = d.cfg.MediaURL
	}
	for {
		now := d.clk.Now()
		keep := map[string]bool{}
		for it := range scheduler.AlertTexts(doc, d.device, now) {
			keep[it.SHA256] = true // written by the agent, never fetched
		}
		var missing []protocol.Item
		for _, it := range scheduler.Media(doc, d.device, now) {
			keep[it.SHA256] = true
			if !d.cache.Has(it.SHA256) {
				missing = append(missing, it)
			}
		}
		failed := d.fetchAll(rctx, base, missing)
		if rctx.Err() != nil {
			return
		}
		if n, err := d.cache.Evict(keep); err != nil {
			d.log.Warn("evict", "err", err)
		} else if n > 0 {
			d.log.Info("evicted media", "files", n)
			notify(d.statusDirty)
		}
		// A round for an older document may have evicted the text of an
		// alert that arrived meanwhile; put it back.
		d.writeAlertTexts(doc)
		if failed == 0 {
			return
		}
		d.log.Warn("media missing; will retry", "failed", failed, "retry_in", d.o.FetchRetry)
		select {
		case <-rctx.Done():
			return
		case <-d.clk.After(d.o.FetchRetry):
		}
	}
}

func (d *Daemon) fetchAll(ctx context.Context, base string, items []protocol.Item) (failed int) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, d.o.FetchConcurrency)
	for _, it := range items {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return len(items)
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := d.cache.Fetch(ctx, base, it); err != nil {
				if ctx.Err() == nil {
					d.log.Warn("fetch media", "sha256", it.SHA256, "err", err)
				}
				mu.Lock()
				failed++
				mu.Unlock()
				return
			}
			d.log.Info("media cached", "sha256", it.SHA256, "bytes", it.Size)
			d.cacheGained()
		})
	}
	wg.Wait()
	return failed
}
