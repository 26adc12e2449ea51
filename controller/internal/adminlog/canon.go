package adminlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode/utf16"
)

// CanonicalJSON re-encodes a JSON value canonically: no whitespace, object
// keys sorted (by code point, which for UTF-8 is byte order), strings
// escaped as Python's json.dumps with ensure_ascii=True escapes them
// (\" \\ \b \f \n \r \t, every other character outside space..~ as \uXXXX
// in lower-case hex, astral ones as a surrogate pair), integers in
// decimal. Numbers that are not integers are refused: they have no
// encoding both Go and Python agree on.
func CanonicalJSON(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("detail: %w", err)
	}
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("detail: trailing data")
	}
	var b bytes.Buffer
	if err := writeCanonical(&b, v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

var integer = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)

func writeCanonical(b *bytes.Buffer, v any) error {
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		if v {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case json.Number:
		s := string(v)
		if !integer.MatchString(s) {
			return fmt.Errorf("detail: number %s is not an integer (write it as a string)", s)
		}
		if s == "-0" {
			s = "0"
		}
		b.WriteString(s)
	case string:
		writeString(b, v)
	case []any:
		b.WriteByte('[')
		for i, x := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeCanonical(b, x); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(b, k)
			b.WriteByte(':')
			if err := writeCanonical(b, v[k]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	default:
		return fmt.Errorf("detail: unexpected %T", v)
	}
	return nil
}

func writeString(b *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	u := func(r rune) {
		b.WriteString(`\u`)
		b.WriteByte(hex[r>>12&0xf])
		b.WriteByte(hex[r>>8&0xf])
		b.WriteByte(hex[r>>4&0xf])
		b.WriteByte(hex[r&0xf])
	}
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r >= ' ' && r <= '~':
			b.WriteRune(r)
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			u(r1)
			u(r2)
		default:
			u(r)
		}
	}
	b.WriteByte('"')
}

// secretKey reports a detail key that names a secret.
func secretKey(k string) bool {
	k = strings.ToLower(k)
	switch k {
	case "token", "session", "session_id", "csrf", "cookie":
		return true
	}
	return strings.Contains(k, "password") || strings.Contains(k, "secret")
}

func checkKeys(v any) error {
	switch v := v.(type) {
	case []any:
		for _, x := range v {
			if err := checkKeys(x); err != nil {
				return err
			}
		}
	case map[string]any:
		for k, x := range v {
			if secretKey(k) {
				return fmt.Errorf("detail key %q names a secret: never log one", k)
			}
			if err := checkKeys(x); err != nil {
				return err
			}
		}
	}
	return nil
}

// detailJSON marshals an Append's detail to a canonical JSON object.
func detailJSON(detail any) (json.RawMessage, error) {
	if detail == nil {
		return json.RawMessage("{}"), nil
	}
	raw, err := json.Marshal(detail)
	if err != nil {
		return nil, fmt.Errorf("detail: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("detail: %w", err)
	}
	if _, ok := v.(map[string]any); !ok {
		if v == nil {
			return json.RawMessage("{}"), nil
		}
		return nil, fmt.Errorf("detail: a JSON object, not %s", raw)
	}
	if err := checkKeys(v); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := writeCanonical(&b, v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
