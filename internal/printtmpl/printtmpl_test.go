package printtmpl

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	sample, err := os.ReadFile("../../media/keycard-reminder.tpl")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		text    string
		wantErr string // substring; "" means accepted
		kind    error
	}{
		{name: "sample", text: string(sample)},
		{name: "fields", text: "{{.Date}} {{.Time}} {{.Site}} {{.Unit}} {{.Room}} {{.Hotline}}"},
		{name: "if else", text: "{{if .Room}}{{.Room}}{{else}}-{{end}}"},
		{name: "else if", text: "{{if .Room}}a{{else if .Site}}b{{end}}"},
		{name: "string literal", text: `{{"热线"}} {{.Hotline}}`},
		{name: "comment and trim", text: "{{- /* note */ -}} x {{- .Date}}"},
		{name: "bom", text: "\ufeff{{.Date}}"},
		{name: "bad syntax", text: "{{.Date", wantErr: "does not parse", kind: ErrInvalid},
		{name: "unknown field", text: "{{.Password}}", wantErr: "unknown field .Password", kind: ErrInvalid},
		{name: "nested field", text: "{{.Site.Name}}", wantErr: "unknown field", kind: ErrInvalid},
		{name: "range", text: "{{range 1000000000}}x{{end}}", wantErr: "not allowed", kind: ErrInvalid},
		{name: "with", text: "{{with .Site}}x{{end}}", wantErr: "not allowed", kind: ErrInvalid},
		{name: "define", text: `{{define "a"}}x{{end}}hi`, wantErr: "sub-templates", kind: ErrInvalid},
		{name: "template call", text: `{{template "print"}}`, wantErr: "not allowed", kind: ErrInvalid},
		{name: "func", text: `{{printf "%s" .Date}}`, wantErr: "not allowed", kind: ErrInvalid},
		{name: "if func", text: `{{if not .Room}}x{{end}}`, wantErr: "not allowed", kind: ErrInvalid},
		{name: "variable", text: `{{$x := .Date}}{{$x}}`, wantErr: "not allowed", kind: ErrInvalid},
		{name: "dot", text: `{{.}}`, wantErr: "not allowed", kind: ErrInvalid},
		{name: "pipeline", text: `{{.Date | len}}`, wantErr: "not allowed", kind: ErrInvalid},
		{name: "number", text: `{{1}}`, wantErr: "not allowed", kind: ErrInvalid},
		{name: "empty", text: "", wantErr: "empty", kind: ErrInvalid},
		{name: "blank", text: " \n\t", wantErr: "empty", kind: ErrInvalid},
		{name: "bad utf8", text: "ok\xff", wantErr: "bad byte 0xff at offset 2", kind: ErrInvalid},
		{name: "escape char", text: "a\x1b@", wantErr: "control character U+001B", kind: ErrInvalid},
		{name: "too large", text: strings.Repeat("x", MaxSize+1), wantErr: "limit is", kind: ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.text)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse accepted %q", tt.text)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %q does not say %q", err, tt.wantErr)
			}
			if !errors.Is(err, tt.kind) {
				t.Fatalf("error %q is not %v", err, tt.kind)
			}
		})
	}
}

func TestRender(t *testing.T) {
	tp, err := Parse("{{.Site}}\n{{if .Room}}房间 {{.Room}}{{else}}大堂{{end}} {{.Date}} {{.Time}}\n热线 {{.Hotline}} ({{.Unit}})")
	if err != nil {
		t.Fatal(err)
	}
	got, err := tp.Render(ExampleData)
	if err != nil {
		t.Fatal(err)
	}
	want := "Example Bank, Riverside branch\n房间 0512 2025-01-02 09:30\n热线 96110 (bank-012)"
	if got != want {
		t.Fatalf("Render = %q, want %q", got, want)
	}
	d := ExampleData
	d.Room = ""
	got, err = tp.Render(d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, "大堂") {
		t.Fatalf("else branch not taken: %q", got)
	}
	d.Site = "evil\x1b@"
	if _, err := tp.Render(d); err == nil || !strings.Contains(err.Error(), "U+001B") {
		t.Fatalf("control character from a field value not refused: %v", err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.tpl")
	if err := os.WriteFile(p, []byte("\ufeff热线 {{.Hotline}}"), 0o600); err != nil {
		t.Fatal(err)
	}
	tp, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := tp.Render(Data{Hotline: "96110"}); got != "热线 96110" {
		t.Fatalf("got %q", got)
	}
	big := filepath.Join(dir, "big.tpl")
	if err := os.WriteFile(big, []byte(strings.Repeat("x", MaxSize+10)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Load(big) = %v, want ErrTooLarge", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.tpl")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load(missing) = %v", err)
	}
}

func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile("../../media/keycard-reminder.tpl"); err == nil {
		f.Add(string(b))
	}
	for _, s := range []string{"{{if .Room}}{{.Room}}{{else}}-{{end}}", "{{range .}}", `{{"x"}}`, "{{.Date}}{{/* c */}}", "{{block \"a\" .}}{{end}}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tp, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		d := Data{Date: "d", Time: "t", Site: "s", Unit: "u", Room: "r", Hotline: "h"}
		out, err := tp.Render(d)
		if err != nil {
			t.Fatalf("accepted template fails to render: %v", err)
		}
		// No loops: the output is at most the template plus one field
		// value per action.
		if len(out) > len(s)*2 {
			t.Fatalf("output %d bytes from a %d-byte template", len(out), len(s))
		}
	})
}
