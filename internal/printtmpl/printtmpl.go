// Package printtmpl parses and renders print templates: the UTF-8 .tpl
// files (media kind "print") that receipt, label and keycard printers
// print. The controller validates a template when it enters the library
// and the agent renders it on the printer; both use this package so the
// agent prints exactly what the controller accepted.
//
// A template is Go text/template restricted to {{.Field}} (fields .Date
// .Time .Site .Unit .Room .Hotline), string literals, comments and
// {{if …}}{{else}}{{end}} on a single field. No loops, no variables, no
// functions and no sub-templates: a template is content from an office,
// and content must not be able to make a printer loop forever or reach
// anything but the fields below.
package printtmpl

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/template"
	"text/template/parse"
	"unicode"
	"unicode/utf8"
)

// MaxSize is the largest template, in bytes.
const MaxSize = 64 << 10

var (
	// ErrInvalid: the template is not valid UTF-8 text, does not parse,
	// or uses something other than the allowed fields and {{if}}.
	ErrInvalid = errors.New("invalid print template")
	// ErrTooLarge: the template is larger than MaxSize.
	ErrTooLarge = errors.New("print template too large")
)

// Data is what a template is executed with on the agent.
type Data struct {
	Date    string // local date, "2006-01-02"
	Time    string // local time, "15:04"
	Site    string // site display name: "Example Bank, Riverside branch"
	Unit    string // unit code from the fleet: "bank-012"
	Room    string // hotel room number on a keycard, "" elsewhere
	Hotline string // anti-fraud hotline, "96110"
}

// ExampleData is what Parse test-executes a template with.
var ExampleData = Data{
	Date: "2025-01-02", Time: "09:30", Site: "Example Bank, Riverside branch",
	Unit: "bank-012", Room: "0512", Hotline: "96110",
}

// DateLayout and TimeLayout format Data.Date and Data.Time.
const (
	DateLayout = "2006-01-02"
	TimeLayout = "15:04"
)

// Fields lists the fields a template may use, as the error messages show them.
const Fields = ".Date .Time .Site .Unit .Room .Hotline"

var fields = map[string]bool{
	"Date": true, "Time": true, "Site": true, "Unit": true, "Room": true, "Hotline": true,
}

// Template is a checked print template.
type Template struct {
	t *template.Template
}

type classified struct {
	msg  string
	kind error
}

func (e *classified) Error() string { return e.msg }
func (e *classified) Unwrap() error { return e.kind }

func invalidf(format string, args ...any) error {
	return &classified{msg: fmt.Sprintf(format, args...), kind: ErrInvalid}
}

// Parse checks text and parses it. A leading byte-order mark is ignored.
// Errors wrap ErrInvalid or ErrTooLarge and say what is wrong and where.
func Parse(text string) (*Template, error) {
	if len(text) > MaxSize {
		return nil, &classified{msg: fmt.Sprintf("print template is %d bytes, limit is %d", len(text), MaxSize), kind: ErrTooLarge}
	}
	text = strings.TrimPrefix(text, "\ufeff")
	if err := checkText(text); err != nil {
		return nil, err
	}
	t, err := template.New("print").Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, invalidf("print template does not parse: %v", err)
	}
	if ts := t.Templates(); len(ts) > 1 {
		return nil, invalidf("print template defines sub-templates; not allowed")
	}
	if t.Tree == nil || t.Tree.Root == nil {
		return nil, invalidf("print template is empty")
	}
	if err := checkNode(t.Tree.Root); err != nil {
		return nil, err
	}
	if err := t.Execute(io.Discard, ExampleData); err != nil {
		return nil, invalidf("print template fails on example data: %v", err)
	}
	return &Template{t: t}, nil
}

// Load reads and parses the template file at path.
func Load(path string) (*Template, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("print template: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("print template %s: %w", path, err)
	}
	return Parse(string(b))
}

// Render executes the template with d. The result is UTF-8 text whose only
// control characters are newline, carriage return and tab: a field value
// carrying anything else (an ESC that a printer would obey) is an error.
func (t *Template) Render(d Data) (string, error) {
	var b strings.Builder
	if err := t.t.Execute(&b, d); err != nil {
		return "", fmt.Errorf("render print template: %w", err)
	}
	s := b.String()
	for i, r := range s {
		if r != '\n' && r != '\r' && r != '\t' && unicode.IsControl(r) {
			return "", fmt.Errorf("render print template: control character %U at offset %d (from a field value)", r, i)
		}
	}
	return s, nil
}

// checkText is the controller's rule for UTF-8 text media: valid UTF-8,
// not empty or blank, no control characters but newline, CR and tab.
func checkText(s string) error {
	b := []byte(s)
	if !utf8.Valid(b) {
		off := 0
		for off < len(b) {
			r, n := utf8.DecodeRune(b[off:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			off += n
		}
		return invalidf("print template is not valid UTF-8 (bad byte 0x%02x at offset %d)", b[off], off)
	}
	if len(bytes.TrimFunc(b, unicode.IsSpace)) == 0 {
		return invalidf("print template is empty or only whitespace")
	}
	for i, r := range s {
		if r == '\n' || r == '\r' || r == '\t' {
			continue
		}
		if unicode.IsControl(r) {
			return invalidf("print template contains control character %U at offset %d", r, i)
		}
	}
	return nil
}

func checkNode(n parse.Node) error {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := checkNode(c); err != nil {
				return err
			}
		}
		return nil
	case *parse.TextNode, *parse.CommentNode:
		return nil
	case *parse.ActionNode:
		return checkPipe(n.Pipe, n.Line)
	case *parse.IfNode:
		if err := checkPipe(n.Pipe, n.Line); err != nil {
			return err
		}
		if err := checkNode(n.List); err != nil {
			return err
		}
		if n.ElseList != nil {
			return checkNode(n.ElseList)
		}
		return nil
	}
	return invalidf("print template: %s is not allowed (only {{.Field}} and {{if}}; fields: %s)", describe(n), Fields)
}

func describe(n parse.Node) string {
	s := n.String()
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return fmt.Sprintf("%q", s)
}

func checkPipe(p *parse.PipeNode, line int) error {
	if p == nil {
		return invalidf("print template line %d: empty action", line)
	}
	if len(p.Decl) > 0 || len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
		return invalidf("print template line %d: %s is not allowed (only {{.Field}}; fields: %s)", line, describe(p), Fields)
	}
	switch a := p.Cmds[0].Args[0].(type) {
	case *parse.FieldNode:
		if len(a.Ident) != 1 || !fields[a.Ident[0]] {
			return invalidf("print template line %d: unknown field %s; fields: %s", line, a.String(), Fields)
		}
		return nil
	case *parse.StringNode:
		return nil
	}
	return invalidf("print template line %d: %s is not allowed (only {{.Field}}; fields: %s)", line, describe(p), Fields)
}
