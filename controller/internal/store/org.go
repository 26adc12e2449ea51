package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/guardcast/guardcast/controller/internal/org"
	"github.com/guardcast/guardcast/internal/protocol"
)

// queryer is what both *sql.DB and *sql.Tx offer for reads.
type queryer interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

func loadNodes(ctx context.Context, q queryer, retired bool) ([]org.Node, error) {
	rs, err := loadNodeRows(ctx, q, retired)
	out := make([]org.Node, len(rs))
	for i, r := range rs {
		out[i] = r.Node
	}
	return out, err
}

// NodeRow is a node with when it was retired.
type NodeRow struct {
	org.Node
	RetiredAt int64 `json:"retired_at,omitempty"` // unix s; 0 while in use
}

func loadNodeRows(ctx context.Context, q queryer, retired bool) ([]NodeRow, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, kind, name, coalesce(parent, ''), tz, quiet, retired_at FROM org_nodes
		WHERE ? OR retired_at = 0 ORDER BY id`, retired)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []NodeRow
	for rows.Next() {
		var n NodeRow
		var quiet sql.NullString
		if err := rows.Scan(&n.ID, &n.Kind, &n.Name, &n.Parent, &n.TZ, &quiet, &n.RetiredAt); err != nil {
			return nil, err
		}
		if quiet.Valid {
			n.Quiet = []protocol.Daypart{}
			if err := json.Unmarshal([]byte(quiet.String), &n.Quiet); err != nil {
				return nil, fmt.Errorf("node %s quiet hours: %w", n.ID, err)
			}
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// PersonRow is a person with when they were retired.
type PersonRow struct {
	org.Person
	RetiredAt int64 `json:"retired_at,omitempty"` // unix s; 0 while in use
}

func loadPersonRows(ctx context.Context, q queryer, retired bool) ([]PersonRow, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, node, role, name, phone, retired_at FROM org_people WHERE ? OR retired_at = 0 ORDER BY node, id`, retired)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []PersonRow
	for rows.Next() {
		var p PersonRow
		if err := rows.Scan(&p.ID, &p.Node, &p.Role, &p.Name, &p.Phone, &p.RetiredAt); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func loadPeople(ctx context.Context, q queryer, retired bool) ([]org.Person, error) {
	rs, err := loadPersonRows(ctx, q, retired)
	out := make([]org.Person, len(rs))
	for i, r := range rs {
		out[i] = r.Person
	}
	return out, err
}

// ListOptions choose what a listing shows.
type ListOptions struct {
	// IncludeRetired lists retired rows too (they are hidden by default).
	IncludeRetired bool
}

// Tree loads and checks the organisation tree with its people: the nodes
// and people in use (retired ones are left out; see TreeWith).
func (s *Store) Tree(ctx context.Context) (*org.Tree, error) {
	return s.TreeWith(ctx, ListOptions{})
}

// TreeWith is Tree, with retired nodes and people when asked (a retired
// node only ever has retired children, so the tree stays whole).
func (s *Store) TreeWith(ctx context.Context, o ListOptions) (*org.Tree, error) {
	nodes, err := loadNodes(ctx, s.db, o.IncludeRetired)
	if err != nil {
		return nil, err
	}
	people, err := loadPeople(ctx, s.db, o.IncludeRetired)
	if err != nil {
		return nil, err
	}
	return org.Build(nodes, people)
}

// Nodes lists the org nodes by ID, with when each was retired.
func (s *Store) Nodes(ctx context.Context, o ListOptions) ([]NodeRow, error) {
	return loadNodeRows(ctx, s.db, o.IncludeRetired)
}

// People lists responsible people by node, with when each was retired.
func (s *Store) People(ctx context.Context, o ListOptions) ([]PersonRow, error) {
	return loadPersonRows(ctx, s.db, o.IncludeRetired)
}

func quietJSON(q []protocol.Daypart) any {
	if q == nil {
		return nil
	}
	b, _ := json.Marshal(q)
	return string(b)
}

// checkFreeID refuses an ID already used by a device (table "devices") or
// a node ("nodes"): alerts are addressed to either, so they share one
// namespace.
func checkFreeID(ctx context.Context, tx *sql.Tx, id, table string) error {
	var n int
	q := `SELECT count(*) FROM org_nodes WHERE id = ?`
	what := "an organisation node"
	if table == "devices" {
		q = `SELECT count(*) FROM devices WHERE id = ?`
		what = "a device"
	}
	if err := tx.QueryRowContext(ctx, q, id).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("%s is already %s: %w", id, what, ErrExists)
	}
	return nil
}

