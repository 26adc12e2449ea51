// Package org is the organisation tree the plan's three-tier chain runs
// down — town or county, villages and units, sites — with each node's
// responsible people, and the rules a tree must keep: kinds ranked from
// the top down, no cycles, and a time zone for every site (set on it or
// inherited from an ancestor). It is pure: the store loads and saves nodes,
// this package checks and walks them, so the compiler, the reports and the
// store all agree on who sits under whom.
package org

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/guardcast/guardcast/internal/protocol"
)

// Node kinds, from the top of the tree down.
const (
	KindCounty  = "county"
	KindTown    = "town"
	KindVillage = "village"
	KindUnit    = "unit" // a bank, a hotel association, a school, a courier company
	KindSite    = "site" // a branch, a hotel, a station: devices belong here
)

// rank orders kinds: a node's parent must rank strictly higher (lower
// number), except that a unit may sit under a unit (a bank under its
// regional office).
var rank = map[string]int{KindCounty: 0, KindTown: 1, KindVillage: 2, KindUnit: 3, KindSite: 4}

// Kinds lists the kinds in rank order.
var Kinds = []string{KindCounty, KindTown, KindVillage, KindUnit, KindSite}

// Roles a responsible person can have.
const (
	RoleFirstResponsible = "first_responsible"
	RoleLiaison          = "liaison"
	RolePresenter        = "presenter"
)

// Roles lists the roles.
var Roles = []string{RoleFirstResponsible, RoleLiaison, RolePresenter}

// Node is one node of the tree.
type Node struct {
	ID     string `json:"id"`
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	Parent string `json:"parent,omitempty"`
	// TZ is an IANA zone; empty inherits the nearest ancestor's.
	TZ string `json:"tz,omitempty"`
	// Quiet are audio quiet hours for every device under the node. nil
	// inherits the nearest ancestor's; an empty, non-nil list means none.
	Quiet []protocol.Daypart `json:"quiet,omitempty"`
}

// Person is someone responsible for a node.
type Person struct {
	ID    int64  `json:"id"`
	Node  string `json:"node"`
	Role  string `json:"role"`
	Name  string `json:"name"`
	Phone string `json:"phone"`
}

// ValidKind reports whether k is a node kind.
func ValidKind(k string) bool { _, ok := rank[k]; return ok }

// ValidRole reports whether r is a person's role.
func ValidRole(r string) bool {
	for _, x := range Roles {
		if x == r {
			return true
		}
	}
	return false
}

// ValidateID checks a node ID (the same rules as device IDs: the two share
// one namespace, since an alert is addressed to either).
func ValidateID(id string) error {
	if err := protocol.ValidateDeviceID(id); err != nil {
		return errors.New(strings.Replace(err.Error(), "device id", "node id", 1))
	}
	return nil
}

// ValidateTZ checks an IANA zone name. "Local" is refused: it would mean
// whatever zone the controller happens to run in.
func ValidateTZ(tz string) error {
	if tz == "" || tz == "Local" {
		return fmt.Errorf("time zone %q: want an IANA name such as Asia/Shanghai", tz)
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return fmt.Errorf("time zone %q: %w", tz, err)
	}
	return nil
}

// ValidateTag checks a device tag ("atm", "doorway", "lobby").
func ValidateTag(tag string) error {
	if err := protocol.ValidateDeviceID(tag); err != nil || len(tag) > 32 {
		return fmt.Errorf("tag %q: 1..32 of a-z, 0-9 and - _ . (not first)", tag)
	}
	return nil
}

// Validate checks one node on its own.
func (n Node) Validate() error {
	if err := ValidateID(n.ID); err != nil {
		return err
	}
	if !ValidKind(n.Kind) {
		return fmt.Errorf("node %s: kind %q: want one of %s", n.ID, n.Kind, strings.Join(Kinds, ", "))
	}
	if strings.TrimSpace(n.Name) == "" || len(n.Name) > 200 {
		return fmt.Errorf("node %s: name must be 1..200 bytes", n.ID)
	}
	if n.Parent == n.ID {
		return fmt.Errorf("node %s: its own parent", n.ID)
	}
	if n.TZ != "" {
		if err := ValidateTZ(n.TZ); err != nil {
			return fmt.Errorf("node %s: %w", n.ID, err)
		}
	}
	for _, q := range n.Quiet {
		if err := q.Validate(); err != nil {
			return fmt.Errorf("node %s quiet hours: %w", n.ID, err)
		}
	}
	return nil
}

