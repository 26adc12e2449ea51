package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/hajimehoshi/go-mp3"
	"github.com/jfreymuth/oggvorbis"
)

// PCM is decoded audio: interleaved float32 samples in [-1, 1].
type PCM struct {
	Rate     int
	Channels int
	Samples  []float32 // len = frames × Channels
}

// Frames returns the number of frames (one sample per channel).
func (p PCM) Frames() int {
	if p.Channels <= 0 {
		return 0
	}
	return len(p.Samples) / p.Channels
}

// Duration returns how long p plays.
func (p PCM) Duration() float64 {
	if p.Rate <= 0 {
		return 0
	}
	return float64(p.Frames()) / float64(p.Rate)
}

// ErrUnknownFormat is returned for data that is not WAV, MP3 or Ogg Vorbis.
var ErrUnknownFormat = errors.New("not WAV, MP3 or Ogg Vorbis")

// Sniff names the container of data from its first bytes ("wav", "mp3",
// "ogg") or returns "". Cached media has no file extension, so the content
// decides.
func Sniff(head []byte) string {
	switch {
	case len(head) >= 12 && string(head[:4]) == "RIFF" && string(head[8:12]) == "WAVE":
		return "wav"
	case len(head) >= 4 && string(head[:4]) == "OggS":
		return "ogg"
	case len(head) >= 3 && string(head[:3]) == "ID3":
		return "mp3"
	case len(head) >= 2 && head[0] == 0xFF && head[1]&0xE0 == 0xE0 && head[1]&0x06 != 0:
		return "mp3" // MPEG audio frame sync, layer bits set
	}
	return ""
}

// Decode decodes a whole WAV, MP3 or Ogg Vorbis file. maxFrames bounds the
// decoded length (0: no bound), so a hostile file cannot exhaust memory.
// A panic inside a third-party decoder is turned into an error: a corrupt
// prompt must become a failed play, not a dead agent.
func Decode(data []byte, maxFrames int) (p PCM, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, err = PCM{}, fmt.Errorf("decoder panic: %v", r)
		}
	}()
	switch Sniff(data) {
	case "wav":
		p, err = DecodeWAV(data)
	case "mp3":
		p, err = decodeMP3(data, maxFrames)
	case "ogg":
		p, err = decodeOgg(data)
	default:
		return PCM{}, ErrUnknownFormat
	}
	if err != nil {
		return PCM{}, err
	}
	if p.Frames() == 0 {
		return PCM{}, errors.New("no audio frames")
	}
	if maxFrames > 0 && p.Frames() > maxFrames {
		return PCM{}, fmt.Errorf("too long: %d frames at %d Hz (limit %d)", p.Frames(), p.Rate, maxFrames)
	}
	return p, nil
}

func decodeMP3(data []byte, maxFrames int) (PCM, error) {
	d, err := mp3.NewDecoder(bytes.NewReader(data))
	if err != nil {
		return PCM{}, fmt.Errorf("mp3: %w", err)
	}
	var r io.Reader = d
	if maxFrames > 0 {
		r = io.LimitReader(d, int64(maxFrames+1)*4)
	}
	raw, err := io.ReadAll(r)
	if err != nil {
		return PCM{}, fmt.Errorf("mp3: %w", err)
	}
	// go-mp3 always gives 16-bit little-endian stereo.
	s := make([]float32, len(raw)/2)
	for i := range s {
		s[i] = float32(int16(binary.LittleEndian.Uint16(raw[2*i:]))) / 32768
	}
	s = s[:len(s)/2*2]
	return PCM{Rate: d.SampleRate(), Channels: 2, Samples: s}, nil
}

func decodeOgg(data []byte) (PCM, error) {
	s, f, err := oggvorbis.ReadAll(bytes.NewReader(data))
	if err != nil {
		return PCM{}, fmt.Errorf("ogg vorbis: %w", err)
	}
	if f.Channels <= 0 || f.SampleRate <= 0 {
		return PCM{}, fmt.Errorf("ogg vorbis: bad format %d Hz × %d", f.SampleRate, f.Channels)
	}
	s = s[:len(s)/f.Channels*f.Channels]
	return PCM{Rate: f.SampleRate, Channels: f.Channels, Samples: s}, nil
}

// WAV format tags.
const (
	wavPCM        = 1
	wavFloat      = 3
	wavExtensible = 0xFFFE
)

// DecodeWAV reads a RIFF/WAVE file: integer PCM of 8, 16, 24 or 32 bits,
// or IEEE float of 32 or 64 bits, plain or WAVE_FORMAT_EXTENSIBLE. A data
// chunk whose size runs past the end of the file (as streaming writers
// leave it) is cut at the end of the file.
func DecodeWAV(b []byte) (PCM, error) {
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return PCM{}, errors.New("wav: not a RIFF/WAVE file")
	}
	var (
		tag, channels, bits, align int
		rate                       int
		haveFmt                    bool
	)
	rest := b[12:]
	for len(rest) >= 8 {
		id := string(rest[:4])
		size := int64(binary.LittleEndian.Uint32(rest[4:8]))
		body := rest[8:]
		if size > int64(len(body)) {
			if id != "data" {
				return PCM{}, fmt.Errorf("wav: chunk %q of %d bytes runs past the end", id, size)
			}
			size = int64(len(body))
		}
		chunk := body[:size]
		switch id {
		case "fmt ":
			if len(chunk) < 16 {
				return PCM{}, errors.New("wav: short fmt chunk")
			}
			tag = int(binary.LittleEndian.Uint16(chunk[0:]))
			channels = int(binary.LittleEndian.Uint16(chunk[2:]))
			rate = int(binary.LittleEndian.Uint32(chunk[4:]))
			align = int(binary.LittleEndian.Uint16(chunk[12:]))
			bits = int(binary.LittleEndian.Uint16(chunk[14:]))
			if tag == wavExtensible {
				if len(chunk) < 26 {
					return PCM{}, errors.New("wav: short extensible fmt chunk")
				}
				tag = int(binary.LittleEndian.Uint16(chunk[24:])) // sub-format GUID starts with the tag
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return PCM{}, errors.New("wav: data before fmt")
			}
			return wavSamples(chunk, tag, channels, rate, bits, align)
		}
		size += size & 1 // chunks are padded to even length
		if size > int64(len(body)) {
			break
		}
		rest = body[size:]
	}
	return PCM{}, errors.New("wav: no data chunk")
}

