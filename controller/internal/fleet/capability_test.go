package fleet

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/guardcast/guardcast/controller/internal/schedule"
	"github.com/guardcast/guardcast/controller/internal/store"
	"github.com/guardcast/guardcast/internal/protocol"
)

type capturePub struct {
	mu   sync.Mutex
	last map[string][]byte
}

func (p *capturePub) Publish(_ context.Context, topic string, payload []byte, _ bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.last[topic] = payload
	return nil
}

type nopKeys struct{}

func (nopKeys) SetKey(string, ed25519.PublicKey)      {}
func (nopKeys) Receipt(context.Context, string) error { return nil }
func (nopKeys) ForgetKeys()                           {}

// TestHelloCapabilityDecidesTheDocument: the capability a hello announces
// is recorded, and the device's document is encoded for it — a hello
// without one (a deployed agent) gets a document the capability-1 rules
// accept.
func TestHelloCapabilityDecidesTheDocument(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	office, officeKey, _ := ed25519.GenerateKey(rand.Reader)
	comp := schedule.NewCompiler(st, officeKey, schedule.Options{MediaURL: "http://c/media/"}, func() time.Time {
		return time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	})
	pub := &capturePub{last: map[string][]byte{}}
	f := New(st, comp, pub, nopKeys{}, slog.New(slog.DiscardHandler))
	devKey, _, _ := ed25519.GenerateKey(rand.Reader)

	for _, tt := range []struct {
		id         string
		capability int // announced; 0: absent
		want       int // recorded
	}{{"old-1", 0, 1}, {"new-1", 2, 2}} {
		t.Run(tt.id, func(t *testing.T) {
			cfg, err := Enroll(ctx, st, Enrollment{ID: tt.id, Profile: "alpha-sign-serial", BrokerURL: "tcp://127.0.0.1:1883",
				MediaURL: "http://127.0.0.1/media/", ContentKey: office})
			if err != nil {
				t.Fatal(err)
			}
			secret, _ := protocol.DecodeKey(cfg.EnrollSecret, 32)
			h, _ := json.Marshal(protocol.Hello{V: protocol.Version, Device: tt.id, PublicKey: devKey,
				EnrollMAC: protocol.EnrollMAC(secret, tt.id, devKey), NextSeq: 1, Capability: tt.capability})
			f.HandleHello(ctx, protocol.UpTopic(tt.id, protocol.TopicHello), h)
			select {
			case got := <-f.work:
				if got != tt.id {
					t.Fatalf("hello queued %s", got)
				}
			default:
				t.Fatal("hello refused")
			}
			if c, err := st.Capability(ctx, tt.id); err != nil || c != tt.want {
				t.Fatalf("recorded capability %d, %v; want %d", c, err, tt.want)
			}
			if err := f.Publish(ctx, tt.id); err != nil {
				t.Fatal(err)
			}
			pub.mu.Lock()
			doc := pub.last[protocol.DownTopic(tt.id, protocol.TopicDesired)]
			pub.mu.Unlock()
			ds, err := protocol.OpenDesiredAt(doc, []ed25519.PublicKey{office}, tt.want)
			if err != nil || ds.V != tt.want {
				t.Fatalf("document for capability %d: %+v %v", tt.want, ds, err)
			}
			if _, err := protocol.OpenDesiredAt(doc, []ed25519.PublicKey{office}, 1); (err == nil) != (tt.want == 1) {
				t.Fatalf("capability-1 rules on a document for %d: %v", tt.want, err)
			}
		})
	}
}
