package acks

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/guardcast/guardcast/controller/internal/store"
	"github.com/guardcast/guardcast/internal/protocol"
)

func TestWriter(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithCancel(context.Background())
	st, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.AddDevice(ctx, store.Device{ID: "d1", CredSalt: []byte{1}, CredHash: []byte{2}}); err != nil {
		t.Fatal(err)
	}
	committed := make(chan []store.AckRow, 16)
	w := New(st, Options{Linger: time.Millisecond}, func(rows []store.AckRow) { committed <- rows }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	w.now = func() time.Time { return time.UnixMilli(5000) }
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()

	ack := func(a protocol.Ack) []byte { b, _ := json.Marshal(a); return b }
	topic := protocol.UpTopic("d1", protocol.TopicAck)
	good := protocol.Ack{V: 1, Device: "d1", Event: protocol.AckAdopted, Version: 4, At: 1, ClockSynced: true}
	for _, bad := range []struct{ topic, payload string }{
		{topic, `{"v":1,"device":"d1","event":"adopted","version":4,"at":1,"clock_synced":true,"extra":1}`}, // unknown field
		{topic, `{"v":1,"device":"d1","event":"received","version":4,"at":1,"clock_synced":true}`},          // no alert id
		{protocol.UpTopic("d2", protocol.TopicAck), string(ack(good))},                                      // names another device
		{protocol.UpTopic("d1", protocol.TopicStatus), string(ack(good))},                                   // wrong topic
	} {
		w.Handle(ctx, bad.topic, []byte(bad.payload))
	}
	w.Handle(ctx, topic, ack(good))
	w.Handle(ctx, topic, ack(good)) // a resend
	var got []store.AckRow
	for len(got) < 2 {
		select {
		case rows := <-committed:
			got = append(got, rows...)
		case <-time.After(10 * time.Second):
			t.Fatalf("committed %d acks, want 2", len(got))
		}
	}
	if stored, dropped := w.Counts(); stored != 2 || dropped != 4 {
		t.Errorf("counts: stored %d dropped %d", stored, dropped)
	}
	rows, _ := st.Acks(ctx, store.AckFilter{Device: "d1"})
	if len(rows) != 1 || rows[0].ReceivedMS != 5000 {
		t.Errorf("stored %+v", rows)
	}
	if d, _ := st.Device(ctx, "d1"); d.AdoptedVersion != 4 {
		t.Errorf("adopted version %d", d.AdoptedVersion)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
