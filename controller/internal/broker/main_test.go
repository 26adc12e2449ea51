package broker

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	code := m.Run()
	stopSharedBroker()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

const (
	ctlUser = "controller"
	ctlPass = "controller-secret-token"
)

// devPass is the test password of every device.
func devPass(id string) string { return "token-of-" + id }

func testCreds(devices ...string) StaticCredentials {
	c := StaticCredentials{}
	c.Add(ctlUser, RoleController, ctlPass)
	for _, d := range devices {
		c.Add(d, RoleDevice, devPass(d))
	}
	return c
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("BROKER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// startBroker runs an embedded broker on a free port for the test's life.
func startBroker(t testing.TB, opts Options, creds Credentials) *Embedded {
	t.Helper()
	opts.Addr = "127.0.0.1:0"
	e, err := New(opts, creds, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
	})
	return e
}

func brokerURL(e *Embedded) string { return "tcp://" + e.Addr().String() }

var clientSeq atomic.Int64

// pahoConnect connects a plain paho client and returns the connect error.
func pahoConnect(t testing.TB, url, clientID, user, pass string, tweak func(*paho.ClientOptions)) (paho.Client, error) {
	t.Helper()
	o := paho.NewClientOptions().AddBroker(url).SetClientID(clientID).
		SetUsername(user).SetPassword(pass).
		SetAutoReconnect(false).SetConnectRetry(false).
		SetConnectTimeout(5 * time.Second).SetOrderMatters(true).
		SetProtocolVersion(4) // else paho retries a refused CONNECT as v3.1
	if tweak != nil {
		tweak(o)
	}
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		c.Disconnect(0)
		return nil, fmt.Errorf("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c, nil
}

func mustPaho(t testing.TB, url, clientID, user, pass string, tweak func(*paho.ClientOptions)) paho.Client {
	t.Helper()
	c, err := pahoConnect(t, url, clientID, user, pass, tweak)
	if err != nil {
		t.Fatalf("connect %s as %s/%s: %v", url, clientID, user, err)
	}
	return c
}
