package broker

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mqtt "github.com/mochi-mqtt/server/v2"

	"github.com/guardcast/guardcast/internal/protocol"
)

// recorder is an inline subscriber on everything, to see what really got
// through the broker.
type recorder struct {
	mu   sync.Mutex
	msgs []Message
	ch   chan Message
}

func newRecorder(t *testing.T, e *Embedded) *recorder {
	r := &recorder{ch: make(chan Message, 1000)}
	b := e.Bus()
	t.Cleanup(func() { b.Close() })
	if err := b.Subscribe(context.Background(), "#", func(m Message) {
		r.mu.Lock()
		r.msgs = append(r.msgs, m)
		r.mu.Unlock()
		r.ch <- m
	}); err != nil {
		t.Fatal(err)
	}
	return r
}

// expectOnly waits for a message on control and fails if any message on
// forbidden arrives before it or within a short window after it. The
// positive control keeps the test from passing vacuously.
func (r *recorder) expectOnly(t *testing.T, control string, forbidden ...string) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	gotControl := false
	var window <-chan time.Time
	for {
		select {
		case m := <-r.ch:
			for _, f := range forbidden {
				if m.Topic == f && string(m.Payload) == "forged" { // mochi itself publishes $SYS topics
					t.Fatalf("forbidden message on %s reached a subscriber", f)
				}
			}
			if m.Topic == control && !gotControl {
				gotControl = true
				window = time.After(200 * time.Millisecond)
			}
		case <-window:
			return
		case <-timeout:
			if !gotControl {
				t.Fatalf("positive control on %s never arrived", control)
			}
			return
		}
	}
}

func TestConnectRefused(t *testing.T) {
	creds := testCreds("dev-a", "dev-b", "inline")
	e := startBroker(t, Options{}, creds)
	url := brokerURL(e)
	will := func(topic string) func(*paho.ClientOptions) {
		return func(o *paho.ClientOptions) { o.SetWill(topic, "offline", 1, true) }
	}
	tests := []struct {
		name, id, user, pass string
		tweak                func(*paho.ClientOptions)
		ok                   bool
	}{
		{name: "anonymous", id: "dev-a"},
		{name: "anonymous with password", id: "dev-a", pass: devPass("dev-a")},
		{name: "wrong password", id: "dev-a", user: "dev-a", pass: "guess"},
		{name: "other device's password", id: "dev-a", user: "dev-a", pass: devPass("dev-b")},
		{name: "unknown user", id: "dev-z", user: "dev-z", pass: devPass("dev-z")},
		{name: "client ID of another device", id: "dev-b", user: "dev-a", pass: devPass("dev-a")},
		{name: "empty client ID", id: "", user: "dev-a", pass: devPass("dev-a")},
		{name: "inline client ID", id: "inline", user: "inline", pass: devPass("inline")},
		{name: "will on other device's status", id: "dev-a", user: "dev-a", pass: devPass("dev-a"), tweak: will(protocol.UpTopic("dev-b", protocol.TopicStatus))},
		{name: "will on own proofs", id: "dev-a", user: "dev-a", pass: devPass("dev-a"), tweak: will(protocol.UpTopic("dev-a", protocol.TopicProofs))},
		{name: "will on own downlink", id: "dev-a", user: "dev-a", pass: devPass("dev-a"), tweak: will(protocol.DownTopic("dev-a", protocol.TopicDesired))},
		{name: "controller with a device client ID", id: "dev-a", user: ctlUser, pass: ctlPass},
		{name: "controller with an overlong client ID", id: "controller:" + strings.Repeat("x", 200), user: ctlUser, pass: ctlPass},

		{name: "device", id: "dev-a", user: "dev-a", pass: devPass("dev-a"), ok: true},
		{name: "device with will on own status", id: "dev-a", user: "dev-a", pass: devPass("dev-a"), tweak: will(protocol.UpTopic("dev-a", protocol.TopicStatus)), ok: true},
		{name: "controller", id: "controller:acl", user: ctlUser, pass: ctlPass, ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.Stats().Refusals
			c, err := pahoConnect(t, url, tt.id, tt.user, tt.pass, tt.tweak)
			if tt.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				c.Disconnect(50)
				return
			}
			if err == nil {
				t.Fatal("connection accepted")
			}
			after := e.Stats().Refusals
			if after.Connect+after.Will != before.Connect+before.Will+1 {
				t.Errorf("refusal not counted: before %+v after %+v", before, after)
			}
		})
	}
}

