package media

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	wav := makeWAV(1, 44100, 16, 88200)
	mp3 := readSample(t, "atm-voice-zh.mp3")
	ogg := readSample(t, "atm-voice-zh.ogg")
	png := readSample(t, "poster.png")
	mp4 := readSample(t, "warning.mp4")
	sampleWAV := readSample(t, "atm-voice-zh.wav")

	oggBadCRC := bytes.Clone(ogg)
	oggBadCRC[len(oggBadCRC)-1] ^= 0xff
	oggNoEOS := bytes.Clone(ogg)
	// Clear EOS on the last page and fix nothing else: CRC must then fail
	// first, so instead cut the file after its first page (no EOS there).
	firstPage := 27 + int(ogg[26])
	for _, s := range ogg[27 : 27+int(ogg[26])] {
		firstPage += int(s)
	}
	oggNoEOS = oggNoEOS[:firstPage]

	tests := []struct {
		name    string
		file    string
		data    []byte
		wantErr string // substring; "" means valid
		kind    Kind
		durMS   int64
	}{
		{name: "wav ok", file: "a.wav", data: wav, kind: KindAudio, durMS: 1000},
		{name: "wav sample", file: "a.wav", data: sampleWAV, kind: KindAudio, durMS: 5759},
		{name: "wav stereo 24-bit", file: "a.WAV", data: makeWAV(2, 48000, 24, 6*4800), kind: KindAudio, durMS: 100},
		{name: "wav truncated", file: "x.wav", data: wav[:1044], wantErr: "truncated WAV: data chunk declares 88200 bytes, file has 1000"},
		{name: "wav header only", file: "x.wav", data: wav[:10], wantErr: "not WAV"},
		{name: "wav not riff", file: "x.wav", data: png, wantErr: "extension says WAV but content is not WAV (looks like a PNG image)"},
		{name: "wav rate 4000", file: "x.wav", data: patch(wav, 24, le32(4000)...), wantErr: "sample rate 4000 Hz"},
		{name: "wav 12 channels", file: "x.wav", data: patch(wav, 22, le16(12)...), wantErr: "12 channels"},
		{name: "wav 12 bits", file: "x.wav", data: patch(wav, 34, le16(12)...), wantErr: "12 bits"},
		{name: "wav adpcm", file: "x.wav", data: patch(wav, 20, le16(2)...), wantErr: "format tag 0x0002"},
		{name: "wav bad byte rate", file: "x.wav", data: patch(wav, 28, le32(1)...), wantErr: "byte rate"},
		{name: "wav empty data", file: "x.wav", data: makeWAV(1, 8000, 8, 0), wantErr: "no samples"},
		{name: "wav no data", file: "x.wav", data: wav[:36], wantErr: "no data chunk"},

		{name: "mp3 sample", file: "a.mp3", data: mp3, kind: KindAudio, durMS: 5868},
		{name: "mp3 truncated", file: "x.mp3", data: mp3[:len(mp3)-50], wantErr: "truncated MP3"},
		{name: "mp3 with id3v1", file: "a.mp3", data: append(bytes.Clone(mp3), append([]byte("TAG"), make([]byte, 125)...)...), kind: KindAudio, durMS: 5868},
		{name: "mp3 garbage", file: "x.mp3", data: []byte("hello, this is not audio at all"), wantErr: "content is not MP3"},
		{name: "mp3 bad frame mid-stream", file: "x.mp3", data: patch(mp3, len(mp3)/2, bytes.Repeat([]byte{0x55}, 2000)...), wantErr: "corrupt MP3"},
		{name: "mp3 id3 only", file: "x.mp3", data: []byte("ID3\x04\x00\x00\x00\x00\x00\x00"), wantErr: "MP3"},

		{name: "ogg sample", file: "a.ogg", data: ogg, kind: KindAudio, durMS: 5759},
		{name: "ogg bad crc", file: "x.ogg", data: oggBadCRC, wantErr: "CRC"},
		{name: "ogg truncated", file: "x.ogg", data: ogg[:len(ogg)-100], wantErr: "truncated Ogg"},
		{name: "ogg no eos", file: "x.ogg", data: oggNoEOS, wantErr: "end-of-stream"},

		{name: "png sample", file: "poster.png", data: png, kind: KindImage},
		{name: "png truncated", file: "x.png", data: png[:len(png)/2], wantErr: "corrupt png image"},
		{name: "png called jpg", file: "x.jpg", data: png, wantErr: "not JPEG (looks like a PNG image)"},
		{name: "gif ok", file: "a.gif", data: tinyGIF(t), kind: KindImage, durMS: 500},
		{name: "gif truncated", file: "x.gif", data: tinyGIF(t)[:len(tinyGIF(t))-1], wantErr: "truncated gif"},
		{name: "jpeg ok", file: "a.jpeg", data: tinyJPEG(t), kind: KindImage},
		{name: "jpeg truncated", file: "x.jpg", data: tinyJPEG(t)[:200], wantErr: "corrupt jpeg"},

		{name: "mp4 sample", file: "warning.mp4", data: mp4, kind: KindVideo, durMS: 3000},
		{name: "mp4 truncated", file: "x.mp4", data: mp4[:len(mp4)-10], wantErr: "truncated MP4"},
		{name: "mp4 no moov", file: "x.mp4", data: mp4box("ftyp", []byte("isom\x00\x00\x02\x00")), wantErr: "no moov"},
		{name: "mp4 moov first", file: "x.mp4", data: append(mp4box("free", nil), mp4[:]...), wantErr: "not MP4"},
		{name: "mp4 size 0 to eof", file: "x.mp4", data: append(mp4box("ftyp", []byte("isom")), append([]byte{0, 0, 0, 0}, "moov"...)...), wantErr: "no tracks"},
		{name: "mp4 64-bit size", file: "x.mp4", data: append(mp4box("ftyp", []byte("isom")), []byte{0, 0, 0, 1, 'm', 'o', 'o', 'v', 0, 0, 0, 0, 0, 0, 0, 16}...), wantErr: "no tracks"},
		{name: "mp4 64-bit size too big", file: "x.mp4", data: append(mp4box("ftyp", []byte("isom")), []byte{0, 0, 0, 1, 'm', 'o', 'o', 'v', 0, 0, 0, 0, 0, 0, 1, 16}...), wantErr: "truncated MP4"},

		{name: "webm ok", file: "a.webm", data: tinyWebM("webm", false), kind: KindVideo},
		{name: "webm as mkv", file: "a.mkv", data: tinyWebM("webm", false), wantErr: `DocType is "webm"`},
		{name: "webm truncated", file: "x.webm", data: tinyWebM("webm", true), wantErr: "truncated WebM/Matroska"},

		{name: "text zh", file: "a.txt", data: readSample(t, "hotline-zh.txt"), kind: KindText},
		{name: "text whitespace", file: "x.txt", data: []byte(" \n\t　\n"), wantErr: "only whitespace"},
		{name: "text latin1", file: "x.txt", data: []byte("caf\xe9"), wantErr: "not valid UTF-8 (bad byte 0xe9 at offset 3)"},
		{name: "text too long", file: "x.txt", data: bytes.Repeat([]byte("a"), 4097), wantErr: "limit is 4096"},
		{name: "text control", file: "x.txt", data: []byte("hi\x1b[2J"), wantErr: "control character"},
		{name: "empty", file: "x.txt", data: nil, wantErr: "empty file"},

		{name: "tpl sample", file: "a.tpl", data: readSample(t, "keycard-reminder.tpl"), kind: KindPrint},
		{name: "tpl bad syntax", file: "x.tpl", data: []byte("{{.Date"), wantErr: "does not parse"},
		{name: "tpl unknown field", file: "x.tpl", data: []byte("{{.Password}}"), wantErr: "unknown field .Password"},
		{name: "tpl range", file: "x.tpl", data: []byte("{{range 1000000000}}x{{end}}"), wantErr: "not allowed"},
		{name: "tpl define", file: "x.tpl", data: []byte(`{{define "a"}}x{{end}}hi`), wantErr: "sub-templates"},
		{name: "tpl func", file: "x.tpl", data: []byte(`{{printf "%s" .Date}}`), wantErr: "not allowed"},

		{name: "unknown ext", file: "x.exe", data: []byte("MZ"), wantErr: `extension ".exe" is not supported`},
		{name: "no ext", file: "README", data: []byte("hi"), wantErr: "no extension"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := Validate(bytes.NewReader(tt.data), int64(len(tt.data)), tt.file)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("Validate = %+v, want error containing %q", info, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Validate error = %q, want it to contain %q", err, tt.wantErr)
				}
				if !IsRejection(err) {
					t.Errorf("IsRejection(%v) = false", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if info.Kind != tt.kind {
				t.Errorf("Kind = %q, want %q", info.Kind, tt.kind)
			}
			// Durations: within 2% or 100 ms of the expected (codec framing).
			if d := info.DurationMS - tt.durMS; tt.durMS > 100 && (d > 100 || d < -100) {
				t.Errorf("DurationMS = %d, want about %d", info.DurationMS, tt.durMS)
			}
		})
	}
}

