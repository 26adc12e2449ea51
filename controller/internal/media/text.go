package media

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"text/template"
	"text/template/parse"
	"unicode"
	"unicode/utf8"
)

func readAll(r io.ReaderAt, size, limit int64, what string) ([]byte, error) {
	if size > limit {
		return nil, tooLargef("%s is %d bytes, limit is %d", what, size, limit)
	}
	b := make([]byte, size)
	if err := readFull(r, b, 0); err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	return b, nil
}

// checkUTF8Text is shared by sign text and print templates.
func checkUTF8Text(b []byte, what string) error {
	b = bytes.TrimPrefix(b, []byte("\ufeff"))
	if !utf8.Valid(b) {
		off := 0
		for off < len(b) {
			r, n := utf8.DecodeRune(b[off:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			off += n
		}
		return invalidf("%s is not valid UTF-8 (bad byte 0x%02x at offset %d)", what, b[off], off)
	}
	if len(bytes.TrimFunc(b, unicode.IsSpace)) == 0 {
		return invalidf("%s is empty or only whitespace", what)
	}
	for i, r := range string(b) {
		if r == '\n' || r == '\r' || r == '\t' {
			continue
		}
		if unicode.IsControl(r) {
			return invalidf("%s contains control character %U at offset %d", what, r, i)
		}
	}
	return nil
}

func validateText(r io.ReaderAt, size int64) (int64, error) {
	b, err := readAll(r, size, MaxTextSize, "sign text")
	if err != nil {
		return 0, err
	}
	return 0, checkUTF8Text(b, "sign text")
}

// TemplateData is what a print template (.tpl) is executed with on the
// agent. A template may use only these fields, as {{.Date}}, {{.Site}} …,
// plus {{if .Field}}…{{else}}…{{end}}. No loops, no sub-templates and no
// functions: a template is content from the office, and content must not be
// able to make a receipt printer loop forever.
type TemplateData struct {
	Date    string // local date, "2006-01-02"
	Time    string // local time, "15:04"
	Site    string // site display name: "Example Bank, Riverside branch"
	Unit    string // unit code from the fleet: "bank-012"
	Room    string // hotel room number on a keycard, "" elsewhere
	Hotline string // anti-fraud hotline, "96110"
}

// ExampleTemplateData is used to test-execute templates during validation.
var ExampleTemplateData = TemplateData{
	Date: "2025-01-02", Time: "09:30", Site: "Example Bank, Riverside branch",
	Unit: "bank-012", Room: "0512", Hotline: "96110",
}

var templateFields = map[string]bool{
	"Date": true, "Time": true, "Site": true, "Unit": true, "Room": true, "Hotline": true,
}

// ParseTemplate parses and checks a print template. The agent side uses the
// same rules.
func ParseTemplate(text string) (*template.Template, error) {
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
	if err := t.Execute(io.Discard, ExampleTemplateData); err != nil {
		return nil, invalidf("print template fails on example data: %v", err)
	}
	return t, nil
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
	return invalidf("print template: %s is not allowed (only {{.Field}} and {{if}}; fields: %s)", describeNode(n), fieldList())
}

func describeNode(n parse.Node) string {
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
		return invalidf("print template line %d: %s is not allowed (only {{.Field}}; fields: %s)", line, describeNode(p), fieldList())
	}
	switch a := p.Cmds[0].Args[0].(type) {
	case *parse.FieldNode:
		if len(a.Ident) != 1 || !templateFields[a.Ident[0]] {
			return invalidf("print template line %d: unknown field %s; fields: %s", line, a.String(), fieldList())
		}
		return nil
	case *parse.StringNode:
		return nil
	}
	return invalidf("print template line %d: %s is not allowed (only {{.Field}}; fields: %s)", line, describeNode(p), fieldList())
}

func fieldList() string {
	return ".Date .Time .Site .Unit .Room .Hotline"
}

func validateTemplate(r io.ReaderAt, size int64) (int64, error) {
	b, err := readAll(r, size, MaxTemplateSize, "print template")
	if err != nil {
		return 0, err
	}
	if err := checkUTF8Text(b, "print template"); err != nil {
		return 0, err
	}
	_, err = ParseTemplate(strings.TrimPrefix(string(b), "\ufeff"))
	return 0, err
}
