package cache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/guardcast/guardcast/internal/protocol"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func media(n int) ([]byte, protocol.Item) {
	b := bytes.Repeat([]byte("guard against phone fraud. "), n)
	s := sha256.Sum256(b)
	return b, protocol.Item{SHA256: hex.EncodeToString(s[:]), Size: int64(len(b)), Kind: "text", DurationMS: 1000}
}

// cutOnce serves body, but the first time it sends only the first half and
// then drops the connection. It records the Range headers it saw.
type cutOnce struct {
	body []byte
	mu   sync.Mutex
	cut  bool
	rngs []string
}

func (s *cutOnce) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	first := !s.cut
	s.cut = true
	s.rngs = append(s.rngs, r.Header.Get("Range"))
	s.mu.Unlock()
	if first {
		w.Header().Set("Content-Length", itoa(len(s.body)))
		w.WriteHeader(http.StatusOK)
		w.Write(s.body[:len(s.body)/2])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // cut the body halfway
	}
	http.ServeContent(w, r, "", zeroTime, bytes.NewReader(s.body))
}

func TestResumeAfterCut(t *testing.T) {
	body, it := media(4000)
	srv := &cutOnce{body: body}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	c, err := New(t.TempDir(), ts.Client())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Fetch(ctx, ts.URL+"/media/", it); err == nil {
		t.Fatal("first fetch succeeded despite the cut")
	}
	if c.Has(it.SHA256) {
		t.Fatal("cached after a cut download")
	}
	fi, err := os.Stat(c.Path(it.SHA256) + ".part")
	if err != nil || fi.Size() != int64(len(body)/2) {
		t.Fatalf("part after cut: %v %v", fi, err)
	}
	if err := c.Fetch(ctx, ts.URL+"/media/", it); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(c.Path(it.SHA256))
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("cached bytes differ (err %v)", err)
	}
	want := []string{"", "bytes=" + itoa(len(body)/2) + "-"}
	if d := cmp.Diff(want, srv.rngs); d != "" {
		t.Fatalf("range headers (-want +got):\n%s", d)
	}
	if _, err := os.Stat(c.Path(it.SHA256) + ".part"); !os.IsNotExist(err) {
		t.Fatalf("part left behind: %v", err)
	}
	// Cached: no further request.
	if err := c.Fetch(ctx, ts.URL+"/media/", it); err != nil || len(srv.rngs) != 2 {
		t.Fatalf("refetched a cached item: %v, %d requests", err, len(srv.rngs))
	}
}

func TestServerIgnoringRangeRestarts(t *testing.T) {
	body, it := media(100)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(body) // always 200, whole body
	}))
	defer ts.Close()
	c, _ := New(t.TempDir(), ts.Client())
	os.WriteFile(c.Path(it.SHA256)+".part", body[:50], 0o640)
	if err := c.Fetch(context.Background(), ts.URL+"/", it); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(c.Path(it.SHA256)); !bytes.Equal(got, body) {
		t.Fatal("200 after a range request was appended, not restarted")
	}
}

func TestWrongBytes(t *testing.T) {
	body, it := media(100)
	bad := bytes.ToUpper(body)
	tests := []struct {
		name string
		body []byte
	}{
		{"same size other bytes", bad},
		{"too long", append(append([]byte{}, body...), 'x')},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(tt.body) }))
			defer ts.Close()
			c, _ := New(t.TempDir(), ts.Client())
			err := c.Fetch(context.Background(), ts.URL+"/", it)
			if !errors.Is(err, ErrMismatch) {
				t.Fatalf("err = %v, want ErrMismatch", err)
			}
			ents, _ := os.ReadDir(c.Dir())
			if len(ents) != 0 || c.Has(it.SHA256) {
				t.Fatalf("left %d files after a mismatch", len(ents))
			}
		})
	}
}

func TestHTTPError(t *testing.T) {
	_, it := media(1)
	ts := httptest.NewServer(http.NotFoundHandler())
	defer ts.Close()
	c, _ := New(t.TempDir(), ts.Client())
	if err := c.Fetch(context.Background(), ts.URL+"/", it); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("err = %v", err)
	}
}

func TestPathTricks(t *testing.T) {
	dir := t.TempDir()
	c, _ := New(filepath.Join(dir, "cache"), nil)
	for _, sha := range []string{
		"", "../x", "../../etc/passwd",
		strings.Repeat("A", 64),
		strings.Repeat("a", 63) + "/",
		"../" + strings.Repeat("a", 61),
		strings.Repeat("a", 64) + ".part",
	} {
		it := protocol.Item{SHA256: sha, Size: 1}
		if err := c.Fetch(context.Background(), "http://127.0.0.1:1/", it); !errors.Is(err, ErrBadSHA256) {
			t.Errorf("Fetch(%q) = %v, want ErrBadSHA256", sha, err)
		}
		if c.Path(sha) != "" || c.Has(sha) {
			t.Errorf("Path/Has accepted %q", sha)
		}
	}
}

func TestEvictAndState(t *testing.T) {
	c, _ := New(t.TempDir(), nil)
	a, b, p := strings.Repeat("a", 64), strings.Repeat("b", 64), strings.Repeat("c", 64)
	os.WriteFile(c.Path(a), []byte("aaaa"), 0o640)
	os.WriteFile(c.Path(b), []byte("bb"), 0o640)
	os.WriteFile(c.Path(p)+".part", []byte("c"), 0o640)
	os.WriteFile(filepath.Join(c.Dir(), "README"), []byte("not media"), 0o640)
	d := strings.Repeat("d", 64)
	if d := cmp.Diff(protocol.CacheState{Items: 2, Bytes: 6, Missing: 1}, c.State([]string{a, d, d})); d != "" {
		t.Fatal(d)
	}
	n, err := c.Evict(map[string]bool{a: true})
	if err != nil || n != 2 {
		t.Fatalf("evict = %d, %v", n, err)
	}
	if !c.Has(a) || c.Has(b) {
		t.Fatal("evicted the wrong thing")
	}
	if _, err := os.Stat(filepath.Join(c.Dir(), "README")); err != nil {
		t.Fatal("evicted a file that is not media")
	}
}
