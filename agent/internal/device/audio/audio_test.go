package audio_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gowav "github.com/go-audio/wav"
	"go.uber.org/goleak"

	"github.com/guardcast/guardcast/agent/internal/device/audio"
	"github.com/guardcast/guardcast/agent/internal/device/audio/audiotest"
	"github.com/guardcast/guardcast/agent/internal/output"
	"github.com/guardcast/guardcast/agent/internal/output/outputtest"
	"github.com/guardcast/guardcast/internal/clock"
	"github.com/guardcast/guardcast/internal/protocol"
)

func TestMain(m *testing.M) {
	audiotest.Serve() // when ALSA runs this binary as the fake card's sink
	if audiotest.InChild() {
		// oto's context and its goroutines live as long as the process.
		os.Exit(m.Run())
	}
	goleak.VerifyTestMain(m)
}

const media = "../../../../media/"

// cardSpeed is how much faster than real time the fake card of the
// capture and conformance tests runs (the driver is told, as it would be
// of nothing on a real card).
const cardSpeed = 4

func voiceItem() protocol.Item {
	return protocol.Item{SHA256: strings.Repeat("a", 64), Kind: "audio", Title: "atm voice", DurationMS: 5760}
}

func TestQuietHoursAndMute(t *testing.T) {
	loc := time.FixedZone("CST", 8*3600)
	clk := clock.NewFake(time.Date(2026, 1, 1, 23, 30, 0, 0, loc))
	o := audio.DefaultOpts
	o.QuietHours, o.Location, o.Clock = "22:00-07:00", loc, clk
	d, err := audio.New(o)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		hhmm  string
		quiet bool
	}{{"21:59", false}, {"22:00", true}, {"23:30", true}, {"00:00", true}, {"06:59", true}, {"07:00", false}, {"12:00", false}} {
		tm, _ := time.ParseInLocation("15:04", tt.hhmm, loc)
		if got := d.Quiet(tm.AddDate(2026, 0, 0)); got != tt.quiet {
			t.Errorf("Quiet(%s) = %v, want %v", tt.hhmm, got, tt.quiet)
		}
	}
	// The device is never opened: quiet hours are decided first.
	res, err := d.Play(context.Background(), voiceItem(), media+"atm-voice-zh.wav")
	if err != nil || res.Played || !strings.Contains(res.Reason, "quiet hours") {
		t.Fatalf("play in quiet hours: %+v, %v", res, err)
	}
	o.QuietHours, o.Volume = "", 0
	d, _ = audio.New(o)
	res, _ = d.Play(context.Background(), voiceItem(), media+"atm-voice-zh.wav")
	if res.Played || !strings.Contains(res.Reason, "muted") {
		t.Fatalf("muted play: %+v", res)
	}
	o.Volume, o.MaxVolume = 90, 40
	if g := o.Gain(); g != 0.4 {
		t.Fatalf("gain %v, want the cap 0.4", g)
	}
}

