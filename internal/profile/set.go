package profile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Set is every profile an agent or controller knows, by ID.
type Set struct {
	byID map[string]*Profile
	ids  []string
}

// Load reads every *.yaml in the root of embedded, then every *.yaml and
// *.yml in overrideDir ("" for none), which adds profiles or replaces
// embedded ones with the same ID. Each file must be named after its ID (a
// copied file that kept its old ID would otherwise replace that profile by
// surprise). Every file is parsed and validated now; any problem in any
// file fails Load, and all problems are reported together. Hidden files and
// subdirectories of overrideDir are ignored.
func Load(embedded fs.FS, overrideDir string) (*Set, error) {
	s := &Set{byID: map[string]*Profile{}}
	var errs []error
	if embedded != nil {
		names, err := fs.Glob(embedded, "*.yaml")
		if err != nil {
			return nil, fmt.Errorf("embedded profiles: %w", err)
		}
		files := make(map[string][]byte, len(names))
		for _, n := range names {
			b, err := fs.ReadFile(embedded, n)
			if err != nil {
				return nil, fmt.Errorf("embedded profiles: %w", err)
			}
			files["embedded:"+n] = b
		}
		errs = append(errs, s.add(files)...)
	}
	if overrideDir != "" {
		files, err := readDir(overrideDir)
		if err != nil {
			return nil, err
		}
		errs = append(errs, s.add(files)...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	s.ids = make([]string, 0, len(s.byID))
	for id := range s.byID {
		s.ids = append(s.ids, id)
	}
	slices.Sort(s.ids)
	return s, nil
}

func readDir(dir string) (map[string][]byte, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("profile directory: %w", err)
	}
	files := map[string][]byte{}
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, ".") || e.IsDir() || (!strings.HasSuffix(n, ".yaml") && !strings.HasSuffix(n, ".yml")) {
			continue
		}
		p := filepath.Join(dir, n)
		st, err := os.Stat(p) // follows symlinks, as an operator expects
		if err != nil {
			return nil, fmt.Errorf("profile directory: %w", err)
		}
		if !st.Mode().IsRegular() {
			continue
		}
		if st.Size() > MaxFileSize {
			files[p] = make([]byte, MaxFileSize+1) // Parse reports it
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("profile directory: %w", err)
		}
		files[p] = b
	}
	return files, nil
}

// add parses one source's files; within a source an ID may appear once,
// and a later source replaces an earlier one's profile.
func (s *Set) add(files map[string][]byte) []error {
	var errs []error
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	seen := map[string]string{} // ID → file, within this source
	for _, name := range names {
		p, err := Parse(name, files[name])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		base := path.Base(filepath.ToSlash(strings.TrimPrefix(name, "embedded:")))
		stem := strings.TrimSuffix(strings.TrimSuffix(base, ".yaml"), ".yml")
		if stem != p.ID {
			errs = append(errs, &FieldError{File: name, Line: lineOfID(files[name]), Field: "id",
				Reason: fmt.Sprintf("%q does not match the file name: name the file %s.yaml, or change the id", p.ID, p.ID)})
			continue
		}
		if first, dup := seen[p.ID]; dup {
			errs = append(errs, &FieldError{File: name, Line: lineOfID(files[name]), Field: "id",
				Reason: fmt.Sprintf("duplicate id %q: %s has it too", p.ID, first)})
			continue
		}
		seen[p.ID] = name
		s.byID[p.ID] = p
	}
	return errs
}

// lineOfID finds the line of the top-level id field, for messages.
func lineOfID(b []byte) int {
	for i, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "id:") {
			return i + 1
		}
	}
	return 0
}

// Get returns a copy of the profile with that ID, or an error that lists
// the IDs there are.
func (s *Set) Get(id string) (*Profile, error) {
	p, ok := s.byID[id]
	if !ok {
		return nil, fmt.Errorf("unknown profile %q: known profiles are %s", id, strings.Join(s.ids, ", "))
	}
	return p.Clone(), nil
}

// IDs returns every profile ID, sorted.
func (s *Set) IDs() []string { return slices.Clone(s.ids) }