// Validate checks one person on their own.
func (p Person) Validate() error {
	if !ValidRole(p.Role) {
		return fmt.Errorf("role %q: want one of %s", p.Role, strings.Join(Roles, ", "))
	}
	if strings.TrimSpace(p.Name) == "" || len(p.Name) > 100 {
		return errors.New("person: name must be 1..100 bytes")
	}
	if len(p.Phone) > 40 || strings.Trim(p.Phone, "0123456789+-() ") != "" || strings.Trim(p.Phone, "+-() ") == "" {
		return fmt.Errorf("person %s: phone %q: digits, spaces and + - ( ) only", p.Name, p.Phone)
	}
	return nil
}

// Tree is a checked organisation tree.
type Tree struct {
	nodes    map[string]*Node
	children map[string][]string
	roots    []string
	people   map[string][]Person
}

// Build checks nodes and people as a whole — every parent exists, kinds
// rank down, no cycles, every site has a time zone — and returns the tree.
func Build(nodes []Node, people []Person) (*Tree, error) {
	t := &Tree{nodes: make(map[string]*Node, len(nodes)), children: map[string][]string{}, people: map[string][]Person{}}
	for i := range nodes {
		n := &nodes[i]
		if err := n.Validate(); err != nil {
			return nil, err
		}
		if _, dup := t.nodes[n.ID]; dup {
			return nil, fmt.Errorf("node %s twice", n.ID)
		}
		t.nodes[n.ID] = n
	}
	for _, n := range t.nodes {
		if n.Parent == "" {
			t.roots = append(t.roots, n.ID)
			continue
		}
		p, ok := t.nodes[n.Parent]
		if !ok {
			return nil, fmt.Errorf("node %s: parent %s does not exist", n.ID, n.Parent)
		}
		if !(rank[p.Kind] < rank[n.Kind] || (p.Kind == KindUnit && n.Kind == KindUnit)) {
			return nil, fmt.Errorf("node %s (%s) cannot sit under %s (%s): kinds run %s from the top down",
				n.ID, n.Kind, p.ID, p.Kind, strings.Join(Kinds, " → "))
		}
		t.children[n.Parent] = append(t.children[n.Parent], n.ID)
	}
	for _, c := range t.children {
		sort.Strings(c)
	}
	sort.Strings(t.roots)
	// Units under units are the only way a cycle could form.
	for id := range t.nodes {
		seen := map[string]bool{}
		for cur := id; cur != ""; cur = t.nodes[cur].Parent {
			if seen[cur] {
				return nil, fmt.Errorf("node %s: its parents form a cycle", id)
			}
			seen[cur] = true
		}
	}
	for id, n := range t.nodes {
		if n.Kind == KindSite && t.TZ(id) == "" {
			return nil, fmt.Errorf("site %s has no time zone: give it one (--tz Asia/Shanghai) or set one on an ancestor", id)
		}
	}
	for _, p := range people {
		if _, ok := t.nodes[p.Node]; !ok {
			return nil, fmt.Errorf("person %s: node %s does not exist", p.Name, p.Node)
		}
		t.people[p.Node] = append(t.people[p.Node], p)
	}
	return t, nil
}

// Node returns one node.
func (t *Tree) Node(id string) (Node, bool) {
	n, ok := t.nodes[id]
	if !ok {
		return Node{}, false
	}
	return *n, true
}

// Len is the number of nodes.
func (t *Tree) Len() int { return len(t.nodes) }

// Roots lists the nodes without a parent, sorted.
func (t *Tree) Roots() []string { return t.roots }