func TestOptsRejected(t *testing.T) {
	for _, tt := range []struct {
		name string
		mod  func(*audio.Opts)
	}{
		{"quiet hours syntax", func(o *audio.Opts) { o.QuietHours = "22-07" }},
		{"quiet hours hour", func(o *audio.Opts) { o.QuietHours = "25:00-07:00" }},
		{"empty window", func(o *audio.Opts) { o.QuietHours = "07:00-07:00" }},
		{"volume", func(o *audio.Opts) { o.Volume = 101 }},
		{"channels", func(o *audio.Opts) { o.Channels = 6 }},
		{"rate", func(o *audio.Opts) { o.SampleRate = 1000 }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := audio.DefaultOpts
			tt.mod(&o)
			if _, err := audio.New(o); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestDecodeSamples(t *testing.T) {
	want := 5.76 // seconds, media/README.md says 5.8
	for _, name := range []string{"atm-voice-zh.wav", "atm-voice-zh.mp3", "atm-voice-zh.ogg"} {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(media + name)
			if err != nil {
				t.Fatal(err)
			}
			p, err := audio.Decode(b, 0)
			if err != nil {
				t.Fatal(err)
			}
			if d := p.Duration(); math.Abs(d-want)/want > 0.05 {
				t.Fatalf("%s: %.3f s, want %.2f ± 5%%", name, d, want)
			}
			if got := audio.Sniff(b); got != filepath.Ext(name)[1:] {
				t.Fatalf("Sniff = %q", got)
			}
		})
	}
}

// makeWAV builds a WAV of one 440 Hz period pattern in the given encoding.
func makeWAV(tag, bits, ch, rate, frames int) []byte {
	var data bytes.Buffer
	for f := 0; f < frames; f++ {
		v := 0.5 * math.Sin(2*math.Pi*440*float64(f)/float64(rate))
		for c := 0; c < ch; c++ {
			switch {
			case tag == 3 && bits == 32:
				_ = binary.Write(&data, binary.LittleEndian, float32(v))
			case tag == 3:
				_ = binary.Write(&data, binary.LittleEndian, v)
			case bits == 8:
				data.WriteByte(byte(int(v*127) + 128))
			case bits == 16:
				_ = binary.Write(&data, binary.LittleEndian, int16(v*32767))
			case bits == 24:
				x := int32(v * (1<<23 - 1))
				data.Write([]byte{byte(x), byte(x >> 8), byte(x >> 16)})
			default:
				_ = binary.Write(&data, binary.LittleEndian, int32(v*(1<<31-1)))
			}
		}
	}
	var b bytes.Buffer
	align := ch * bits / 8
	b.WriteString("RIFF")
	_ = binary.Write(&b, binary.LittleEndian, uint32(4+8+16+8+data.Len()+8+1+1))
	b.WriteString("WAVE")
	b.WriteString("LIST") // an odd-sized chunk before fmt: padding must be honoured
	_ = binary.Write(&b, binary.LittleEndian, uint32(1))
	b.Write([]byte{'x', 0})
	b.WriteString("fmt ")
	for _, v := range []any{uint32(16), uint16(tag), uint16(ch), uint32(rate), uint32(rate * align), uint16(align), uint16(bits)} {
		_ = binary.Write(&b, binary.LittleEndian, v)
	}
	b.WriteString("data")
	_ = binary.Write(&b, binary.LittleEndian, uint32(data.Len()))
	b.Write(data.Bytes())
	return b.Bytes()
}

func TestDecodeWAVEncodings(t *testing.T) {
	for _, tt := range []struct{ tag, bits int }{{1, 8}, {1, 16}, {1, 24}, {1, 32}, {3, 32}, {3, 64}} {
		p, err := audio.DecodeWAV(makeWAV(tt.tag, tt.bits, 2, 8000, 800))
		if err != nil {
			t.Fatalf("tag %d bits %d: %v", tt.tag, tt.bits, err)
		}
		if p.Frames() != 800 || p.Channels != 2 || p.Rate != 8000 {
			t.Fatalf("tag %d bits %d: %d frames %d ch %d Hz", tt.tag, tt.bits, p.Frames(), p.Channels, p.Rate)
		}
		for f := 0; f < 800; f += 37 {
			want := 0.5 * math.Sin(2*math.Pi*440*float64(f)/8000)
			if got := float64(p.Samples[2*f+1]); math.Abs(got-want) > 0.02 { // 8 bits: 1/128 steps
				t.Fatalf("tag %d bits %d frame %d: %v, want %v", tt.tag, tt.bits, f, got, want)
			}
		}
	}
	for _, bad := range [][]byte{nil, []byte("RIFF\x00\x00\x00\x00WAVE"), []byte("RIFF\x04\x00\x00\x00WAVEfmt \xff\xff\xff\xff"), makeWAV(2, 16, 1, 8000, 10), makeWAV(1, 12, 1, 8000, 10)} {
		if _, err := audio.DecodeWAV(bad); err == nil {
			t.Errorf("DecodeWAV(%q) accepted", bad)
		}
	}
	if _, err := audio.Decode([]byte("not audio at all"), 0); err == nil {
		t.Error("Decode of text accepted")
	}
}

func TestConvert(t *testing.T) {
	mono := audio.PCM{Rate: 16000, Channels: 1, Samples: make([]float32, 16000)}
	for i := range mono.Samples {
		mono.Samples[i] = float32(i) / 16000
	}
	out := audio.Convert(mono, 48000, 2, 0.5)
	if out.Frames() != 48000 || out.Channels != 2 || out.Rate != 48000 {
		t.Fatalf("got %d frames %d ch %d Hz", out.Frames(), out.Channels, out.Rate)
	}
	// A ramp stays a ramp under linear interpolation, halved.
	for _, f := range []int{0, 3, 4, 3000, 47995} {
		want := float32(f) / 3 / 16000 * 0.5
		if got := out.Samples[2*f]; math.Abs(float64(got-want)) > 1e-4 || out.Samples[2*f+1] != got {
			t.Fatalf("frame %d: %v, want %v", f, got, want)
		}
	}
	if mono.Samples[1] != 1.0/16000 {
		t.Fatal("Convert changed its input")
	}
	same := audio.Convert(mono, 16000, 1, 0.5)
	if mono.Samples[2] != 2.0/16000 || same.Samples[2] != 1.0/16000 {
		t.Fatal("gain without conversion must copy")
	}
}

func FuzzDecode(f *testing.F) {
	for _, name := range []string{"atm-voice-zh.wav", "atm-voice-zh.mp3", "atm-voice-zh.ogg"} {
		b, err := os.ReadFile(media + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[:min(len(b), 4096)])
	}
	f.Add(makeWAV(1, 24, 2, 8000, 10))
	f.Add(makeWAV(3, 64, 1, 8000, 10))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := audio.Decode(b, 48000*10)
		if err != nil {
			return
		}
		if p.Channels < 1 || p.Rate < 1 || len(p.Samples)%p.Channels != 0 {
			t.Fatalf("bad PCM %d Hz %d ch %d samples", p.Rate, p.Channels, len(p.Samples))
		}
		for _, v := range p.Samples {
			if v != v || v > 1 || v < -1 {
				if audio.Sniff(b) == "wav" {
					t.Fatalf("sample %v out of range", v)
				}
			}
		}
	})
}

