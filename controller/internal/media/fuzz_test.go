package media

import (
	"bytes"
	"testing"
)

// Each validator must return an error, never panic or hang, on any input.
// Seeds are the real samples and their truncations.

func fuzzValidate(f *testing.F, name string, seeds ...[]byte) {
	for _, s := range seeds {
		f.Add(s)
		f.Add(s[:len(s)/2])
		f.Add(s[:min(len(s), 64)])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := Validate(bytes.NewReader(b), int64(len(b)), name)
		if err == nil && (info.Size != int64(len(b)) || info.DurationMS < 0) {
			t.Fatalf("accepted with bad Info %+v", info)
		}
	})
}

func FuzzValidateWAV(f *testing.F) {
	fuzzValidate(f, "x.wav", makeWAV(1, 8000, 8, 100), makeWAV(2, 44100, 16, 400))
}

func FuzzValidateMP3(f *testing.F) {
	fuzzValidate(f, "x.mp3", readSample(f, "atm-voice-zh.mp3")[:2000])
}

func FuzzValidateOgg(f *testing.F) {
	fuzzValidate(f, "x.ogg", readSample(f, "atm-voice-zh.ogg")[:4000])
}

func FuzzValidatePNG(f *testing.F) {
	fuzzValidate(f, "x.png", readSample(f, "poster.png"))
}

func FuzzValidateGIF(f *testing.F) {
	fuzzValidate(f, "x.gif", tinyGIF(f))
}

func FuzzValidateJPEG(f *testing.F) {
	fuzzValidate(f, "x.jpg", tinyJPEG(f))
}

func FuzzValidateMP4(f *testing.F) {
	fuzzValidate(f, "x.mp4", readSample(f, "warning.mp4")[:3000])
}

func FuzzValidateWebM(f *testing.F) {
	fuzzValidate(f, "x.webm", tinyWebM("webm", false))
}

func FuzzValidateText(f *testing.F) {
	fuzzValidate(f, "x.txt", readSample(f, "hotline-zh.txt"))
}

func FuzzValidateTemplate(f *testing.F) {
	fuzzValidate(f, "x.tpl", readSample(f, "keycard-reminder.tpl"), []byte("{{if .Room}}{{.Room}}{{else}}-{{end}}"))
}

func FuzzCheckName(f *testing.F) {
	for _, s := range []string{"a.wav", "../x.txt", "反诈.txt", ".x", "a\x00b.png"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if _, err := CheckName(name); err == nil {
			if bytes.ContainsAny([]byte(name), "/\\\x00") || name[0] == '.' || len(name) > MaxNameLen {
				t.Fatalf("CheckName(%q) accepted a path trick", name)
			}
		}
	})
}