// TestSamples checks that every committed sample in media/ is accepted.
func TestSamples(t *testing.T) {
	ents, err := os.ReadDir(samplesDir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() || strings.HasSuffix(name, ".sh") || strings.HasSuffix(name, ".md") {
			continue
		}
		n++
		t.Run(name, func(t *testing.T) {
			f, err := os.Open(filepath.Join(samplesDir, name))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			fi, _ := f.Stat()
			info, err := Validate(f, fi.Size(), name)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %s %s %d bytes %d ms", name, info.Kind, info.MIME, info.Size, info.DurationMS)
			if info.Kind == KindAudio && (info.DurationMS < 1000 || info.DurationMS > 6100) {
				t.Errorf("audio sample is %d ms, want 1–6 s", info.DurationMS)
			}
		})
	}
	if n < 8 {
		t.Errorf("found %d samples, want at least 8", n)
	}
}

func TestCheckName(t *testing.T) {
	bad := []string{
		"", "/", "\\", "..", ".", "../x.wav", "a/b.wav", `a\b.wav`, "/etc/passwd.txt",
		"x\x00.wav", "x\n.wav", "x\x1b.txt", ".hidden.wav", "a..b.wav",
		strings.Repeat("a", 197) + ".wav", " x.wav", "x.wav ", "x\u202e.txt",
		"bad\xff.txt",
	}
	for _, name := range bad {
		if _, err := CheckName(name); !errors.Is(err, ErrInvalidName) {
			t.Errorf("CheckName(%q) = %v, want ErrInvalidName", name, err)
		}
	}
	good := map[string]Kind{"反诈.txt": KindText, "a b.WAV": KindAudio, "x.jpeg": KindImage, "clip.m4v": KindVideo, "card.tpl": KindPrint}
	for name, want := range good {
		if got, err := CheckName(name); err != nil || got != want {
			t.Errorf("CheckName(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
	if _, err := CheckName("x.exe"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("CheckName(x.exe) = %v, want ErrUnsupported", err)
	}
}