// --- played through ALSA, in a child process -------------------------------

type childReport struct {
	Result output.Result
	Stats  audio.Stats
}

// TestPlayCaptured plays each sample through the fake card and checks the
// card got that clip: the same loudness envelope as the WAV source,
// decoded here by an independent decoder (go-audio/wav), and the same
// length within 5 %.
func TestPlayCaptured(t *testing.T) {
	needCard(t)
	ref := referenceVoice(t)
	for _, tt := range []struct {
		file  string
		speed float64 // the card's clock: 1 is real time
		minR  float64
	}{{"atm-voice-zh.wav", cardSpeed, 0.97}, {"atm-voice-zh.mp3", cardSpeed, 0.9}, {"atm-voice-zh.ogg", cardSpeed, 0.9}} {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			card := audiotest.New(t, 48000, 2, tt.speed)
			report := filepath.Join(card.Dir, "report.json")
			card.Child(t, "TestChildPlay", "GUARDCAST_CLIP="+media+tt.file, "GUARDCAST_REPORT="+report)
			var rep childReport
			b, err := os.ReadFile(report)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &rep); err != nil {
				t.Fatal(err)
			}
			st := rep.Stats
			if !rep.Result.Played || st.FramesWritten != st.FramesDecoded || st.SampleRate != 48000 {
				t.Fatalf("report %+v", rep)
			}
			clip := float64(st.FramesDecoded) / 48000
			// A clocked card: the play takes the clip's time (at the
			// card's speed), not the time it takes to decode and copy.
			// Shorter is impossible on a clocked card; longer is only a
			// loaded machine, so only the lower bound is checked.
			if got, want := (rep.Result.Mono - st.FirstFrame).Seconds(), clip/tt.speed; got < want*0.85 {
				t.Fatalf("sound for %.3f s (Mono %v, first frame at %v) for a %.3f s clip on a ×%v card", got, rep.Result.Mono, st.FirstFrame, clip, tt.speed)
			}
			got := card.Samples(t)
			c0, c1 := audiotest.Span(got, 2, 0.02*0.8)
			r0, r1 := audiotest.Span(ref.s, 1, 0.02)
			if c0 < 0 {
				t.Fatal("the card got only silence")
			}
			gotLen, refLen := float64(c1-c0)/48000, float64(r1-r0)/float64(ref.rate)
			if math.Abs(gotLen-refLen)/refLen > 0.05 {
				t.Fatalf("sound lasted %.3f s on the card, %.3f s in the source", gotLen, refLen)
			}
			envGot := audiotest.Envelope(got[2*c0:], 2, 48000/50)
			envRef := audiotest.Envelope(ref.s[r0:], 1, ref.rate/50)
			r := audiotest.Correlation(envGot, envRef)
			peak := func(e []float64) (m float64) {
				for _, v := range e {
					m = math.Max(m, v)
				}
				return m
			}
			gain := peak(envGot) / peak(envRef)
			t.Logf("%s: %d frames written, first frame after %v, envelope r = %.3f, level ×%.2f, card span %.3f s vs source %.3f s, Mono %v",
				tt.file, st.FramesWritten, st.FirstFrame, r, gain, gotLen, refLen, rep.Result.Mono)
			if r < tt.minR {
				t.Fatalf("envelope correlation %.3f < %.2f: the card did not get the clip", r, tt.minR)
			}
			if gain < 0.7 || gain > 0.9 {
				t.Fatalf("level ×%.2f, want the default volume ×0.8", gain)
			}
		})
	}
}

