package httpserve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// start serves h with opts on a real loopback listener until the test ends.
func start(t *testing.T, opts Options, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, h, slog.New(slog.NewTextHandler(io.Discard, nil)), opts) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve = %v, want nil after cancel", err)
		}
	})
	return ln.Addr().String()
}

// waitClosed reads conn until the server closes it; the 10 s deadline only
// turns a hang into a failure.
func waitClosed(t *testing.T, conn net.Conn) (string, time.Duration) {
	t.Helper()
	begin := time.Now()
	conn.SetReadDeadline(begin.Add(10 * time.Second))
	b, err := io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("server kept the connection open for 10 s (read %q)", b)
	}
	return string(b), time.Since(begin)
}

func TestSlowBodyIsCutOff(t *testing.T) {
	bodyErr := make(chan error, 1)
	addr := start(t, Options{ReadHeaderTimeout: time.Second, ReadTimeout: 300 * time.Millisecond}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		bodyErr <- err
		if err != nil {
			http.Error(w, "slow body", http.StatusRequestTimeout)
		}
	}))
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /api/x HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
	// Dribble the body, a byte every 20 ms (it would take half an hour),
	// until the server hangs up.
	stop := make(chan struct{})
	dribbled := make(chan struct{})
	go func() {
		defer close(dribbled)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := conn.Write([]byte("{")); err != nil {
					return
				}
			}
		}
	}()
	_, took := waitClosed(t, conn)
	close(stop)
	<-dribbled
	if err := <-bodyErr; err == nil {
		t.Error("handler read the whole dribbled body")
	}
	if took < 200*time.Millisecond {
		t.Errorf("closed after %v, before the 300 ms ReadTimeout", took)
	}
}

func TestSlowHeadersAreCutOff(t *testing.T) {
	addr := start(t, Options{ReadHeaderTimeout: 200 * time.Millisecond}, http.NotFoundHandler())
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\n") // never ends the headers
	waitClosed(t, conn)
}

func TestBodiesAreBounded(t *testing.T) {
	got := make(chan error, 1)
	addr := start(t, Options{MaxBodyBytes: 1 << 10, MaxUploadBytes: 1 << 20, UploadPrefixes: []string{"/api/media"}},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, err := io.Copy(io.Discard, r.Body)
			got <- err
		}))
	for _, tt := range []struct {
		path  string
		size  int
		isErr bool
	}{
		{"/api/org/nodes", 1 << 10, false},
		{"/api/org/nodes", 1<<10 + 1, true},
		{"/anything/else", 4 << 10, true},
		{"/api/media", 512 << 10, false},
		{"/api/media", 1<<20 + 1, true},
	} {
		t.Run(fmt.Sprintf("%s %d", tt.path, tt.size), func(t *testing.T) {
			resp, err := http.Post("http://"+addr+tt.path, "application/octet-stream", bytes.NewReader(make([]byte, tt.size)))
			if err == nil {
				resp.Body.Close()
			}
			err = <-got
			var mbe *http.MaxBytesError
			if tt.isErr != errors.As(err, &mbe) {
				t.Errorf("body read error %v, want a MaxBytesError: %v", err, tt.isErr)
			}
		})
	}
}

// TestStreamOutlivesWriteTimeout: a media download that keeps moving is
// not cut by the short server-wide WriteTimeout; the same response on an
// API path is. The handler pauses for three WriteTimeouts between two
// writes: that pause is the condition under test, not synchronisation.
func TestStreamOutlivesWriteTimeout(t *testing.T) {
	addr := start(t, Options{WriteTimeout: 100 * time.Millisecond, StallTimeout: 2 * time.Second},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "8")
			w.Write([]byte("part1..."[:4]))
			http.NewResponseController(w).Flush()
			<-time.After(300 * time.Millisecond)
			w.Write([]byte("part1..."[4:]))
		}))
	for _, tt := range []struct {
		path string
		ok   bool
	}{{"/media/abc", true}, {"/api/devices", false}} {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := http.Get("http://" + addr + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if tt.ok && (err != nil || string(b) != "part1...") {
				t.Errorf("got %q, %v; want the whole body", b, err)
			}
			if !tt.ok && err == nil {
				t.Errorf("got %q with no error; want the write deadline to cut it", b)
			}
		})
	}
}

func TestProgressWriterKeepsReadFrom(t *testing.T) {
	addr := start(t, Options{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := w.(io.ReaderFrom); !ok {
			t.Error("stream writer lost io.ReaderFrom (sendfile)")
		}
		n, err := io.Copy(w, strings.NewReader(strings.Repeat("x", 3*chunk+7)))
		if n != 3*chunk+7 || err != nil {
			t.Errorf("copied %d, %v", n, err)
		}
	}))
	resp, err := http.Get("http://" + addr + "/media/x")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if len(b) != 3*chunk+7 || err != nil {
		t.Errorf("read %d bytes, %v", len(b), err)
	}
}

// TestUploadOutlivesWriteTimeout: an upload slower than WriteTimeout still
// gets its answer. The client pauses for three WriteTimeouts mid-body:
// that pause is the condition under test.
func TestUploadOutlivesWriteTimeout(t *testing.T) {
	addr := start(t, Options{ReadTimeout: 100 * time.Millisecond, WriteTimeout: 100 * time.Millisecond,
		UploadPrefixes: []string{"/api/media"}, UploadReadTimeout: 5 * time.Second},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n, err := io.Copy(io.Discard, r.Body)
			fmt.Fprintf(w, "%d %v", n, err)
		}))
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte("half"))
		<-time.After(300 * time.Millisecond)
		pw.Write([]byte("half"))
		pw.Close()
	}()
	resp, err := http.Post("http://"+addr+"/api/media", "application/octet-stream", pr)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "8 <nil>" || err != nil {
		t.Errorf("got %q, %v; want the upload read whole and answered", b, err)
	}
}
