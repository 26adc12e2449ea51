package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/mochi-mqtt/server/v2/packets"
)

// redactPackets is the slog.Handler mochi logs through. mochi passes whole
// packets as attributes ("pk", "packet"), and a CONNECT packet holds the
// client's password; this handler replaces every packet-valued attribute,
// and any attribute under those keys, with the packet's type. It also drops
// mochi's own lines about a connection the packet guard refused, so each
// refusal is logged once, by the guard.
type redactPackets struct{ h slog.Handler }

func (r redactPackets) Enabled(ctx context.Context, l slog.Level) bool { return r.h.Enabled(ctx, l) }

func (r redactPackets) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, rec.Message, rec.PC)
	guarded := false
	rec.Attrs(func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok && errors.Is(err, errMalformed) {
			guarded = true
			return false
		}
		out.AddAttrs(redactAttr(a))
		return true
	})
	if guarded {
		return nil // the guard has logged this connection's one line
	}
	return r.h.Handle(ctx, out)
}

func (r redactPackets) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = redactAttr(a)
	}
	return redactPackets{r.h.WithAttrs(red)}
}

func (r redactPackets) WithGroup(name string) slog.Handler {
	return redactPackets{r.h.WithGroup(name)}
}

func redactAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindGroup:
		g := v.Group()
		red := make([]any, len(g))
		for i, ga := range g {
			red[i] = redactAttr(ga)
		}
		return slog.Group(a.Key, red...)
	case slog.KindAny:
		switch p := v.Any().(type) {
		case packets.Packet:
			return slog.String(a.Key, packetSummary(p.FixedHeader.Type))
		case *packets.Packet:
			if p != nil {
				return slog.String(a.Key, packetSummary(p.FixedHeader.Type))
			}
			return a
		}
	}
	switch a.Key {
	case "pk", "packet", "pkx":
		return slog.String(a.Key, "[redacted]")
	}
	return slog.Attr{Key: a.Key, Value: v}
}

func packetSummary(t byte) string { return fmt.Sprintf("[packet type %d, redacted]", t) }