func wavSamples(data []byte, tag, channels, rate, bits, align int) (PCM, error) {
	if channels < 1 || channels > 8 {
		return PCM{}, fmt.Errorf("wav: %d channels", channels)
	}
	if rate < 1000 || rate > 384000 {
		return PCM{}, fmt.Errorf("wav: sample rate %d Hz", rate)
	}
	width := bits / 8
	switch {
	case tag == wavPCM && (bits == 8 || bits == 16 || bits == 24 || bits == 32):
	case tag == wavFloat && (bits == 32 || bits == 64):
	default:
		return PCM{}, fmt.Errorf("wav: unsupported encoding (format tag %d, %d bits)", tag, bits)
	}
	if align != width*channels {
		return PCM{}, fmt.Errorf("wav: block align %d for %d channels of %d bits", align, channels, bits)
	}
	n := len(data) / align * channels
	s := make([]float32, n)
	for i := range s {
		o := data[i*width:]
		switch {
		case tag == wavFloat && bits == 32:
			s[i] = math.Float32frombits(binary.LittleEndian.Uint32(o))
		case tag == wavFloat:
			s[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(o)))
		case bits == 8:
			s[i] = float32(int(o[0])-128) / 128
		case bits == 16:
			s[i] = float32(int16(binary.LittleEndian.Uint16(o))) / (1 << 15)
		case bits == 24:
			v := int32(uint32(o[0])<<8|uint32(o[1])<<16|uint32(o[2])<<24) >> 8
			s[i] = float32(v) / (1 << 23)
		default:
			s[i] = float32(int32(binary.LittleEndian.Uint32(o))) / (1 << 31)
		}
		if v := s[i]; v != v || v > 1 || v < -1 { // NaN or out of range (float files)
			s[i] = clamp(v)
		}
	}
	return PCM{Rate: rate, Channels: channels, Samples: s}, nil
}

func clamp(v float32) float32 {
	switch {
	case v != v:
		return 0
	case v > 1:
		return 1
	case v < -1:
		return -1
	}
	return v
}

// Convert returns p as rate Hz with channels channels, scaled by gain.
// Channels: mono is copied to every output channel; many to mono is the
// average; more than two to stereo keeps the first two (front left and
// right in WAV's order). Rate: linear interpolation between neighbouring
// frames, without a low-pass filter. That is exact enough for voice
// prompts, which are recorded at 16–48 kHz and only ever upsampled or
// kept; downsampling music from 96 kHz would alias a little.
func Convert(p PCM, rate, channels int, gain float32) PCM {
	out := remix(p, channels)
	if out.Rate != rate && out.Frames() > 0 {
		out = resample(out, rate)
	}
	if gain != 1 {
		if out.Channels == p.Channels && out.Rate == p.Rate {
			out.Samples = append([]float32(nil), out.Samples...) // do not scale the caller's samples
		}
		for i, v := range out.Samples {
			out.Samples[i] = clamp(v * gain)
		}
	}
	return out
}

func remix(p PCM, channels int) PCM {
	if p.Channels == channels {
		return p
	}
	n := p.Frames()
	out := PCM{Rate: p.Rate, Channels: channels, Samples: make([]float32, n*channels)}
	for f := 0; f < n; f++ {
		in := p.Samples[f*p.Channels : (f+1)*p.Channels]
		o := out.Samples[f*channels : (f+1)*channels]
		switch {
		case p.Channels == 1:
			for c := range o {
				o[c] = in[0]
			}
		case channels == 1:
			var sum float32
			for _, v := range in {
				sum += v
			}
			o[0] = sum / float32(len(in))
		default:
			for c := range o {
				o[c] = in[c%len(in)]
			}
		}
	}
	return out
}

func resample(p PCM, rate int) PCM {
	n := p.Frames()
	m := int((int64(n)*int64(rate) + int64(p.Rate)/2) / int64(p.Rate))
	ch := p.Channels
	out := PCM{Rate: rate, Channels: ch, Samples: make([]float32, m*ch)}
	step := float64(p.Rate) / float64(rate)
	for f := 0; f < m; f++ {
		pos := float64(f) * step
		i := int(pos)
		frac := float32(pos - float64(i))
		j := i + 1
		if j >= n {
			j = n - 1
		}
		if i >= n {
			i = n - 1
		}
		for c := 0; c < ch; c++ {
			a, b := p.Samples[i*ch+c], p.Samples[j*ch+c]
			out.Samples[f*ch+c] = a + (b-a)*frac
		}
	}
	return out
}