type refPCM struct {
	s    []float32
	rate int
}

func referenceVoice(t *testing.T) refPCM {
	t.Helper()
	f, err := os.Open(media + "atm-voice-zh.wav")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d := gowav.NewDecoder(f)
	buf, err := d.FullPCMBuffer()
	if err != nil {
		t.Fatal(err)
	}
	if buf.Format.NumChannels != 1 || d.BitDepth != 16 {
		t.Fatalf("reference is %d ch %d bits", buf.Format.NumChannels, d.BitDepth)
	}
	s := make([]float32, len(buf.Data))
	for i, v := range buf.Data {
		s[i] = float32(v) / 32768
	}
	return refPCM{s: s, rate: buf.Format.SampleRate}
}

func TestChildPlay(t *testing.T) {
	if !audiotest.InChild() {
		t.Skip("runs in a child process of TestPlayCaptured")
	}
	o := audio.DefaultOpts
	o.CardSpeed = cardSpeed
	d, err := audio.New(o)
	if err != nil {
		t.Fatal(err)
	}
	res, err := d.Play(context.Background(), voiceItem(), os.Getenv("GUARDCAST_CLIP"))
	if err != nil || !res.Played {
		t.Fatalf("Play: %+v %v (health %+v)", res, err, d.Health())
	}
	if h := d.Health(); !h.OK {
		t.Fatalf("health %+v", h)
	}
	b, _ := json.Marshal(childReport{Result: res, Stats: d.Last()})
	if err := os.WriteFile(os.Getenv("GUARDCAST_REPORT"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestConformance(t *testing.T) {
	needCard(t)
	t.Parallel()
	card := audiotest.New(t, 48000, 2, cardSpeed)
	card.Child(t, "TestChildConformance")
}

func TestChildConformance(t *testing.T) {
	if !audiotest.InChild() {
		t.Skip("runs in a child process of TestConformance")
	}
	card := &audiotest.Card{Dir: audiotest.ChildDir(), Capture: filepath.Join(audiotest.ChildDir(), "capture.raw")}
	outputtest.Run(t, outputtest.Harness{
		Kind: protocol.OutputAudio,
		New: func(t *testing.T) output.Output {
			o := audio.DefaultOpts
			o.StallTimeout = time.Second
			o.CardSpeed = cardSpeed
			d, err := audio.New(o)
			if err != nil {
				t.Fatal(err)
			}
			return d
		},
		Good: func(t *testing.T) outputtest.Case {
			return outputtest.Case{Item: voiceItem(), Path: media + "atm-voice-zh.ogg"}
		},
		Bad: func(t *testing.T) outputtest.Case {
			p := filepath.Join(t.TempDir(), "corrupt")
			if err := os.WriteFile(p, append([]byte("RIFF\x10\x00\x00\x00WAVEfmt "), bytes.Repeat([]byte{0xff}, 40)...), 0o644); err != nil {
				t.Fatal(err)
			}
			return outputtest.Case{Item: voiceItem(), Path: p}
		},
		Fail: func(t *testing.T) string {
			card.Stall(t, true) // the card stops taking frames
			t.Cleanup(func() { card.Stall(t, false) })
			return "sound card stopped taking frames"
		},
		Long: func(t *testing.T) outputtest.Case {
			return outputtest.Case{Item: voiceItem(), Path: media + "atm-voice-zh.wav"}
		},
	})
}

// BenchmarkFirstFrame measures Play → first frame taken by the card (a
// 100 ms tone, WAV, through oto or aplay) on the fake card at real speed.
// It runs itself in a child process with the fake card's ALSA config.
func BenchmarkFirstFrame(b *testing.B) {
	needCard(b)
	if !audiotest.InChild() {
		card := audiotest.New(b, 48000, 2, 1)
		out := card.Run(b, []string{"-test.run", "^$", "-test.bench", "^BenchmarkFirstFrame$", "-test.benchtime", fmt.Sprintf("%dx", max(b.N, 20))})
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "first-frame") {
				b.Log(strings.TrimSpace(l))
			}
		}
		return
	}
	clip := filepath.Join(b.TempDir(), "tone.wav")
	if err := os.WriteFile(clip, makeWAV(1, 16, 1, 16000, 1600), 0o644); err != nil {
		b.Fatal(err)
	}
	d, err := audio.New(audio.DefaultOpts)
	if err != nil {
		b.Fatal(err)
	}
	if err := d.Check(context.Background()); err != nil {
		b.Fatal(err)
	}
	var total, worst time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := d.Play(context.Background(), protocol.Item{Kind: "audio", DurationMS: 100}, clip)
		if err != nil || !res.Played {
			b.Fatalf("play: %+v %v", res, err)
		}
		ff := d.Last().FirstFrame
		total += ff
		worst = max(worst, ff)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "first-frame-ms")
	b.ReportMetric(float64(worst.Microseconds())/1000, "worst-first-frame-ms")
}

