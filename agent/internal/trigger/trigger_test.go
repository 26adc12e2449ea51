package trigger

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestValidName(t *testing.T) {
	for name, want := range map[string]bool{
		"large-transfer": true, "a": true, strings.Repeat("x", 40): true,
		"": false, strings.Repeat("x", 41): false, "Large": false, "a_b": false, "a/b": false, "..": false, "a b": false,
	} {
		if ValidName(name) != want {
			t.Errorf("ValidName(%q) = %v", name, !want)
		}
	}
}

func TestNewServerRefusesRemote(t *testing.T) {
	f := FirerFunc(func(string) bool { return true })
	for addr, ok := range map[string]bool{
		"127.0.0.1:8787": true, "[::1]:8787": true, "localhost:0": true, "": true,
		":8787": false, "0.0.0.0:8787": false, "192.168.1.5:8787": false, "nonsense": false,
	} {
		_, err := NewServer(Options{Addr: addr}, f, nil)
		if (err == nil) != ok {
			t.Errorf("NewServer(%q): %v", addr, err)
		}
		if !ok && addr != "nonsense" && !errors.Is(err, ErrRemote) {
			t.Errorf("NewServer(%q): %v, want ErrRemote", addr, err)
		}
	}
	if _, err := NewServer(Options{Addr: "0.0.0.0:8787", AllowRemote: true}, f, nil); err != nil {
		t.Fatalf("allowed remote: %v", err)
	}
}

func TestHandler(t *testing.T) {
	var mu sync.Mutex
	var fired []string
	s, err := NewServer(DefaultOpts, FirerFunc(func(name string) bool {
		mu.Lock()
		defer mu.Unlock()
		fired = append(fired, name)
		return name == "large-transfer"
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method, path string
		want         int
	}{
		{"POST", "/trigger/large-transfer", http.StatusAccepted},
		{"POST", "/trigger/unbound", http.StatusNotFound},
		{"POST", "/trigger/Bad_Name", http.StatusBadRequest},
		{"POST", "/trigger/" + strings.Repeat("x", 41), http.StatusBadRequest},
		{"GET", "/trigger/large-transfer", http.StatusMethodNotAllowed},
		{"POST", "/trigger/", http.StatusNotFound},
		{"POST", "/other", http.StatusNotFound},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
		if rec.Code != tt.want {
			t.Errorf("%s %s = %d, want %d", tt.method, tt.path, rec.Code, tt.want)
		}
	}
	if strings.Join(fired, ",") != "large-transfer,unbound" {
		t.Fatalf("fired %v", fired)
	}
}

func TestRun(t *testing.T) {
	got := make(chan string, 1)
	s, _ := NewServer(Options{Addr: "127.0.0.1:0"}, FirerFunc(func(name string) bool { got <- name; return true }), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for s.Addr() == "" {
		if time.Now().After(deadline) {
			t.Fatal("not listening")
		}
		time.Sleep(time.Millisecond)
	}
	resp, err := http.Post("http://"+s.Addr()+"/trigger/pir-1", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || <-got != "pir-1" {
		t.Fatalf("status %d", resp.StatusCode)
	}
	http.DefaultClient.CloseIdleConnections()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Disabled: returns at once.
	off, _ := NewServer(Options{}, FirerFunc(func(string) bool { return true }), nil)
	if off.Enabled() || off.Run(context.Background()) != nil {
		t.Fatal("disabled listener ran")
	}
}