func checkSite(ctx context.Context, q queryer, id string) error {
	var kind string
	err := q.QueryRowContext(ctx, `SELECT kind FROM org_nodes WHERE id = ? AND retired_at = 0`, id).Scan(&kind)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("site %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return err
	}
	if kind != org.KindSite {
		return invalid(fmt.Errorf("%s is a %s, not a site: devices belong to sites", id, kind))
	}
	return nil
}

// AddNode adds a node to the tree. The whole tree is checked with it in
// place (parent exists, kinds rank down, the site has a time zone).
func (s *Store) AddNode(ctx context.Context, n org.Node) error {
	return s.AddNodes(ctx, []org.Node{n})
}

// AddNodes adds several nodes in one transaction (an import), parents in
// any order: all or none.
func (s *Store) AddNodes(ctx context.Context, ns []org.Node) error {
	for _, n := range ns {
		if err := n.Validate(); err != nil {
			return invalid(err)
		}
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		all, err := loadNodeRows(ctx, tx, true)
		if err != nil {
			return err
		}
		var nodes []org.Node // in use: new nodes may sit only under these
		have := make(map[string]int64, len(all))
		for _, x := range all {
			have[x.ID] = x.RetiredAt
			if x.RetiredAt == 0 {
				nodes = append(nodes, x.Node)
			}
		}
		for _, n := range ns {
			if err := checkFreeID(ctx, tx, n.ID, "devices"); err != nil {
				return err
			}
			if at, ok := have[n.ID]; ok {
				if at != 0 {
					return fmt.Errorf("node %s was retired on %s; node IDs are not reused: %w", n.ID, day(at), ErrExists)
				}
				return fmt.Errorf("node %s exists; change it with `org edit %s`: %w", n.ID, n.ID, ErrExists)
			}
			have[n.ID] = 0
		}
		if _, err := org.Build(append(nodes, ns...), nil); err != nil {
			return invalid(err)
		}
		ins, err := tx.PrepareContext(ctx, `INSERT INTO org_nodes(id, kind, name, parent, tz, quiet, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer ins.Close()
		// Foreign keys are checked per statement: insert parents first.
		now := time.Now().Unix()
		done := make(map[string]bool, len(nodes)+len(ns))
		for _, x := range nodes {
			done[x.ID] = true
		}
		for len(ns) > 0 {
			var later []org.Node
			for _, n := range ns {
				if n.Parent != "" && !done[n.Parent] {
					later = append(later, n)
					continue
				}
				var parent any
				if n.Parent != "" {
					parent = n.Parent
				}
				if _, err := ins.ExecContext(ctx, n.ID, n.Kind, n.Name, parent, n.TZ, quietJSON(n.Quiet), now); err != nil {
					return fmt.Errorf("add node %s: %w", n.ID, err)
				}
				done[n.ID] = true
			}
			ns = later
		}
		return bump(ctx, tx)
	})
}

// NodeEdit changes some of a node's fields; nil leaves a field as it is.
type NodeEdit struct {
	Name   *string
	Parent *string // "" makes the node a root
	TZ     *string // "" inherits
	// Quiet: a pointer to a nil slice inherits, to an empty slice means
	// none.
	Quiet *[]protocol.Daypart
}

// EditNode changes a node and re-checks the whole tree (moving a unit must
// not leave a site below it without a time zone, nor make a cycle).
func (s *Store) EditNode(ctx context.Context, id string, e NodeEdit) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		nodes, err := loadNodes(ctx, tx, false)
		if err != nil {
			return err
		}
		i := sort.Search(len(nodes), func(i int) bool { return nodes[i].ID >= id })
		if i == len(nodes) || nodes[i].ID != id {
			return fmt.Errorf("node %s: %w", id, ErrNotFound)
		}
		n := &nodes[i]
		if e.Name != nil {
			n.Name = *e.Name
		}
		if e.Parent != nil {
			n.Parent = *e.Parent
		}
		if e.TZ != nil {
			n.TZ = *e.TZ
		}
		if e.Quiet != nil {
			n.Quiet = *e.Quiet
		}
		if _, err := org.Build(nodes, nil); err != nil {
			return invalid(err)
		}
		var parent any
		if n.Parent != "" {
			parent = n.Parent
		}
		if _, err := tx.ExecContext(ctx, `UPDATE org_nodes SET name = ?, parent = ?, tz = ?, quiet = ? WHERE id = ?`,
			n.Name, parent, n.TZ, quietJSON(n.Quiet), id); err != nil {
			return err
		}
		return bump(ctx, tx)
	})
}

// AddPerson records a responsible person for a node and returns the row ID.
func (s *Store) AddPerson(ctx context.Context, p org.Person) (int64, error) {
	if err := p.Validate(); err != nil {
		return 0, invalid(err)
	}
	var id int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM org_nodes WHERE id = ? AND retired_at = 0`, p.Node).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("node %s: %w", p.Node, ErrNotFound)
		}
		if err := checkSamePerson(ctx, tx, p); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO org_people(node, role, name, phone) VALUES (?, ?, ?, ?)`, p.Node, p.Role, p.Name, p.Phone)
		if err != nil {
			return err
		}
		id, err = res.LastInsertId()
		return err
	})
	return id, err
}

// MoveDevice puts a device under a site.
func (s *Store) MoveDevice(ctx context.Context, device, site string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := checkSite(ctx, tx, site); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE devices SET node = ? WHERE id = ? AND role = 'device' AND retired_at = 0`, site, device)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("device %s: %w", device, ErrNotFound)
		}
		return bump(ctx, tx)
	})
}

