package daemon

import (
	"time"

	"github.com/guardcast/guardcast/agent/internal/scheduler"
	"github.com/guardcast/guardcast/internal/atomicfile"
	"github.com/guardcast/guardcast/internal/protocol"
)

// alertRetry is the wait before an alert item whose play failed on the
// hardware (sign not answering) is tried again.
const alertRetry = 30 * time.Second

// alertKey is one item of one alert on one output.
type alertKey struct {
	alert, output, sha string
}

// alertProgress is how far one alert item has got on one output. It lives
// in the daemon, not in a player, so that a new document carrying the
// same alert (every document does, until it expires) does not replay a
// once-only warning.
type alertProgress struct {
	played    bool      // played successfully at least once
	lastStart time.Time // start of the last successful play
	retryAt   time.Time // after a hardware failure
}

// alertDue is an alert item to play now.
type alertDue struct {
	alert protocol.Alert
	item  protocol.Item
}

// dueAlert returns the first alert item due on output at now, and
// otherwise the earliest time one will become due (zero: none).
func (d *Daemon) dueAlert(doc *protocol.DesiredState, output string, now time.Time) (alertDue, time.Time, bool) {
	var next time.Time
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, a := range scheduler.Alerts(doc, d.device, now) {
		expires := time.Unix(a.ExpiresAt, 0)
		repeat := time.Duration(a.RepeatEveryMS) * time.Millisecond
		for _, it := range scheduler.AlertItems(&a, output) {
			if !d.cache.Has(it.SHA256) {
				continue // fetching; the cache watch wakes the player
			}
			st := d.alerts[alertKey{a.ID, output, it.SHA256}]
			var due time.Time // zero: now
			switch {
			case st == nil:
			case st.retryAt.After(now):
				due = st.retryAt
			case !st.played:
			case repeat > 0:
				due = st.lastStart.Add(repeat)
			default:
				continue // played once; no repeat
			}
			if !due.After(now) {
				return alertDue{a, it}, time.Time{}, true
			}
			if due.Before(expires) && (next.IsZero() || due.Before(next)) {
				next = due
			}
		}
	}
	return alertDue{}, next, false
}

// alertPlayed records the outcome of an alert play.
func (d *Daemon) alertPlayed(output string, ad alertDue, played bool, start, end time.Time) (first bool) {
	k := alertKey{ad.alert.ID, output, ad.item.SHA256}
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.alerts[k]
	if st == nil {
		st = &alertProgress{}
		d.alerts[k] = st
	}
	if played {
		first = !st.played
		st.played, st.lastStart, st.retryAt = true, start, time.Time{}
		return first
	}
	st.retryAt = end.Add(alertRetry)
	return false
}

// forgetAlerts drops the progress of alerts doc no longer carries.
func (d *Daemon) forgetAlertsLocked(doc *protocol.DesiredState) {
	for k := range d.alerts {
		keep := false
		for _, a := range doc.Alerts {
			if a.ID == k.alert {
				keep = true
			}
		}
		if !keep {
			delete(d.alerts, k)
		}
	}
}

// writeAlertTexts puts the text of every active alert into the media
// cache, content-addressed, so drivers play it like any text item.
func (d *Daemon) writeAlertTexts(doc *protocol.DesiredState) {
	for it, b := range scheduler.AlertTexts(doc, d.device, d.clk.Now()) {
		if d.cache.Has(it.SHA256) {
			continue
		}
		if err := atomicfile.Write(d.cache.Path(it.SHA256), b, 0o640); err != nil {
			d.log.Error("cannot store alert text", "sha256", it.SHA256, "err", err)
			continue
		}
		d.cacheGained()
	}
}

// signForAlerts acknowledges receipt of every active alert addressed to
// this device in doc (once per alert).
func (d *Daemon) signForAlerts(doc *protocol.DesiredState) {
	for _, a := range scheduler.Alerts(doc, d.device, d.clk.Now()) {
		d.ack(protocol.Ack{Event: protocol.AckReceived, Version: doc.Version, Alert: a.ID})
	}
}
