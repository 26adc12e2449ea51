package media

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"unicode"
	"unicode/utf8"

	"github.com/guardcast/guardcast/internal/printtmpl"
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

func validateTemplate(r io.ReaderAt, size int64) (int64, error) {
	b, err := readAll(r, size, MaxTemplateSize, "print template")
	if err != nil {
		return 0, err
	}
	// The agent renders with the same package, so it prints exactly what
	// was accepted here.
	if _, err := printtmpl.Parse(string(b)); err != nil {
		if errors.Is(err, printtmpl.ErrTooLarge) {
			return 0, tooLargef("%v", err)
		}
		return 0, invalidf("%v", err)
	}
	return 0, nil
}