// needCard skips (fails with CI set) when the fake card cannot work here.
func needCard(t testing.TB) {
	t.Helper()
	audiotest.Available(t)
	if audio.Backend == "aplay" {
		if _, err := exec.LookPath("aplay"); err != nil {
			msg := "aplay not installed (apt-get install -y alsa-utils)"
			if os.Getenv("CI") != "" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
}

// TestNonPacingSink: a sound card that takes frames as fast as they come
// (no clock, like ALSA's null plugin) has every frame of a 5.76 s clip in
// a fraction of a second: not one such play is recorded as played.
func TestNonPacingSink(t *testing.T) {
	needCard(t)
	t.Parallel()
	card := audiotest.New(t, 48000, 2, 0)
	card.Child(t, "TestChildNonPacing")
}

func TestChildNonPacing(t *testing.T) {
	if !audiotest.InChild() {
		t.Skip("runs in a child process of TestNonPacingSink")
	}
	d, err := audio.New(audio.DefaultOpts)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		res, err := d.Play(context.Background(), voiceItem(), media+"atm-voice-zh.wav")
		if err != nil {
			t.Fatal(err)
		}
		st := d.Last()
		t.Logf("play %d: %v for a 5.76 s clip, %d of %d frames taken: %q", i, res.Mono, st.FramesWritten, st.FramesDecoded, res.Reason)
		if res.Played || !strings.HasPrefix(res.Reason, output.ReasonTooShort+": ") {
			t.Fatalf("play %d on a sink with no clock: %+v", i, res)
		}
		if st.FramesWritten != st.FramesDecoded {
			t.Fatalf("the sink took %d of %d frames", st.FramesWritten, st.FramesDecoded)
		}
	}
	if h := d.Health(); h.OK || !strings.Contains(h.LastError, "does not play at its rate") {
		t.Fatalf("health %+v", h)
	}
}
