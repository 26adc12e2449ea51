package media

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newLib(t *testing.T) *Library {
	t.Helper()
	l, err := Open(filepath.Join(t.TempDir(), "lib"))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// libFiles lists everything in the library dir, to prove failures leave nothing.
func libFiles(t *testing.T, l *Library) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(l.Dir(), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(l.Dir(), p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

func TestAdd(t *testing.T) {
	l := newLib(t)
	wav := makeWAV(1, 16000, 16, 32000)
	src := writeFile(t, t.TempDir(), "in.wav", wav)
	sum := sha256.Sum256(wav)
	want := Info{SHA256: hex.EncodeToString(sum[:]), Size: int64(len(wav)), Kind: KindAudio, MIME: "audio/wav", Name: "prompt.wav", DurationMS: 1000}

	ctx := context.Background()
	got, err := l.Add(ctx, src, "prompt.wav")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("Add (-want +got):\n%s", diff)
	}
	p, _ := l.Path(got.SHA256)
	if wantP := filepath.Join(l.Dir(), got.SHA256[:2], got.SHA256); p != wantP {
		t.Errorf("Path = %s, want %s", p, wantP)
	}
	stored, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(stored, wav) {
		t.Fatalf("stored content differs (err %v)", err)
	}

	// Same content again, under another name: idempotent.
	again, err := l.AddReader(ctx, bytes.NewReader(wav), "again.wav")
	if err != nil {
		t.Fatal(err)
	}
	want.Name = "again.wav"
	if diff := cmp.Diff(want, again); diff != "" {
		t.Errorf("second add (-want +got):\n%s", diff)
	}
	if files := libFiles(t, l); len(files) != 1 {
		t.Errorf("library holds %v, want one file", files)
	}

	f, err := l.Open(got.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if fi, err := l.Stat(got.SHA256); err != nil || fi.Size() != int64(len(wav)) {
		t.Errorf("Stat = %v, %v", fi, err)
	}
	missing := strings.Repeat("0", 64)
	if _, err := l.Open(missing); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open(missing) = %v, want ErrNotFound", err)
	}
	if _, err := l.Stat(missing); !errors.Is(err, ErrNotFound) {
		t.Errorf("Stat(missing) = %v, want ErrNotFound", err)
	}
	for _, bad := range []string{"", "../../etc/passwd", strings.Repeat("A", 64), strings.Repeat("0", 63), strings.Repeat("0", 63) + "/"} {
		if _, err := l.Path(bad); !errors.Is(err, ErrBadSHA) {
			t.Errorf("Path(%q) = %v, want ErrBadSHA", bad, err)
		}
	}
}

type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func TestAddErrorsLeaveNothing(t *testing.T) {
	l := newLib(t)
	src := t.TempDir()
	wav := makeWAV(1, 44100, 16, 88200)
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()

	tests := []struct {
		name    string
		add     func() (Info, error)
		wantErr string
		is      error
	}{
		{"truncated wav", func() (Info, error) {
			return l.Add(ctx, writeFile(t, src, "t.wav", wav[:1044]), "x.wav")
		}, `media add "x.wav": truncated WAV: data chunk declares 88200 bytes, file has 1000`, ErrInvalid},
		{"empty", func() (Info, error) {
			return l.Add(ctx, writeFile(t, src, "e.txt", nil), "e.txt")
		}, `media add "e.txt": empty file`, ErrInvalid},
		{"path trick", func() (Info, error) {
			return l.Add(ctx, writeFile(t, src, "ok.txt", []byte("hi")), "../../etc/cron.d/x.txt")
		}, "path separator", ErrInvalidName},
		{"disk full mid-copy", func() (Info, error) {
			return l.AddReader(ctx, &failingReader{data: wav[:5000], err: errors.New("no space left on device")}, "x.wav")
		}, "no space left on device", nil},
		{"cancelled", func() (Info, error) {
			return l.AddReader(cancelled, bytes.NewReader(wav), "x.wav")
		}, "context canceled", context.Canceled},
		{"missing source", func() (Info, error) {
			return l.Add(ctx, filepath.Join(src, "nope.wav"), "x.wav")
		}, "no such file", os.ErrNotExist},
		{"directory source", func() (Info, error) {
			return l.Add(ctx, src, "x.wav")
		}, "not a regular file", ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.add()
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
			}
			if files := libFiles(t, l); len(files) != 0 {
				t.Errorf("library holds %v after a failed add", files)
			}
		})
	}
}

func TestHandler(t *testing.T) {
	l := newLib(t)
	png := readSample(t, "poster.png")
	info, err := l.AddReader(context.Background(), bytes.NewReader(png), "poster.png")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(l.Handler())
	defer srv.Close()

	get := func(method, path string, hdr ...string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}

	resp, body := get("GET", "/media/"+info.SHA256)
	if resp.StatusCode != 200 || !bytes.Equal(body, png) {
		t.Fatalf("GET: %d, %d bytes", resp.StatusCode, len(body))
	}
	wantHdr := map[string]string{
		"Content-Type":  "image/png",
		"Etag":          `"` + info.SHA256 + `"`,
		"Cache-Control": "public, max-age=31536000, immutable",
		"Accept-Ranges": "bytes",
	}
	for k, v := range wantHdr {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}

	resp, body = get("GET", "/media/"+info.SHA256, "Range", "bytes=10-19")
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, png[10:20]) {
		t.Errorf("Range: %d %q, want 206 %q", resp.StatusCode, body, png[10:20])
	}
	if got, want := resp.Header.Get("Content-Range"), "bytes 10-19/"+itoa(len(png)); got != want {
		t.Errorf("Content-Range = %q, want %q", got, want)
	}

	resp, body = get("HEAD", "/media/"+info.SHA256)
	if resp.StatusCode != 200 || len(body) != 0 || resp.ContentLength != int64(len(png)) {
		t.Errorf("HEAD: %d, body %d, length %d", resp.StatusCode, len(body), resp.ContentLength)
	}
	resp, _ = get("GET", "/media/"+info.SHA256, "If-None-Match", `"`+info.SHA256+`"`)
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %d, want 304", resp.StatusCode)
	}
	resp, _ = get("GET", "/media/"+strings.Repeat("ab", 32))
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("missing: %d, want 404", resp.StatusCode)
	}
	for _, bad := range []string{"xyz", strings.ToUpper(info.SHA256), "..%2f..%2fetc%2fpasswd"} {
		resp, _ = get("GET", "/media/"+bad)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("GET /media/%s: %d, want 400", bad, resp.StatusCode)
		}
	}
	resp, _ = get("POST", "/media/"+info.SHA256)
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", resp.StatusCode)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
