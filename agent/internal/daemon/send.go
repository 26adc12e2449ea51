package daemon

import (
	"context"
	"encoding/json"
	"time"

	"github.com/guardcast/guardcast/internal/protocol"
)

func (d *Daemon) ackedSeq() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.acked
}

// sendLoop sends unreceipted records in order while connected, at most
// Window in flight. Receipts, not PUBACKs, decide what is stored: if the
// receipt does not advance within Resend, everything unreceipted is sent
// again (the controller inserts idempotently on device and seq). A new
// connection also starts again from the first unreceipted record.
func (d *Daemon) sendLoop(ctx context.Context) {
	acked := d.ackedSeq()
	sent := acked // highest seq sent on this connection
	var gen uint64
	var timer <-chan time.Time
	var armedAt uint64
	for {
		up, g := d.link.State()
		acked = d.ackedSeq()
		if up && g != gen {
			gen, sent = g, acked
		}
		if sent < acked {
			sent = acked
		}
		failed := false
		for up && sent-acked < uint64(d.o.Window) && ctx.Err() == nil {
			limit := min(d.o.Batch, d.o.Window-int(sent-acked))
			recs, err := d.outbox.Pending(ctx, sent, limit)
			if err != nil {
				d.log.Error("read outbox", "err", err)
				failed = true
				break
			}
			if len(recs) == 0 {
				break
			}
			last := recs[len(recs)-1]
			b := protocol.ProofBatch{
				V: protocol.Version, Device: d.device, Records: recs,
				HeadSig: protocol.SignHead(d.key, d.device, last.Seq, last.Hash()),
			}
			payload, err := json.Marshal(b)
			if err != nil {
				d.log.Error("encode proof batch", "err", err)
				failed = true
				break
			}
			pctx, cancel := context.WithTimeout(ctx, d.o.Resend)
			err = d.link.Publish(pctx, protocol.UpTopic(d.device, protocol.TopicProofs), payload, false)
			cancel()
			if err != nil {
				if ctx.Err() == nil {
					d.log.Warn("proof batch not sent", "first", recs[0].Seq, "last", last.Seq, "err", err)
				}
				failed = true
				break
			}
			d.log.Debug("proof batch sent", "first", recs[0].Seq, "last", last.Seq)
			sent = last.Seq
		}
		if timer == nil && up && (sent > acked || failed) {
			timer, armedAt = d.clk.After(d.o.Resend), acked
		}
		select {
		case <-ctx.Done():
			return
		case <-d.appended:
		case <-d.linkSend:
		case <-d.receipted:
			if d.ackedSeq() > armedAt {
				timer = nil // progress: the next send re-arms from here
			}
		case <-timer:
			timer = nil
			if now := d.ackedSeq(); now == armedAt && sent > now {
				d.log.Warn("no receipt within resend timeout; resending", "from", now+1, "through", sent)
				sent = now
			}
		}
	}
}
