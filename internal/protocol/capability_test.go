package protocol

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
)

// desiredFieldsSince names every desired-state field (JSON path, as in
// testdata/desired-fields-capability1.txt) added after capability 1, with
// the capability that added it. ForCapability must leave each out of
// documents for lower capabilities.
var desiredFieldsSince = map[string]int{
	"playlists.by":                         2,
	"playlists.by.author":                  2,
	"playlists.by.approver":                2,
	"playlists.by.change":                  2,
	"schedule.outputs.entries.by":          2,
	"schedule.outputs.entries.by.author":   2,
	"schedule.outputs.entries.by.approver": 2,
	"schedule.outputs.entries.by.change":   2,
	"alerts.by":                            2,
	"alerts.by.author":                     2,
	"alerts.by.approver":                   2,
	"alerts.by.change":                     2,
}

// jsonPaths lists the JSON field paths of type t ("schedule.outputs.tz"),
// descending into structs, pointers and slices; embedded structs are
// flattened as encoding/json does.
func jsonPaths(t reflect.Type, prefix string, out *[]string) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 {
			return // []byte is a base64 string
		}
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous {
			jsonPaths(f.Type, prefix, out)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		*out = append(*out, prefix+name)
		jsonPaths(f.Type, prefix+name+".", out)
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// TestDesiredFieldsByCapability keeps the document's fields, the frozen
// list of what capability-1 agents know, and desiredFieldsSince in step:
// a field added to DesiredState without saying which capability added it
// fails here, and so does removing or renaming one that deployed agents
// know.
func TestDesiredFieldsByCapability(t *testing.T) {
	v1 := readLines(t, "testdata/desired-fields-capability1.txt")
	var now []string
	jsonPaths(reflect.TypeFor[DesiredState](), "", &now)
	for _, p := range v1 {
		if !slices.Contains(now, p) {
			t.Errorf("field %s, known to capability-1 agents, is gone from DesiredState", p)
		}
	}
	for _, p := range now {
		since, ok := desiredFieldsSince[p]
		switch {
		case slices.Contains(v1, p) && ok:
			t.Errorf("field %s is in the capability-1 list and in desiredFieldsSince", p)
		case !slices.Contains(v1, p) && !ok:
			t.Errorf("new field %s: add it to desiredFieldsSince with the capability that adds it, and leave it out in ForCapability below that", p)
		case ok && (since < 2 || since > CapabilityVersion):
			t.Errorf("field %s since capability %d, outside 2..%d", p, since, CapabilityVersion)
		}
	}

	// A document with every field set, encoded for each capability,
	// holds only fields that capability knows.
	full := reflect.New(reflect.TypeFor[DesiredState]())
	fill(full.Elem())
	d := full.Interface().(*DesiredState)
	for c := 1; c <= CapabilityVersion; c++ {
		b, _ := json.Marshal(d.ForCapability(c))
		var m any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		var got []string
		keyPaths(m, "", &got)
		for _, p := range got {
			if since, ok := desiredFieldsSince[p]; ok && since > c || !ok && !slices.Contains(v1, p) {
				t.Errorf("capability %d: document carries %s", c, p)
			}
		}
		if v := d.ForCapability(c).V; v != c {
			t.Errorf("ForCapability(%d).V = %d", c, v)
		}
	}
}

// fill sets every field of v to something non-zero (one element in each
// slice), so omitempty hides nothing.
func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem())
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i))
			}
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0))
	case reflect.String:
		v.SetString("x")
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(1)
	case reflect.Uint64, reflect.Uint32, reflect.Uint8, reflect.Uint:
		v.SetUint(1)
	case reflect.Float64:
		v.SetFloat(0.5)
	case reflect.Bool:
		v.SetBool(true)
	}
}

func keyPaths(v any, prefix string, out *[]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			*out = append(*out, prefix+k)
			keyPaths(e, prefix+k+".", out)
		}
	case []any:
		for _, e := range x {
			keyPaths(e, prefix, out)
		}
	}
	sort.Strings(*out)
}

func TestDocCapability(t *testing.T) {
	for _, tt := range []struct{ in, want int }{{-1, 1}, {0, 1}, {1, 1}, {2, 2}, {CapabilityVersion + 5, CapabilityVersion}} {
		if got := DocCapability(tt.in); got != tt.want {
			t.Errorf("DocCapability(%d) = %d, want %d", tt.in, got, tt.want)
		}
	}
	d := testDesired()
	if d.ForCapability(0).V != 1 || d.V != Version || d.ForCapability(2).V != 2 {
		t.Fatal("ForCapability sets the wrong v, or changed its receiver")
	}
}

// futureDoc is a document as a controller one capability ahead might send:
// "v" above ours, and fields we do not know at the top and deep inside.
func futureDoc(t *testing.T) []byte {
	t.Helper()
	d := testDesired()
	d.V = CapabilityVersion + 1
	d.Schedule = &Schedule{TZ: "UTC", Outputs: []OutputPlan{{Output: OutputLED, Entries: []Entry{{ID: "c/p", Campaign: "c",
		Items: []EntryItem{{Item: d.Playlists[0].Items[0]}}}}}}}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Replace(b, []byte(`{"v":`), []byte(`{"brightness_curve":[0.2,0.9],"v":`), 1)
	b = bytes.Replace(b, []byte(`"campaign":"c"`), []byte(`"campaign":"c","audience":{"min_age":60}`), 1)
	if !bytes.Contains(b, []byte("audience")) || !bytes.Contains(b, []byte("brightness_curve")) {
		t.Fatalf("future fields not placed: %s", b)
	}
	return b
}

