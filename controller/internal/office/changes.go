package office

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/guardcast/guardcast/controller/internal/alert"
	"github.com/guardcast/guardcast/controller/internal/schedule"
	"github.com/guardcast/guardcast/controller/internal/store"
)

// ChangeView is a change as listed, with what it would do.
type ChangeView struct {
	store.Change
	Payload json.RawMessage `json:"payload"`
	Created string          `json:"created"`
	Decided string          `json:"decided,omitempty"`
}

func viewChange(ch store.Change) ChangeView {
	v := ChangeView{Change: ch, Payload: json.RawMessage(ch.Payload), Created: time.UnixMilli(ch.CreatedMS).UTC().Format(time.RFC3339)}
	if len(v.Payload) == 0 {
		v.Payload = json.RawMessage("{}")
	}
	if ch.DecidedMS > 0 {
		v.Decided = time.UnixMilli(ch.DecidedMS).UTC().Format(time.RFC3339)
	}
	return v
}

// ChangeResult answers an operation that became a pending change.
type ChangeResult struct {
	Change  ChangeView `json:"change"`
	Message string     `json:"message"`
	// Reach is how many devices a campaign's targets reach on its output.
	Reach *Reach `json:"reach,omitempty"`
}

// propose stores a pending change.
func (c *Core) propose(ctx context.Context, a Actor, kind, target, summary string, payload any) (ChangeResult, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return ChangeResult{}, err
	}
	ch := store.Change{Kind: kind, Target: target, Payload: b, Summary: summary, Author: a.Name, CreatedMS: c.clk.Now().UnixMilli(), State: store.ChangePending}
	id, err := c.b.AddChange(ctx, ch)
	if err != nil {
		return ChangeResult{}, err
	}
	ch.ID = id
	return ChangeResult{Change: viewChange(ch),
		Message: fmt.Sprintf("change %d is pending: nothing reaches a device until an approver other than %s approves it (change approve %d)", id, a.Name, id)}, nil
}

// noPendingFor refuses a second pending change making the same thing.
func (c *Core) noPendingFor(ctx context.Context, kind, target string) error {
	chs, err := c.b.Changes(ctx, store.ChangePending, 0)
	if err != nil {
		return err
	}
	for _, ch := range chs {
		if ch.Kind == kind && ch.Target == target {
			return fmt.Errorf("%s %s: %w: change %d by %s is already pending for it", kind, target, store.ErrExists, ch.ID, ch.Author)
		}
	}
	return nil
}

// ChangeQuery lists changes in a state ("" for all, default pending).
type ChangeQuery struct {
	State string `json:"state,omitempty"`
	All   bool   `json:"all,omitempty"`
}

func opChangeList(c *Core, ctx context.Context, a Actor, q ChangeQuery) ([]ChangeView, string, error) {
	state := q.State
	if state == "" && !q.All {
		state = store.ChangePending
	}
	chs, err := c.b.Changes(ctx, state, 0)
	if err != nil {
		return nil, "", err
	}
	out := []ChangeView{}
	for _, ch := range chs {
		out = append(out, viewChange(ch))
	}
	return out, "", nil
}

// ChangeRef names a change; Reason is given when rejecting.
type ChangeRef struct {
	ID     int64  `json:"id"`
	Reason string `json:"reason,omitempty"`
}

func opChangeShow(c *Core, ctx context.Context, a Actor, q ChangeRef) (ChangeView, string, error) {
	ch, err := c.b.GetChange(ctx, q.ID)
	return viewChange(ch), fmt.Sprint(q.ID), err
}

