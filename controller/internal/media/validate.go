package media

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"
)

// format is one accepted file format: its extension(s), kind, MIME type and
// deep validator. The validator sees the whole content as a ReaderAt and
// returns the duration in milliseconds when it is cheap to know.
type format struct {
	name     string // human name used in errors: "WAV", "PNG"
	kind     Kind
	mime     string
	magic    func(head []byte) bool
	validate func(r io.ReaderAt, size int64) (durationMS int64, err error)
}

var (
	fmtText = format{"text", KindText, "text/plain; charset=utf-8", nil, validateText}
	fmtTpl  = format{"print template", KindPrint, "text/plain; charset=utf-8", nil, validateTemplate}
	fmtWAV  = format{"WAV", KindAudio, "audio/wav", isWAV, validateWAV}
	fmtMP3  = format{"MP3", KindAudio, "audio/mpeg", isMP3, validateMP3}
	fmtOGG  = format{"Ogg", KindAudio, "audio/ogg", isOgg, validateOgg}
	fmtPNG  = format{"PNG", KindImage, "image/png", isPNG, imageValidator("png")}
	fmtJPEG = format{"JPEG", KindImage, "image/jpeg", isJPEG, imageValidator("jpeg")}
	fmtGIF  = format{"GIF", KindImage, "image/gif", isGIF, imageValidator("gif")}
	fmtMP4  = format{"MP4", KindVideo, "video/mp4", isMP4, validateMP4}
	fmtWebM = format{"WebM", KindVideo, "video/webm", isEBML, ebmlValidator("webm")}
	fmtMKV  = format{"Matroska", KindVideo, "video/x-matroska", isEBML, ebmlValidator("matroska")}
)

var formats = map[string]*format{
	".txt":  &fmtText,
	".tpl":  &fmtTpl,
	".wav":  &fmtWAV,
	".mp3":  &fmtMP3,
	".ogg":  &fmtOGG,
	".oga":  &fmtOGG,
	".png":  &fmtPNG,
	".jpg":  &fmtJPEG,
	".jpeg": &fmtJPEG,
	".gif":  &fmtGIF,
	".mp4":  &fmtMP4,
	".m4v":  &fmtMP4,
	".webm": &fmtWebM,
	".mkv":  &fmtMKV,
}

// Extensions lists the accepted file extensions (lower case, with the dot).
func Extensions() []string {
	out := make([]string, 0, len(formats))
	for ext := range formats {
		out = append(out, ext)
	}
	return out
}

// CheckName reports whether name is acceptable as an original media name: a
// plain base name with a known extension. It returns the kind the extension
// implies.
func CheckName(name string) (Kind, error) {
	_, f, err := checkName(name)
	if err != nil {
		return "", err
	}
	return f.kind, nil
}

func checkName(name string) (string, *format, error) {
	switch {
	case name == "":
		return "", nil, badNamef("empty name")
	case len(name) > MaxNameLen:
		return "", nil, badNamef("name is %d bytes, limit is %d", len(name), MaxNameLen)
	case !utf8.ValidString(name):
		return "", nil, badNamef("name is not valid UTF-8")
	case name == "." || name == "..":
		return "", nil, badNamef("name %q is a directory reference", name)
	case strings.ContainsAny(name, "/\\"):
		return "", nil, badNamef("name %q contains a path separator; give a base name only", name)
	case strings.HasPrefix(name, "."):
		return "", nil, badNamef("name %q starts with a dot", name)
	case strings.Contains(name, ".."):
		return "", nil, badNamef("name %q contains \"..\"", name)
	}
	for _, r := range name {
		if r == 0 {
			return "", nil, badNamef("name %q contains a NUL byte", name)
		}
		if unicode.IsControl(r) || isInvisibleTrick(r) {
			return "", nil, badNamef("name %q contains control character %U", name, r)
		}
	}
	if strings.TrimSpace(name) != name {
		return "", nil, badNamef("name %q has leading or trailing spaces", name)
	}
	ext := strings.ToLower(filepath.Ext(name))
	f, ok := formats[ext]
	if !ok {
		if ext == "" {
			return "", nil, &classified{msg: fmt.Sprintf("name %q has no extension; want one of .txt .tpl .wav .mp3 .ogg .png .jpg .gif .mp4 .webm .mkv", name), kind: ErrUnsupported}
		}
		return "", nil, &classified{msg: fmt.Sprintf("extension %q is not supported; want one of .txt .tpl .wav .mp3 .ogg .png .jpg .gif .mp4 .webm .mkv", ext), kind: ErrUnsupported}
	}
	return ext, f, nil
}

// isInvisibleTrick reports characters that make a name display differently
// from what it is: bidi overrides ("gpj.exe" shown reversed), line
// separators, byte-order marks.
func isInvisibleTrick(r rune) bool {
	switch {
	case r == '\u200e' || r == '\u200f' || r == '\u2028' || r == '\u2029' || r == '\ufeff':
		return true
	case r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069':
		return true
	}
	return false
}

