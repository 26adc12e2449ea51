package office

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/guardcast/guardcast/controller/internal/store"
)

// Retiring is immediate: it only ever takes something off the screens (or
// out of the lists), and what retired things did stays in the play log.

// NodeRef names an org node.
type NodeRef struct {
	ID string `json:"id"`
}

func opNodeRetire(c *Core, ctx context.Context, a Actor, q NodeRef) (OK, string, error) {
	if err := c.b.RetireNode(ctx, q.ID, c.clk.Now()); err != nil {
		return OK{}, q.ID, err
	}
	c.changed()
	return ok("node %s retired", q.ID), q.ID, nil
}

// PersonEditRequest changes a person; absent fields stay.
type PersonEditRequest struct {
	ID    int64   `json:"id"`
	Name  *string `json:"name,omitempty"`
	Phone *string `json:"phone,omitempty"`
	Role  *string `json:"role,omitempty"`
}

func opPersonEdit(c *Core, ctx context.Context, a Actor, q PersonEditRequest) (OK, string, error) {
	t := fmt.Sprint(q.ID)
	if q.Name == nil && q.Phone == nil && q.Role == nil {
		return OK{}, t, invalidf("nothing to change: give a name, phone or role")
	}
	if err := c.b.EditPerson(ctx, q.ID, store.PersonEdit{Name: q.Name, Phone: q.Phone, Role: q.Role}); err != nil {
		return OK{}, t, err
	}
	return ok("person %d changed", q.ID), t, nil
}

// PersonRef names a person by the ID org list shows.
type PersonRef struct {
	ID int64 `json:"id"`
}

func opPersonRetire(c *Core, ctx context.Context, a Actor, q PersonRef) (OK, string, error) {
	t := fmt.Sprint(q.ID)
	if err := c.b.RetirePerson(ctx, q.ID, c.clk.Now()); err != nil {
		return OK{}, t, err
	}
	return ok("person %d retired", q.ID), t, nil
}

func opDeviceRetire(c *Core, ctx context.Context, a Actor, q DeviceRef) (OK, string, error) {
	if err := c.b.RetireDevice(ctx, q.ID, c.clk.Now()); err != nil {
		return OK{}, q.ID, err
	}
	c.changed()
	return ok("device %s decommissioned: it can no longer log in; its play log and keys are kept", q.ID), q.ID, nil
}

// MediaRef names a clip by name or sha256.
type MediaRef struct {
	Ref string `json:"ref"`
}

func opMediaRetire(c *Core, ctx context.Context, a Actor, q MediaRef) (OK, string, error) {
	if err := c.b.RetireMedia(ctx, q.Ref, c.clk.Now()); err != nil {
		return OK{}, q.Ref, err
	}
	return ok("media %s retired: no longer offered for playlists", q.Ref), q.Ref, nil
}

func opPlaylistRetire(c *Core, ctx context.Context, a Actor, q NameRef) (OK, string, error) {
	if err := c.b.RetirePlaylist(ctx, q.Name, c.clk.Now()); err != nil {
		return OK{}, q.Name, err
	}
	c.changed()
	return ok("playlist %s retired", q.Name), q.Name, nil
}

// UnassignRequest names a device output.
type UnassignRequest struct {
	Device string `json:"device"`
	Output string `json:"output"`
}

func opPlaylistUnassign(c *Core, ctx context.Context, a Actor, q UnassignRequest) (OK, string, error) {
	if err := c.b.UnassignPlaylist(ctx, q.Device, q.Output); err != nil {
		return OK{}, q.Device, err
	}
	c.changed()
	return ok("%s %s: playlist taken off", q.Device, q.Output), q.Device, nil
}

// ResolveRequest asks how far targets reach.
type ResolveRequest struct {
	Targets []string `json:"targets"` // node:ID, tag:T, device:ID
	Outputs []string `json:"outputs"`
}

// Reach is how many devices targets reach, per output.
type Reach struct {
	// Devices per output, over all targets.
	ByOutput map[string]int `json:"by_output"`
	// PerTarget gives the same per target.
	PerTarget map[string]map[string]int `json:"per_target"`
	Total     int                       `json:"total"`
}

// String is "led 3, tv 1".
func (r Reach) String() string {
	var outs []string
	for o := range r.ByOutput {
		outs = append(outs, o)
	}
	sort.Strings(outs)
	var s []string
	for _, o := range outs {
		s = append(s, fmt.Sprintf("%s %d", o, r.ByOutput[o]))
	}
	return strings.Join(s, ", ")
}

func reachOf(res store.Resolution) Reach {
	r := Reach{ByOutput: map[string]int{}, PerTarget: map[string]map[string]int{}, Total: len(res.Recipients)}
	for o, ds := range res.ByOutput {
		r.ByOutput[o] = len(ds)
	}
	for _, t := range res.Targets {
		m := map[string]int{}
		for o, ds := range t.ByOutput {
			m[o] = len(ds)
		}
		r.PerTarget[t.Target.String()] = m
	}
	return r
}

func (c *Core) resolve(ctx context.Context, targets []string, outputs []string) (Reach, error) {
	var ts []store.Target
	for _, s := range targets {
		t, err := store.ParseTarget(s)
		if err != nil {
			return Reach{}, err
		}
		ts = append(ts, t)
	}
	res, err := c.b.ResolveTargets(ctx, ts, outputs)
	if err != nil {
		return Reach{}, store.Invalid(err)
	}
	return reachOf(res), nil
}

func opResolve(c *Core, ctx context.Context, a Actor, q ResolveRequest) (Reach, string, error) {
	r, err := c.resolve(ctx, q.Targets, q.Outputs)
	return r, "", err
}