func TestDeviceSubscribe(t *testing.T) {
	e := startBroker(t, Options{}, testCreds("dev-a", "dev-b"))
	a := mustPaho(t, brokerURL(e), "dev-a", "dev-a", devPass("dev-a"), nil)
	tests := []struct {
		filter string
		ok     bool
	}{
		{"#", false},
		{"+/#", false},
		{"gc/v1/#", false},
		{"gc/v1/dev/+/down/+", false},
		{"gc/v1/dev/dev-a/#", false},
		{"gc/v1/dev/dev-a/up/+", false},
		{protocol.UpTopic("dev-a", protocol.TopicProofs), false},
		{protocol.DownFilter("dev-b"), false},
		{protocol.DownTopic("dev-b", protocol.TopicDesired), false},
		{"$SYS/#", false},
		{"$share/x/gc/v1/dev/+/up/proofs", false},
		{"$share/x/" + protocol.DownFilter("dev-a"), false},
		{protocol.DownFilter("dev-a"), true},
		{protocol.DownTopic("dev-a", protocol.TopicDesired), true},
		{protocol.DownTopic("dev-a", protocol.TopicReceipt), true},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			tok := a.Subscribe(tt.filter, 1, func(paho.Client, paho.Message) {})
			if !tok.WaitTimeout(5 * time.Second) {
				t.Fatal("no SUBACK")
			}
			err := subscribeError(tok, tt.filter)
			if tt.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tt.ok && err == nil {
				t.Fatal("subscription granted")
			}
		})
	}
}

func TestDevicePublish(t *testing.T) {
	e := startBroker(t, Options{}, testCreds("dev-a", "dev-b"))
	rec := newRecorder(t, e)
	url := brokerURL(e)
	control := protocol.UpTopic("dev-a", protocol.TopicHello)

	forbidden := []string{
		protocol.UpTopic("dev-b", protocol.TopicProofs),
		protocol.UpTopic("dev-b", protocol.TopicStatus),
		protocol.UpTopic("dev-b", protocol.TopicHello),
		protocol.DownTopic("dev-a", protocol.TopicDesired),
		protocol.DownTopic("dev-a", protocol.TopicReceipt),
		protocol.DownTopic("dev-b", protocol.TopicDesired),
		"gc/v1/dev/dev-a/up/other",
		"$SYS/broker/version",
		"elsewhere",
	}
	for _, topic := range forbidden {
		t.Run("qos0 "+topic, func(t *testing.T) {
			a := mustPaho(t, url, "dev-a", "dev-a", devPass("dev-a"), nil)
			before := e.Stats().Publish
			a.Publish(topic, 0, false, "forged").WaitTimeout(5 * time.Second)
			a.Publish(control, 0, false, "control").WaitTimeout(5 * time.Second)
			rec.expectOnly(t, control, topic)
			if e.Stats().Publish != before+1 && !strings.HasPrefix(topic, "$SYS") {
				t.Errorf("refusal not counted")
			}
			a.Disconnect(50)
		})
		t.Run("qos1 "+topic, func(t *testing.T) {
			lost := make(chan struct{})
			a := mustPaho(t, url, "dev-a", "dev-a", devPass("dev-a"), func(o *paho.ClientOptions) {
				o.SetConnectionLostHandler(func(paho.Client, error) { close(lost) })
			})
			a.Publish(topic, 1, false, "forged")
			// mochi answers a refused v3 QoS 1 publish by disconnecting;
			// $SYS is dropped silently before the ACL is asked.
			if !strings.HasPrefix(topic, "$SYS") {
				select {
				case <-lost:
				case <-time.After(5 * time.Second):
					t.Fatal("not disconnected after a refused QoS 1 publish")
				}
			}
			a2 := mustPaho(t, url, "dev-a", "dev-a", devPass("dev-a"), nil)
			a2.Publish(control, 1, false, "control").WaitTimeout(5 * time.Second)
			rec.expectOnly(t, control, topic)
			a2.Disconnect(50)
		})
	}

	t.Run("retained outside own status", func(t *testing.T) {
		lost := make(chan struct{})
		a := mustPaho(t, url, "dev-a", "dev-a", devPass("dev-a"), func(o *paho.ClientOptions) {
			o.SetConnectionLostHandler(func(paho.Client, error) { close(lost) })
		})
		topic := protocol.UpTopic("dev-a", protocol.TopicProofs)
		a.Publish(topic, 1, true, "retained proofs")
		select {
		case <-lost:
		case <-time.After(5 * time.Second):
			t.Fatal("not disconnected")
		}
		if e.Stats().Retain == 0 {
			t.Error("retain refusal not counted")
		}
		a2 := mustPaho(t, url, "dev-a", "dev-a", devPass("dev-a"), nil)
		a2.Publish(control, 1, false, "control").WaitTimeout(5 * time.Second)
		rec.expectOnly(t, control, topic)
		if len(e.srv.Topics.Messages(topic)) != 0 {
			t.Error("refused message was retained")
		}
	})

	t.Run("own uplink", func(t *testing.T) {
		a := mustPaho(t, url, "dev-a", "dev-a", devPass("dev-a"), nil)
		for _, name := range []string{protocol.TopicHello, protocol.TopicProofs, protocol.TopicStatus} {
			topic := protocol.UpTopic("dev-a", name)
			if tok := a.Publish(topic, 1, name == protocol.TopicStatus, "ok"); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
				t.Fatalf("publish %s: %v", topic, tok.Error())
			}
			rec.expectOnly(t, topic)
		}
		if len(e.srv.Topics.Messages(protocol.UpTopic("dev-a", protocol.TopicStatus))) != 1 {
			t.Error("own status not retained")
		}
	})
}

