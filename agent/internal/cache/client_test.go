package cache

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/guardcast/guardcast/agent/internal/link/linktest"
	"github.com/guardcast/guardcast/internal/protocol"
)

// TestClientPinnedCA: media comes over HTTPS from a server whose
// certificate names only "localhost" when the client trusts exactly its
// CA; a server signed by another CA is refused and the error says so.
func TestClientPinnedCA(t *testing.T) {
	body, it := media(10)
	ca := linktest.NewCA(t)
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "", zeroTime, bytes.NewReader(body))
	}))
	ts.TLS = ca.ServerTLS(t, "localhost")
	ts.StartTLS()
	defer ts.Close()
	_, port, _ := net.SplitHostPort(ts.Listener.Addr().String())
	base := "https://localhost:" + port + "/media/"

	for _, tt := range []struct {
		name string
		ca   string
		want string // "" = fetched
	}{
		{"pinned CA", ca.PEM, ""},
		{"another CA", linktest.NewCA(t).PEM, "media server certificate was not signed by the configured CA (ca_cert)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tc, err := (&protocol.AgentConfig{CACert: tt.ca}).ClientTLS()
			if err != nil {
				t.Fatal(err)
			}
			client := NewClient(tc, false)
			defer client.CloseIdleConnections()
			c, _ := New(t.TempDir(), client)
			err = c.Fetch(context.Background(), base, it)
			switch {
			case tt.want == "" && err != nil:
				t.Fatal(err)
			case tt.want == "" && !c.Has(it.SHA256):
				t.Fatal("fetched but not cached")
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("err = %v, want %q", err, tt.want)
			case tt.want != "" && c.Has(it.SHA256):
				t.Fatal("cached media from a server signed by another CA")
			}
		})
	}
}

func TestClientRefusesPlaintextOffLoopback(t *testing.T) {
	_, it := media(1)
	c, _ := New(t.TempDir(), NewClient(nil, false))
	// 192.0.2.0/24 is TEST-NET-1: nothing would answer; the refusal comes
	// before any dial.
	err := c.Fetch(context.Background(), "http://192.0.2.1:8081/media/", it)
	if !errors.Is(err, ErrPlaintext) {
		t.Fatalf("err = %v, want ErrPlaintext", err)
	}

	body, it := media(3)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "", zeroTime, bytes.NewReader(body))
	}))
	defer ts.Close()
	client := NewClient(nil, false)
	defer client.CloseIdleConnections()
	c, _ = New(t.TempDir(), client)
	if err := c.Fetch(context.Background(), ts.URL+"/media/", it); err != nil {
		t.Fatalf("loopback plaintext: %v", err)
	}
}