// Validate checks content of the given size against the format its name's
// extension promises, deeply: headers, every frame/page/box it can walk
// cheaply, and completeness of the last one. It returns an Info without the
// SHA256 (the caller hashes). It never panics on any input.
func Validate(r io.ReaderAt, size int64, name string) (Info, error) {
	_, f, err := checkName(name)
	if err != nil {
		return Info{}, err
	}
	if size == 0 {
		return Info{}, invalidf("empty file")
	}
	if size > MaxSize {
		return Info{}, tooLargef("file is %d bytes, limit is %d", size, MaxSize)
	}
	head := make([]byte, min(size, 512))
	if _, err := r.ReadAt(head, 0); err != nil && err != io.EOF {
		return Info{}, fmt.Errorf("read: %w", err)
	}
	if f.magic != nil && !f.magic(head) {
		return Info{}, invalidf("extension says %s but content is not %s (looks like %s)", f.name, f.name, describe(head))
	}
	d, err := f.validate(r, size)
	if err != nil {
		return Info{}, err
	}
	return Info{Size: size, Kind: f.kind, MIME: f.mime, Name: name, DurationMS: d}, nil
}

func isWAV(h []byte) bool {
	return len(h) >= 12 && string(h[:4]) == "RIFF" && string(h[8:12]) == "WAVE"
}
func isOgg(h []byte) bool  { return bytes.HasPrefix(h, []byte("OggS")) }
func isPNG(h []byte) bool  { return bytes.HasPrefix(h, []byte("\x89PNG\r\n\x1a\n")) }
func isJPEG(h []byte) bool { return bytes.HasPrefix(h, []byte{0xff, 0xd8, 0xff}) }
func isGIF(h []byte) bool {
	return bytes.HasPrefix(h, []byte("GIF87a")) || bytes.HasPrefix(h, []byte("GIF89a"))
}
func isMP4(h []byte) bool  { return len(h) >= 8 && string(h[4:8]) == "ftyp" }
func isEBML(h []byte) bool { return bytes.HasPrefix(h, []byte{0x1a, 0x45, 0xdf, 0xa3}) }
func isMP3(h []byte) bool {
	if bytes.HasPrefix(h, []byte("ID3")) {
		return true
	}
	_, ok := parseMP3Header(h)
	return ok
}

// describe names what content looks like, for error messages.
func describe(h []byte) string {
	switch {
	case len(h) == 0:
		return "nothing"
	case isWAV(h):
		return "RIFF/WAVE audio"
	case bytes.HasPrefix(h, []byte("RIFF")):
		return "a RIFF file that is not WAVE"
	case isOgg(h):
		return "Ogg"
	case isPNG(h):
		return "a PNG image"
	case isJPEG(h):
		return "a JPEG image"
	case isGIF(h):
		return "a GIF image"
	case isMP4(h):
		return "MP4/QuickTime"
	case isEBML(h):
		return "WebM/Matroska"
	case bytes.HasPrefix(h, []byte("ID3")):
		return "MP3 with an ID3 tag"
	case isMP3(h):
		return "MPEG audio"
	case bytes.HasPrefix(h, []byte("%PDF")):
		return "a PDF document"
	case bytes.HasPrefix(h, []byte("PK\x03\x04")):
		return "a ZIP archive"
	case bytes.HasPrefix(h, []byte("\x7fELF")):
		return "an ELF executable"
	}
	ct := http.DetectContentType(h)
	if ct == "application/octet-stream" {
		return "unknown binary data"
	}
	return ct
}

// sniffMIME returns the Content-Type for stored content from its first bytes.
func sniffMIME(h []byte) string {
	switch {
	case isWAV(h):
		return fmtWAV.mime
	case isOgg(h):
		return fmtOGG.mime
	case isPNG(h):
		return fmtPNG.mime
	case isJPEG(h):
		return fmtJPEG.mime
	case isGIF(h):
		return fmtGIF.mime
	case isMP4(h):
		return fmtMP4.mime
	case isEBML(h):
		if bytes.Contains(h, []byte("webm")) {
			return fmtWebM.mime
		}
		return fmtMKV.mime
	case isMP3(h):
		return fmtMP3.mime
	case validUTF8Prefix(h) && !bytes.ContainsRune(h, 0):
		return fmtText.mime
	}
	return "application/octet-stream"
}

// readAt reads exactly len(p) bytes at off, reporting a clear truncation.
func readFull(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// validUTF8Prefix is utf8.Valid for a prefix that may end mid-rune.
func validUTF8Prefix(h []byte) bool {
	for i := 0; i < 4 && len(h) > 0; i++ {
		if utf8.Valid(h) {
			return true
		}
		h = h[:len(h)-1]
	}
	return utf8.Valid(h)
}
