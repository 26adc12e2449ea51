package media

import (
	"errors"
	"io"
	"net/http"
)

// Handler serves GET and HEAD /media/{sha256}. Content is immutable under
// its hash, so responses carry the hash as ETag and a one-year immutable
// Cache-Control; Range requests are served by http.ServeContent so agents
// on flaky links can resume large clips.
func (l *Library) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /media/{sha256}", l.serve)
	return mux
}

func (l *Library) serve(w http.ResponseWriter, r *http.Request) {
	sha := r.PathValue("sha256")
	if err := CheckSHA(sha); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f, err := l.Open(sha)
	if errors.Is(err, ErrNotFound) {
		http.Error(w, "media not found", http.StatusNotFound)
		return
	}
	if err != nil {
		http.Error(w, "media unavailable", http.StatusInternalServerError)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		http.Error(w, "media unavailable", http.StatusInternalServerError)
		return
	}
	head := make([]byte, 512)
	n, _ := io.ReadFull(f, head)
	h := w.Header()
	h.Set("Content-Type", sniffMIME(head[:n]))
	h.Set("ETag", `"`+sha+`"`)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", fi.ModTime(), f)
}
