package store

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/guardcast/guardcast/controller/internal/org"
	firmwareprofiles "github.com/guardcast/guardcast/firmware-profiles"
	"github.com/guardcast/guardcast/internal/profile"
	"github.com/guardcast/guardcast/internal/protocol"
)

// AllOutputs lists every output a device can have, sorted.
var AllOutputs = []string{protocol.OutputAudio, protocol.OutputLED, protocol.OutputPrinter, protocol.OutputTV}

var builtinProfiles = sync.OnceValues(func() (*profile.Set, error) {
	return profile.Load(firmwareprofiles.FS, "")
})

// ProfileOutputs is what a firmware profile drives, from the profiles
// GuardCast ships: its kind's output, every output for the plain virtual
// profile, none for a gpio-input. known is false for a profile that is not
// built in (a site's own, from the agent's --profiles directory): the
// controller cannot tell what it drives and treats it as driving every
// output, as it did before it knew outputs at all.
func ProfileOutputs(id string) (outputs []string, known bool) {
	set, err := builtinProfiles()
	if err != nil {
		return slices.Clone(AllOutputs), false
	}
	p, err := set.Get(id)
	if err != nil {
		return slices.Clone(AllOutputs), false
	}
	if p.Output != "" {
		return []string{p.Output}, true
	}
	if o := p.Kind.Output(); o != "" {
		return []string{o}, true
	}
	if p.Kind == profile.KindVirtual {
		return slices.Clone(AllOutputs), true
	}
	return nil, true
}

// DeviceOutputsFor is what a device enrolled with primary profile and
// extra outputs (output → profile, as in the agent config) has: output →
// profile ID. An extra output replaces the primary profile's on the same
// output, as the agent does.
func DeviceOutputsFor(primary string, extra map[string]string) map[string]string {
	out := map[string]string{}
	outs, _ := ProfileOutputs(primary)
	for _, o := range outs {
		out[o] = primary
	}
	maps.Copy(out, extra)
	return out
}

func validateOutputs(device string, outputs map[string]string, needProfile bool) error {
	for o, p := range outputs {
		if !protocol.ValidOutput(o) || (needProfile && p == "") {
			return invalid(fmt.Errorf("device %s: output %q → profile %q: want led, tv, audio or printer → a profile ID", device, o, p))
		}
	}
	return nil
}

func writeOutputs(ctx context.Context, tx *sql.Tx, device string, outputs map[string]string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM device_outputs WHERE device = ?`, device); err != nil {
		return err
	}
	for _, o := range slices.Sorted(maps.Keys(outputs)) {
		if _, err := tx.ExecContext(ctx, `INSERT INTO device_outputs(device, output, profile) VALUES (?, ?, ?)`, device, o, outputs[o]); err != nil {
			return fmt.Errorf("device %s output %s: %w", device, o, err)
		}
	}
	return nil
}

// SetDeviceOutputs replaces what a device has (output → profile ID), for
// a device whose hardware changed or whose custom profile the controller
// cannot read. It bumps the revision: what the device is sent changes.
func (s *Store) SetDeviceOutputs(ctx context.Context, device string, outputs map[string]string) error {
	if err := validateOutputs(device, outputs, true); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := checkLiveDevice(ctx, tx, device); err != nil {
			return err
		}
		if err := writeOutputs(ctx, tx, device, outputs); err != nil {
			return err
		}
		return bump(ctx, tx)
	})
}

// DeviceOutputs returns what one device has: output → profile ID.
func (s *Store) DeviceOutputs(ctx context.Context, device string) (map[string]string, error) {
	all, err := allDeviceOutputs(ctx, s.db, device)
	if err != nil {
		return nil, err
	}
	o, ok := all[device]
	if !ok {
		return nil, fmt.Errorf("device %s: %w", device, ErrNotFound)
	}
	return o, nil
}

// AllDeviceOutputs maps every device (retired ones included) to what it
// has: output → profile ID. Devices enrolled before outputs were recorded
// get what their profile implies (ProfileOutputs).
func (s *Store) AllDeviceOutputs(ctx context.Context) (map[string]map[string]string, error) {
	return allDeviceOutputs(ctx, s.db, "")
}

func allDeviceOutputs(ctx context.Context, q queryer, only string) (map[string]map[string]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, profile FROM devices WHERE role = 'device' AND (? = '' OR id = ?)`, only, only)
	if err != nil {
		return nil, err
	}
	profiles := map[string]string{}
	for rows.Next() {
		var id, p string
		if err := rows.Scan(&id, &p); err != nil {
			rows.Close()
			return nil, err
		}
		profiles[id] = p
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make(map[string]map[string]string, len(profiles))
	rows, err = q.QueryContext(ctx, `SELECT device, output, profile FROM device_outputs WHERE ? = '' OR device = ?`, only, only)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var d, o, p string
		if err := rows.Scan(&d, &o, &p); err != nil {
			return nil, err
		}
		if _, ok := profiles[d]; !ok {
			continue
		}
		if out[d] == nil {
			out[d] = map[string]string{}
		}
		out[d][o] = p
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for id, p := range profiles {
		if out[id] == nil {
			out[id] = DeviceOutputsFor(p, nil)
		}
	}
	return out, nil
}

