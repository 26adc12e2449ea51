package profile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MaxFileSize bounds a profile file; real ones are a few hundred bytes.
const MaxFileSize = 64 << 10

// FieldError is one problem in a profile: which file, which field, which
// line and why. Parse, Validate and Load return these (joined with
// errors.Join when there are several); use errors.As to get at one.
type FieldError struct {
	// File is the name given to Parse (a path, or "embedded:NAME.yaml");
	// empty when Validate checks a profile built in Go.
	File string
	// Line is the 1-based line of the field (or of the nearest enclosing
	// section when the field is missing); 0 if unknown.
	Line int
	// Field is the YAML path, e.g. "transport.baud" or
	// "transport.command[1]"; empty for the file as a whole.
	Field string
	// Reason says what is wrong and what is wanted.
	Reason string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	case e.File != "":
		b.WriteString(e.File + ": ")
	case e.Line > 0:
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

func joinErrs(errs []*FieldError) error {
	if len(errs) == 0 {
		return nil
	}
	if len(errs) == 1 {
		return errs[0]
	}
	all := make([]error, len(errs))
	for i, e := range errs {
		all[i] = e
	}
	return errors.Join(all...)
}

// Parse decodes one profile file strictly, fills the defaults of its kind
// and validates it. name is used in errors (a path or "embedded:x.yaml").
// Every problem found is reported, each as a *FieldError.
func Parse(name string, data []byte) (*Profile, error) {
	fail := func(line int, field, format string, args ...any) error {
		return &FieldError{File: name, Line: line, Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	if len(data) > MaxFileSize {
		return nil, fail(0, "", "file is %d bytes, more than the %d a profile may have", len(data), MaxFileSize)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			return nil, fail(0, "", "empty file: want a YAML mapping with id, kind and description")
		}
		return nil, syntaxError(name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, fail(extra.Line, "", "a second YAML document: one profile per file")
	} else if err != io.EOF {
		return nil, syntaxError(name, err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, fail(root.Line, "", "the file must be a YAML mapping (id: …, kind: …), not a %s", nodeKind(root))
	}

	ix := &index{lines: map[string]int{}, byLine: map[int]string{}}
	var errs []*FieldError
	ix.walk(root, reflect.TypeFor[Profile](), "", &errs)
	if len(errs) > 0 {
		for _, e := range errs {
			e.File = name
		}
		return nil, joinErrs(errs)
	}

	// The walk has checked every field name and scalar type; the strict
	// decoder is the second line of defence.
	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	p := new(Profile)
	if err := strict.Decode(p); err != nil {
		return nil, ix.decodeError(name, err)
	}
	p.applyDefaults(ix.has)
	errs = p.validate()
	for _, e := range errs {
		e.File = name
		e.Line = ix.line(e.Field)
	}
	if len(errs) > 0 {
		return nil, joinErrs(errs)
	}
	p.Source = name
	return p, nil
}

var lineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// syntaxError turns a yaml.v3 parse error into a FieldError with its line.
func syntaxError(name string, err error) error {
	msg := err.Error()
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return &FieldError{File: name, Line: n, Reason: "YAML syntax: " + m[2]}
	}
	return &FieldError{File: name, Reason: "YAML syntax: " + strings.TrimPrefix(msg, "yaml: ")}
}

// decodeError maps the decoder's "line N: …" messages to fields.
func (ix *index) decodeError(name string, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return syntaxError(name, err)
	}
	var errs []*FieldError
	for _, msg := range te.Errors {
		e := &FieldError{File: name, Reason: msg}
		if m := lineRE.FindStringSubmatch(msg); m != nil {
			e.Line, _ = strconv.Atoi(m[1])
			e.Field = ix.byLine[e.Line]
			e.Reason = m[2]
		}
		errs = append(errs, e)
	}
	return joinErrs(errs)
}

// index records which fields a file sets, and where.
type index struct {
	lines  map[string]int // YAML path → line of its key
	byLine map[int]string // line → first path whose key is on it
}

func (ix *index) has(path string) bool {
	_, ok := ix.lines[path]
	return ok
}

// line is the line of path, or of its nearest enclosing section.
func (ix *index) line(path string) int {
	for path != "" {
		if n, ok := ix.lines[path]; ok {
			return n
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

func (ix *index) set(path string, line int) {
	ix.lines[path] = line
	if _, ok := ix.byLine[line]; !ok {
		ix.byLine[line] = path
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "empty value"
		}
		return fmt.Sprintf("value %q", n.Value)
	}
	return "document"
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// walk checks node n against Go type t (field names from yaml tags, scalar
// types from resolved YAML tags) and records present fields. Its depth is
// bounded by the depth of t, so aliases cannot make it loop.
func (ix *index) walk(n *yaml.Node, t reflect.Type, path string, errs *[]*FieldError) {
	bad := func(n *yaml.Node, format string, args ...any) {
		*errs = append(*errs, &FieldError{Line: n.Line, Field: path, Reason: fmt.Sprintf(format, args...)})
	}
	for n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			bad(n, "unresolved alias")
			return
		}
		n = n.Alias
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			bad(n, "want a section of fields (a mapping), got a %s", nodeKind(n))
			return
		}
		fields := yamlFields(t)
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				bad(k, "field names must be plain words, got a %s", nodeKind(k))
				continue
			}
			p := join(path, k.Value)
			if first, dup := seen[k.Value]; dup {
				*errs = append(*errs, &FieldError{Line: k.Line, Field: p, Reason: fmt.Sprintf("set twice (first on line %d)", first)})
				continue
			}
			seen[k.Value] = k.Line
			ft, ok := fields.types[k.Value]
			if !ok {
				where := "a profile"
				if path != "" {
					where = path
				}
				*errs = append(*errs, &FieldError{Line: k.Line, Field: p,
					Reason: fmt.Sprintf("unknown field; %s has: %s", where, strings.Join(fields.names, ", "))})
				continue
			}
			if isNull(deref(v)) {
				continue // "field:" with nothing is the same as leaving it out
			}
			ix.set(p, k.Line)
			ix.walk(v, ft, p, errs)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			bad(n, "want a list, e.g. [mpv, --fs], got a %s", nodeKind(n))
			return
		}
		for i, e := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			ix.set(p, e.Line)
			ix.walk(e, t.Elem(), p, errs)
		}
	default:
		if n.Kind != yaml.ScalarNode {
			bad(n, "want a single value, got a %s", nodeKind(n))
			return
		}
		tag := n.ShortTag()
		switch t.Kind() {
		case reflect.String:
			if tag == "!!binary" {
				bad(n, "want text, got binary data")
			}
		case reflect.Int:
			if tag != "!!int" {
				bad(n, "want a whole number, got %s", describe(n))
			}
		case reflect.Float64:
			if tag != "!!int" && tag != "!!float" {
				bad(n, "want a number, got %s", describe(n))
			}
		case reflect.Bool:
			if tag != "!!bool" {
				bad(n, "want true or false, got %s", describe(n))
			}
		default:
			bad(n, "internal: no check for Go type %s", t)
		}
	}
}

func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 8; i++ {
		n = n.Alias
	}
	return n
}

func describe(n *yaml.Node) string {
	if n.ShortTag() == "!!str" {
		return fmt.Sprintf("the text %q", n.Value)
	}
	return fmt.Sprintf("%q", n.Value)
}

type fieldSet struct {
	names []string
	types map[string]reflect.Type
}

// yamlFields lists a struct's YAML field names in declaration order.
func yamlFields(t reflect.Type) fieldSet {
	fs := fieldSet{types: map[string]reflect.Type{}}
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fs.names = append(fs.names, name)
		fs.types[name] = f.Type
	}
	fs.names = slices.Clip(fs.names)
	return fs
}