func TestOpenDesiredFromNewerController(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	keys := []ed25519.PublicKey{pub}
	payload := futureDoc(t)
	raw := SealDesired(priv, payload)

	d, err := OpenDesired(raw, keys)
	if err != nil {
		t.Fatalf("capability %d agent refused a signed document from capability %d: %v", CapabilityVersion, CapabilityVersion+1, err)
	}
	if d.V != CapabilityVersion+1 || d.Version != 3 || d.Schedule == nil || d.Schedule.Outputs[0].Entries[0].Campaign != "c" {
		t.Fatalf("known fields lost: %+v", d)
	}
	// A capability-1 agent refuses it: that is why the controller encodes
	// per capability.
	if _, err := OpenDesiredAt(raw, keys, 1); err == nil {
		t.Fatal("capability-1 rules accepted unknown fields")
	}

	// The signature covers the bytes as received: changing only an
	// unknown field breaks it.
	var env SignedDoc
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatal(err)
	}
	env.Payload = bytes.Replace(env.Payload, []byte("60"), []byte("18"), 1)
	tampered, _ := json.Marshal(env)
	if _, err := OpenDesired(tampered, keys); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("tampered unknown field: err = %v, want ErrBadSignature", err)
	}

	// Known fields are validated as before, unknown ones beside them or not.
	bad := bytes.Replace(payload, []byte(`"duration_ms":5000`), []byte(`"duration_ms":0`), 1)
	if _, err := OpenDesired(SealDesired(priv, bad), keys); err == nil {
		t.Fatal("a bad known field passed because of unknown ones")
	}
	// v 0 is not a version of anything.
	zero := bytes.Replace(payload, []byte(`"v":3`), []byte(`"v":0`), 1)
	if _, err := OpenDesired(SealDesired(priv, zero), keys); err == nil {
		t.Fatal("v 0 accepted")
	}
	// The envelope is not signed and stays strict.
	envExtra := bytes.Replace(raw, []byte(`{"v":1,`), []byte(`{"v":1,"extra":true,`), 1)
	if _, err := OpenDesired(envExtra, keys); err == nil {
		t.Fatal("an unknown envelope field was accepted")
	}
	// Trailing data is still refused.
	if _, err := OpenDesired(SealDesired(priv, append(append([]byte{}, payload...), []byte(" {}")...)), keys); err == nil {
		t.Fatal("trailing data accepted")
	}
}

func TestOpenDesiredCapability1Rules(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	keys := []ed25519.PublicKey{pub}
	for c := 1; c <= CapabilityVersion; c++ {
		raw, err := SignDesiredFor(priv, testDesired(), c)
		if err != nil {
			t.Fatal(err)
		}
		_, err1 := OpenDesiredAt(raw, keys, 1)
		if (err1 == nil) != (c == 1) {
			t.Errorf("document for capability %d under capability-1 rules: err = %v", c, err1)
		}
		if _, err := OpenDesired(raw, keys); err != nil {
			t.Errorf("document for capability %d refused by this agent: %v", c, err)
		}
	}
}

func TestHelloCapability(t *testing.T) {
	base := `{"v":1,"device":"a","public_key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","have_version":0,"next_seq":1`
	for _, tt := range []struct {
		name string
		in   string
		want int // 0: refused
	}{
		{"absent is capability 1", base + `}`, 1},
		{"announced", base + `,"capability":2}`, 2},
		{"from the future", base + `,"capability":9}`, 9},
		{"negative", base + `,"capability":-1}`, 0},
		{"unknown field stays an error", base + `,"capability":2,"extra":1}`, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var h Hello
			err := Decode([]byte(tt.in), &h)
			if (err == nil) != (tt.want != 0) {
				t.Fatalf("err = %v", err)
			}
			if err == nil && h.Cap() != tt.want {
				t.Fatalf("Cap() = %d, want %d", h.Cap(), tt.want)
			}
		})
	}
	var s Status
	if err := Decode([]byte(`{"v":1,"device":"a","online":true,"version":0,"cache":{"items":0,"bytes":0,"missing":0},"clock_synced":false,"next_seq":1,"unreceipted":0,"time":0,"capability":2}`), &s); err != nil || s.Capability != 2 {
		t.Fatalf("status with capability: %v %+v", err, s)
	}
}

// FuzzDecodeDesiredTolerant: skipping unknown fields never changes what
// a document says — whatever the strict decoder accepts, the tolerant one
// accepts with the same result — and it never accepts what fails Validate.
func FuzzDecodeDesiredTolerant(f *testing.F) {
	seed, _ := json.Marshal(testDesired())
	f.Add(seed)
	f.Add(bytes.Replace(seed, []byte(`{"v":1,`), []byte(`{"v":3,"x":{"y":[1,2]},`), 1))
	f.Add([]byte(`{"v":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var strict, loose DesiredState
		errStrict := decode(b, &strict, true)
		errLoose := decode(b, &loose, false)
		if errStrict == nil {
			if errLoose != nil {
				t.Fatalf("strict accepts, tolerant refuses: %v", errLoose)
			}
			sb, _ := json.Marshal(strict)
			lb, _ := json.Marshal(loose)
			if !bytes.Equal(sb, lb) {
				t.Fatalf("tolerant decoding changed the document:\n%s\n%s", sb, lb)
			}
		}
		if errLoose == nil && loose.Validate() != nil {
			t.Fatal("tolerant decode accepted an invalid document")
		}
	})
}