// Recipient is one device a target set reaches, with the requested
// outputs it has.
type Recipient struct {
	Device  string   `json:"device"`
	Node    string   `json:"node,omitempty"` // its site ("" outside the tree)
	Outputs []string `json:"outputs"`        // sorted
}

// TargetResolution is what one target reaches, per requested output.
type TargetResolution struct {
	Target Target `json:"target"`
	// ByOutput maps each requested output to the devices under the target
	// that have it, sorted (an empty list when none has).
	ByOutput map[string][]string `json:"by_output"`
}

// Resolution is what a set of targets reaches on a set of outputs: only
// devices that are not retired, under a target, and have the output.
type Resolution struct {
	// Recipients are the devices reached on at least one output, by ID.
	Recipients []Recipient `json:"recipients"`
	// ByOutput maps each requested output to the devices reached on it.
	ByOutput map[string][]string `json:"by_output"`
	// Targets is per target, in the order given.
	Targets []TargetResolution `json:"targets"`
}

// Count is how many devices the resolution reaches on output.
func (r Resolution) Count(output string) int { return len(r.ByOutput[output]) }

// ResolveTargets says which devices targets reach on each of outputs,
// for a campaign or an alert before it is created. A target that does not
// exist is ErrNotFound; a target that reaches no device on any of the
// outputs is refused (ErrInvalid, naming the target and the outputs): it
// would place content nothing under it can play.
func (s *Store) ResolveTargets(ctx context.Context, targets []Target, outputs []string) (Resolution, error) {
	return resolve(ctx, s.db, targets, outputs)
}

// AlertTargets turns an alert's targets (org node or device IDs, which
// share one namespace) into typed targets.
func (s *Store) AlertTargets(ctx context.Context, ids []string) ([]Target, error) {
	return alertTargets(ctx, s.db, ids)
}

