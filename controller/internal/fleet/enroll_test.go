package fleet

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"maps"
	"testing"
	"time"

	"github.com/guardcast/guardcast/controller/internal/broker"
	"github.com/guardcast/guardcast/controller/internal/store"
)

func TestEnrollRecordsOutputsAndRetiredDevicesCannotLogIn(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	e := Enrollment{ID: "hall-1", Profile: "hdmi-tv-mpv", BrokerURL: "tcp://127.0.0.1:1883", MediaURL: "http://127.0.0.1/media/", ContentKey: pub,
		Outputs: map[string]string{"audio": "atm-speaker-alsa"}, Inputs: map[string]string{"large-transfer": "gpio-button"}}
	cfg, err := Enroll(ctx, st, e)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(cfg.Outputs, e.Outputs) || !maps.Equal(cfg.Inputs, e.Inputs) {
		t.Errorf("agent config outputs %v inputs %v", cfg.Outputs, cfg.Inputs)
	}
	got, err := st.DeviceOutputs(ctx, "hall-1")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"tv": "hdmi-tv-mpv", "audio": "atm-speaker-alsa"}; !maps.Equal(got, want) {
		t.Errorf("recorded outputs %v, want %v", got, want)
	}

	creds := Credentials{Store: st}
	c, ok, err := creds.LookupCredential("hall-1")
	if err != nil || !ok || c.Role != broker.RoleDevice {
		t.Fatalf("credential before retiring: %+v %v %v", c, ok, err)
	}
	if err := st.RetireDevice(ctx, "hall-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if c, ok, err := creds.LookupCredential("hall-1"); err != nil || ok {
		t.Errorf("retired device's credential: %+v %v %v, want refused", c, ok, err)
	}
}