// Children lists a node's children, sorted.
func (t *Tree) Children(id string) []string { return t.children[id] }

// Chain is the node and its ancestors, nearest first: site, unit, village,
// town. Unknown IDs give nil.
func (t *Tree) Chain(id string) []string {
	var out []string
	for n, ok := t.nodes[id]; ok; n, ok = t.nodes[n.Parent] {
		out = append(out, n.ID)
	}
	return out
}

// TZ is the node's effective time zone: its own or its nearest ancestor's.
func (t *Tree) TZ(id string) string {
	for n, ok := t.nodes[id]; ok; n, ok = t.nodes[n.Parent] {
		if n.TZ != "" {
			return n.TZ
		}
	}
	return ""
}

// Quiet is the node's effective audio quiet hours.
func (t *Tree) Quiet(id string) []protocol.Daypart {
	for n, ok := t.nodes[id]; ok; n, ok = t.nodes[n.Parent] {
		if n.Quiet != nil {
			return n.Quiet
		}
	}
	return nil
}

// People lists a node's own responsible people.
func (t *Tree) People(id string) []Person { return t.people[id] }

// Responsible returns the people to call about a node: its own, or, when it
// has none, those of its nearest ancestor that has some (holder names it).
func (t *Tree) Responsible(id string) (holder string, people []Person) {
	for _, n := range t.Chain(id) {
		if ps := t.people[n]; len(ps) > 0 {
			return n, ps
		}
	}
	return "", nil
}

// Under reports whether node id is target or sits below it.
func (t *Tree) Under(id, target string) bool {
	for n, ok := t.nodes[id]; ok; n, ok = t.nodes[n.Parent] {
		if n.ID == target {
			return true
		}
	}
	return false
}

// Walk visits every node depth-first from the roots, children sorted by
// ID, with its depth (roots are 0).
func (t *Tree) Walk(fn func(n Node, depth int)) {
	var visit func(id string, depth int)
	visit = func(id string, depth int) {
		fn(*t.nodes[id], depth)
		for _, c := range t.children[id] {
			visit(c, depth+1)
		}
	}
	for _, r := range t.roots {
		visit(r, 0)
	}
}

// Addressed reports whether something sent to targets (node or device IDs)
// reaches a device whose own ID is device and whose site chain is chain.
func Addressed(targets []string, device string, chain []string) bool {
	for _, tg := range targets {
		if tg == device {
			return true
		}
		for _, n := range chain {
			if tg == n {
				return true
			}
		}
	}
	return false
}

// ParseQuiet parses quiet hours as the CLI takes them: "daily,22:00-07:00"
// or "mon-fri,12:00-13:30"; "none" gives an empty, non-nil list.
func ParseQuiet(specs []string) ([]protocol.Daypart, error) {
	out := []protocol.Daypart{}
	for _, s := range specs {
		if s == "none" {
			continue
		}
		d, err := ParseDaypart(s)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// ParseDaypart parses "DAYS,HH:MM-HH:MM" (DAYS as protocol.ParseDays
// takes them, e.g. "mon-fri" or "sat,sun"; the last comma separates the
// times).
func ParseDaypart(s string) (protocol.Daypart, error) {
	i := strings.LastIndex(s, ",")
	if i < 0 {
		return protocol.Daypart{}, fmt.Errorf("daypart %q: want DAYS,HH:MM-HH:MM such as mon-fri,09:00-17:00", s)
	}
	start, end, ok := strings.Cut(s[i+1:], "-")
	if !ok {
		return protocol.Daypart{}, fmt.Errorf("daypart %q: want DAYS,HH:MM-HH:MM such as mon-fri,09:00-17:00", s)
	}
	d := protocol.Daypart{Days: strings.ToLower(s[:i]), Start: start, End: end}
	if err := d.Validate(); err != nil {
		return protocol.Daypart{}, fmt.Errorf("daypart %q: %w", s, err)
	}
	return d, nil
}

// FormatDaypart is the inverse of ParseDaypart.
func FormatDaypart(d protocol.Daypart) string { return d.Days + "," + d.Start + "-" + d.End }