func TestDeviceReceivesOnlyOwnDownlink(t *testing.T) {
	e := startBroker(t, Options{}, testCreds("dev-a", "dev-b"))
	bus := e.Bus()
	defer bus.Close()
	ctx := context.Background()
	got := make(chan string, 10)
	a := mustPaho(t, brokerURL(e), "dev-a", "dev-a", devPass("dev-a"), nil)
	if tok := a.Subscribe(protocol.DownFilter("dev-a"), 1, func(_ paho.Client, m paho.Message) { got <- m.Topic() }); !tok.WaitTimeout(5*time.Second) || subscribeError(tok, protocol.DownFilter("dev-a")) != nil {
		t.Fatal("subscribe own downlink failed")
	}
	other := protocol.DownTopic("dev-b", protocol.TopicDesired)
	own := protocol.DownTopic("dev-a", protocol.TopicDesired)
	for _, topic := range []string{other, own} {
		if err := bus.Publish(ctx, topic, []byte("desired"), false); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case topic := <-got:
		if topic != own {
			t.Fatalf("device received %s", topic)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("own downlink not received")
	}
	select {
	case topic := <-got:
		t.Fatalf("device received %s", topic)
	case <-time.After(200 * time.Millisecond):
	}
}

// TestACLDelivery checks the read side of OnACLCheck directly: mochi asks
// it before every delivery, so even a subscription that got in some other
// way (a stored session, a future mochi bug) cannot carry another device's
// messages.
func TestACLDelivery(t *testing.T) {
	h := NewAuthHook(testCreds(), Options{})
	h.roles.Store("dev-a", RoleDevice)
	h.roles.Store(ctlUser, RoleController)
	client := func(id, user string) *mqtt.Client {
		cl := &mqtt.Client{ID: id}
		cl.Properties.Username = []byte(user)
		return cl
	}
	tests := []struct {
		name  string
		cl    *mqtt.Client
		topic string
		write bool
		want  bool
	}{
		{"own downlink", client("dev-a", "dev-a"), protocol.DownTopic("dev-a", protocol.TopicDesired), false, true},
		{"other downlink", client("dev-a", "dev-a"), protocol.DownTopic("dev-b", protocol.TopicDesired), false, false},
		{"other uplink", client("dev-a", "dev-a"), protocol.UpTopic("dev-b", protocol.TopicProofs), false, false},
		{"own uplink read", client("dev-a", "dev-a"), protocol.UpTopic("dev-a", protocol.TopicProofs), false, false},
		{"sys", client("dev-a", "dev-a"), "$SYS/broker/version", false, false},
		{"client ID differs from username", client("dev-b", "dev-a"), protocol.DownTopic("dev-b", protocol.TopicDesired), false, false},
		{"never authenticated", client("dev-x", "dev-x"), protocol.DownTopic("dev-x", protocol.TopicDesired), false, false},
		{"never authenticated write", client("dev-x", "dev-x"), protocol.UpTopic("dev-x", protocol.TopicProofs), true, false},
		{"controller", client("controller:1", ctlUser), "$share/g/gc/v1/dev/+/up/proofs", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := h.OnACLCheck(tt.cl, tt.topic, tt.write); got != tt.want {
				t.Errorf("OnACLCheck(%s, %q, %v) = %v, want %v", tt.cl.ID, tt.topic, tt.write, got, tt.want)
			}
		})
	}
}

func TestCheckPassword(t *testing.T) {
	salt, hash := HashPassword("s3cret")
	c := Credential{Username: "u", Role: RoleDevice, Salt: salt, Hash: hash}
	if !CheckPassword(c, "s3cret") {
		t.Error("right password refused")
	}
	for _, p := range []string{"", "s3cre", "s3cret ", "S3cret"} {
		if CheckPassword(c, p) {
			t.Errorf("wrong password %q accepted", p)
		}
	}
	if CheckPassword(Credential{Username: "u", Role: RoleDevice}, "") {
		t.Error("credential without hash accepted the empty password")
	}
	salt2, _ := HashPassword("s3cret")
	if string(salt) == string(salt2) {
		t.Error("salt reused")
	}
}