func alertTargets(ctx context.Context, q queryer, ids []string) ([]Target, error) {
	var out []Target
	for _, id := range ids {
		var nodes, devs int
		if err := q.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM org_nodes WHERE id = ? AND retired_at = 0),
			(SELECT count(*) FROM devices WHERE id = ? AND role = 'device' AND retired_at = 0)`, id, id).Scan(&nodes, &devs); err != nil {
			return nil, err
		}
		switch {
		case nodes > 0:
			out = append(out, Target{Kind: TargetNode, Value: id})
		case devs > 0:
			out = append(out, Target{Kind: TargetDevice, Value: id})
		default:
			return nil, fmt.Errorf("alert target %s is neither an org node nor a device: %w", id, ErrNotFound)
		}
	}
	return out, nil
}

func resolve(ctx context.Context, q queryer, targets []Target, outputs []string) (Resolution, error) {
	r := Resolution{Recipients: []Recipient{}, ByOutput: map[string][]string{}}
	if len(outputs) == 0 {
		return r, invalid(fmt.Errorf("no outputs to resolve targets on"))
	}
	for _, o := range outputs {
		if !protocol.ValidOutput(o) {
			return r, invalid(fmt.Errorf("output %q: want led, tv, audio or printer", o))
		}
		r.ByOutput[o] = []string{}
	}
	nodes, err := loadNodes(ctx, q, false)
	if err != nil {
		return r, err
	}
	tree, err := org.Build(nodes, nil)
	if err != nil {
		return r, err
	}
	type dev struct {
		id, node string
		tags     map[string]bool
	}
	rows, err := q.QueryContext(ctx, `SELECT id, coalesce(node, '') FROM devices WHERE role = 'device' AND retired_at = 0 ORDER BY id`)
	if err != nil {
		return r, err
	}
	var devs []*dev
	byID := map[string]*dev{}
	for rows.Next() {
		d := &dev{tags: map[string]bool{}}
		if err := rows.Scan(&d.id, &d.node); err != nil {
			rows.Close()
			return r, err
		}
		devs = append(devs, d)
		byID[d.id] = d
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return r, err
	}
	rows, err = q.QueryContext(ctx, `SELECT device, tag FROM device_tags`)
	if err != nil {
		return r, err
	}
	for rows.Next() {
		var d, t string
		if err := rows.Scan(&d, &t); err != nil {
			rows.Close()
			return r, err
		}
		if x := byID[d]; x != nil {
			x.tags[t] = true
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return r, err
	}
	has, err := allDeviceOutputs(ctx, q, "")
	if err != nil {
		return r, err
	}
	reached := map[string]map[string]bool{} // device → outputs
	for _, t := range targets {
		switch t.Kind {
		case TargetNode:
			if _, ok := tree.Node(t.Value); !ok {
				return r, fmt.Errorf("target %s: %w", t, ErrNotFound)
			}
		case TargetDevice:
			if byID[t.Value] == nil {
				return r, fmt.Errorf("target %s: %w", t, ErrNotFound)
			}
		case TargetTag:
		default:
			return r, invalid(fmt.Errorf("target %q: kind must be node, tag or device", t.String()))
		}
		tr := TargetResolution{Target: t, ByOutput: map[string][]string{}}
		any := false
		for _, o := range outputs {
			tr.ByOutput[o] = []string{}
		}
		for _, d := range devs {
			var in bool
			switch t.Kind {
			case TargetNode:
				in = tree.Under(d.node, t.Value)
			case TargetDevice:
				in = d.id == t.Value
			case TargetTag:
				in = d.tags[t.Value]
			}
			if !in {
				continue
			}
			for _, o := range outputs {
				if _, ok := has[d.id][o]; !ok {
					continue
				}
				tr.ByOutput[o] = append(tr.ByOutput[o], d.id)
				if reached[d.id] == nil {
					reached[d.id] = map[string]bool{}
				}
				reached[d.id][o] = true
				any = true
			}
		}
		if !any {
			what := "output " + outputs[0]
			if len(outputs) > 1 {
				what = "any of the outputs " + strings.Join(outputs, ", ")
			}
			return r, invalid(fmt.Errorf("%s has no device with %s", t, what))
		}
		r.Targets = append(r.Targets, tr)
	}
	for _, d := range devs {
		outs := reached[d.id]
		if outs == nil {
			continue
		}
		rc := Recipient{Device: d.id, Node: d.node, Outputs: slices.Sorted(maps.Keys(outs))}
		r.Recipients = append(r.Recipients, rc)
		for _, o := range rc.Outputs {
			r.ByOutput[o] = append(r.ByOutput[o], d.id)
		}
	}
	sort.Slice(r.Recipients, func(i, j int) bool { return r.Recipients[i].Device < r.Recipients[j].Device })
	return r, nil
}