// TagDevice adds and removes device tags.
func (s *Store) TagDevice(ctx context.Context, device string, add, remove []string) error {
	for _, t := range append(append([]string(nil), add...), remove...) {
		if err := org.ValidateTag(t); err != nil {
			return invalid(err)
		}
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := checkLiveDevice(ctx, tx, device); err != nil {
			return err
		}
		for _, t := range add {
			if _, err := tx.ExecContext(ctx, `INSERT INTO device_tags(device, tag) VALUES (?, ?) ON CONFLICT DO NOTHING`, device, t); err != nil {
				return err
			}
		}
		for _, t := range remove {
			if _, err := tx.ExecContext(ctx, `DELETE FROM device_tags WHERE device = ? AND tag = ?`, device, t); err != nil {
				return err
			}
		}
		return bump(ctx, tx)
	})
}

// DeviceTags maps each tagged device to its tags, sorted.
func (s *Store) DeviceTags(ctx context.Context) (map[string][]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT device, tag FROM device_tags ORDER BY device, tag`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var d, t string
		if err := rows.Scan(&d, &t); err != nil {
			return nil, err
		}
		out[d] = append(out[d], t)
	}
	return out, rows.Err()
}

// ParseTarget parses a campaign target: "node:ID", "tag:atm" or
// "device:ID".
func ParseTarget(s string) (Target, error) {
	k, v, ok := strings.Cut(s, ":")
	t := Target{Kind: k, Value: v}
	if !ok {
		return t, invalid(fmt.Errorf("target %q: want node:ID, tag:TAG or device:ID", s))
	}
	return t, invalid(t.Validate())
}