func opChangeApprove(c *Core, ctx context.Context, a Actor, q ChangeRef) (ChangeView, string, error) {
	target := fmt.Sprint(q.ID)
	ch, err := c.b.GetChange(ctx, q.ID)
	if err != nil {
		return ChangeView{}, target, err
	}
	if ch.Author == a.Name {
		return ChangeView{}, target, fmt.Errorf("change %d is yours: another approver must approve it: %w", ch.ID, ErrForbidden)
	}
	now := c.clk.Now().UnixMilli()
	// Claim it first, so two approvers cannot apply it twice.
	if err := c.b.MoveChange(ctx, ch.ID, store.ChangePending, store.ChangeApproving, a.Name, now, ""); err != nil {
		return ChangeView{}, target, err
	}
	if err := c.apply(ctx, ch, a.Name); err != nil {
		if merr := c.b.MoveChange(ctx, ch.ID, store.ChangeApproving, store.ChangeFailed, a.Name, now, err.Error()); merr != nil {
			return ChangeView{}, target, errors.Join(err, merr)
		}
		return ChangeView{}, target, store.Invalid(fmt.Errorf("change %d approved but could not be applied, marked failed: %w", ch.ID, err))
	}
	if err := c.b.MoveChange(ctx, ch.ID, store.ChangeApproving, store.ChangeApproved, a.Name, now, ""); err != nil {
		return ChangeView{}, target, err
	}
	c.changed()
	ch, err = c.b.GetChange(ctx, q.ID)
	return viewChange(ch), target, err
}

func opChangeReject(c *Core, ctx context.Context, a Actor, q ChangeRef) (ChangeView, string, error) {
	target := fmt.Sprint(q.ID)
	if q.Reason == "" {
		return ChangeView{}, target, invalidf("say why (reason) so the author can fix it")
	}
	if err := c.b.MoveChange(ctx, q.ID, store.ChangePending, store.ChangeRejected, a.Name, c.clk.Now().UnixMilli(), q.Reason); err != nil {
		return ChangeView{}, target, err
	}
	ch, err := c.b.GetChange(ctx, q.ID)
	return viewChange(ch), target, err
}

func opChangeWithdraw(c *Core, ctx context.Context, a Actor, q ChangeRef) (ChangeView, string, error) {
	target := fmt.Sprint(q.ID)
	ch, err := c.b.GetChange(ctx, q.ID)
	if err != nil {
		return ChangeView{}, target, err
	}
	if ch.Author != a.Name {
		return ChangeView{}, target, fmt.Errorf("change %d is %s's; only its author withdraws it (an approver rejects it): %w", ch.ID, ch.Author, ErrForbidden)
	}
	if err := c.b.MoveChange(ctx, q.ID, store.ChangePending, store.ChangeWithdrawn, a.Name, c.clk.Now().UnixMilli(), ""); err != nil {
		return ChangeView{}, target, err
	}
	ch, err = c.b.GetChange(ctx, q.ID)
	return viewChange(ch), target, err
}

// apply writes an approved change to the tables the compiler signs from,
// re-checking it against the store as it is now.
func (c *Core) apply(ctx context.Context, ch store.Change, approver string) error {
	now := c.clk.Now().UnixMilli()
	prov := func(kind, ref string) error {
		return c.b.SetProvenance(ctx, store.Provenance{Kind: kind, Ref: ref, Change: ch.ID, Author: ch.Author, Approver: approver, AtMS: now})
	}
	switch ch.Kind {
	case "playlist.create", "playlist.edit":
		var p store.Playlist
		if err := json.Unmarshal(ch.Payload, &p); err != nil {
			return err
		}
		write := c.b.CreatePlaylist
		if ch.Kind == "playlist.edit" {
			write = c.b.EditPlaylist
		}
		if err := write(ctx, p); err != nil {
			return err
		}
		return prov("playlist", p.Name)
	case "playlist.assign":
		var q AssignRequest
		if err := json.Unmarshal(ch.Payload, &q); err != nil {
			return err
		}
		for _, d := range q.Devices {
			if err := c.b.AssignPlaylist(ctx, q.Playlist, d); err != nil {
				return err
			}
			if err := prov("assignment", d+"/"+q.Playlist); err != nil {
				return err
			}
		}
		return nil
	case "campaign.create":
		var q schedule.CampaignRequest
		if err := json.Unmarshal(ch.Payload, &q); err != nil {
			return err
		}
		camp, err := q.Campaign()
		if err != nil {
			return err
		}
		if err := c.b.CreateCampaign(ctx, camp); err != nil {
			return err
		}
		return prov("campaign", camp.Name)
	case "alert.push":
		var q alert.Request
		if err := json.Unmarshal(ch.Payload, &q); err != nil {
			return err
		}
		_, _, err := c.pushAlert(ctx, q, ch.Author, approver, ch.ID)
		return err
	}
	return fmt.Errorf("change %d: unknown kind %q", ch.ID, ch.Kind)
}
