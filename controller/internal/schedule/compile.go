package schedule

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/guardcast/guardcast/controller/internal/org"
	"github.com/guardcast/guardcast/controller/internal/store"
	"github.com/guardcast/guardcast/internal/protocol"
)

// Options tune document lifetimes.
type Options struct {
	// Lifetime is how long a signed document is valid.
	Lifetime time.Duration `json:"lifetime" yaml:"lifetime"`
	// MediaURL is the base URL agents fetch media from (…/media/).
	MediaURL string `json:"media_url" yaml:"media_url"`
}

// DefaultLifetime covers a month offline.
const DefaultLifetime = 30 * 24 * time.Hour

// DefaultTZ is the zone of a schedule for a device outside the org tree
// that a campaign reaches by tag or ID. Put devices under a site to give
// them the site's zone.
const DefaultTZ = "UTC"

// AssignedCampaign is the Campaign of the entries made from legacy
// `playlist assign` playlists; their entry IDs are "assigned/PLAYLIST".
const AssignedCampaign = "assigned"

// MaxAlerts is how many alerts one document carries (the newest).
const MaxAlerts = 64

// worldTTL bounds how long a loaded world is reused without an edit: long
// enough to serve a reconnect storm from memory, short enough that
// campaigns past their end date drop out of documents within the hour.
const worldTTL = time.Hour

// Compiler builds and signs desired states.
type Compiler struct {
	st   *store.Store
	key  ed25519.PrivateKey
	opts Options
	now  func() time.Time

	mu    sync.Mutex
	world *world
}

// NewCompiler returns a compiler signing with key.
func NewCompiler(st *store.Store, key ed25519.PrivateKey, opts Options, now func() time.Time) *Compiler {
	if opts.Lifetime <= 0 {
		opts.Lifetime = DefaultLifetime
	}
	if now == nil {
		now = time.Now
	}
	return &Compiler{st: st, key: key, opts: opts, now: now}
}

// PublicKey is the key agents must trust.
func (c *Compiler) PublicKey() ed25519.PublicKey { return c.key.Public().(ed25519.PublicKey) }

// world is everything one compilation pass reads, loaded once per pass
// (and reused while the store's revision stands still), so compiling
// 10,000 devices costs a handful of queries, not several per device.
type world struct {
	rev       int64
	loaded    time.Time
	tree      *org.Tree
	tags      map[string][]string
	campaigns []*campaign
	items     map[string][]store.PlaylistItemRow
	assigned  map[string][]store.Assignment
	alerts    []store.Alert // in force when loaded, oldest first
	// outputs is what each device has (output → profile): content for an
	// output a device lacks never reaches its document.
	outputs map[string]map[string]string
	// prov is who authored and approved what (kind → ref), which the
	// documents carry.
	prov map[string]map[string]store.Provenance

	// Devices on one site with the same tags and assignments share their
	// schedule; these memoise the compiled parts and their JSON.
	mu     sync.Mutex
	scheds map[string]*part
	nodes  map[string]*part
	lists  map[string]*part
	alertP map[string]*part
}

// part is a compiled piece of a document and its JSON (for the hash).
type part struct {
	schedule  *protocol.Schedule
	nodes     []string
	playlists []protocol.Playlist
	alerts    []protocol.Alert
	json      []byte
}

type campaign struct {
	store.Campaign
	nodes, tags, devices map[string]bool
	entries              []protocol.Entry
}

func (c *Compiler) loadWorld(ctx context.Context) (*world, error) {
	rev, err := c.st.Revision(ctx)
	if err != nil {
		return nil, err
	}
	now := c.now()
	c.mu.Lock()
	w := c.world
	c.mu.Unlock()
	if w != nil && w.rev == rev && now.Sub(w.loaded) < worldTTL && !now.Before(w.loaded) {
		return w, nil
	}
	// The revision is read first: anything loaded below is at least that
	// new, so a concurrent edit only causes one more reload later.
	w = &world{rev: rev, loaded: now, scheds: map[string]*part{}, nodes: map[string]*part{}, lists: map[string]*part{}, alertP: map[string]*part{}}
	if w.tree, err = c.st.Tree(ctx); err != nil {
		return nil, fmt.Errorf("load org tree: %w", err)
	}
	if w.tags, err = c.st.DeviceTags(ctx); err != nil {
		return nil, err
	}
	if w.items, err = c.st.AllPlaylistItems(ctx); err != nil {
		return nil, err
	}
	if w.assigned, err = c.st.AllAssignments(ctx); err != nil {
		return nil, err
	}
	if w.outputs, err = c.st.AllDeviceOutputs(ctx); err != nil {
		return nil, err
	}
	if w.prov, err = c.st.AllProvenance(ctx); err != nil {
		return nil, err
	}
	cs, err := c.st.Campaigns(ctx, false)
	if err != nil {
		return nil, err
	}
	// A campaign two days past its end date (in any zone) has nothing left
	// to play; leave it out to keep documents small.
	stale := now.UTC().AddDate(0, 0, -2).Format(time.DateOnly)
	for _, sc := range cs {
		if sc.Until != "" && sc.Until < stale {
			continue
		}
		w.campaigns = append(w.campaigns, w.newCampaign(sc))
	}
	as, err := c.st.Alerts(ctx, now)
	if err != nil {
		return nil, err
	}
	sort.Slice(as, func(i, j int) bool {
		if as[i].PushedMS != as[j].PushedMS {
			return as[i].PushedMS < as[j].PushedMS
		}
		return as[i].ID < as[j].ID
	})
	w.alerts = as
	c.mu.Lock()
	c.world = w
	c.mu.Unlock()
	return w, nil
}

// provenance is who authored and approved kind/ref, for a document; nil
// when nobody is on record (made before approvals existed).
func (w *world) provenance(kind, ref string) *protocol.Provenance {
	p, ok := w.prov[kind][ref]
	if !ok {
		return nil
	}
	return &protocol.Provenance{Author: p.Author, Approver: p.Approver, Change: p.Change}
}

func entryItems(rows []store.PlaylistItemRow) []protocol.EntryItem {
	out := make([]protocol.EntryItem, 0, len(rows))
	for _, r := range rows {
		out = append(out, protocol.EntryItem{Item: r.Item, ValidFrom: r.ValidFrom, ValidUntil: r.ValidUntil})
	}
	return out
}

func (w *world) newCampaign(sc store.Campaign) *campaign {
	c := &campaign{Campaign: sc, nodes: map[string]bool{}, tags: map[string]bool{}, devices: map[string]bool{}}
	for _, t := range sc.Targets {
		switch t.Kind {
		case store.TargetNode:
			c.nodes[t.Value] = true
		case store.TargetTag:
			c.tags[t.Value] = true
		case store.TargetDevice:
			c.devices[t.Value] = true
		}
	}
	for _, p := range sc.Playlists {
		rows := w.items[p]
		if len(rows) == 0 {
			continue
		}
		c.entries = append(c.entries, protocol.Entry{
			ID: sc.Name + "/" + p, Campaign: sc.Name, Priority: sc.Priority, From: sc.From, Until: sc.Until,
			Dayparts: sc.Dayparts, MinEveryMS: sc.MinEveryMS, MinShare: sc.MinShare, Trigger: sc.Trigger,
			Items: entryItems(rows), By: w.provenance("campaign", sc.Name),
		})
	}
	return c
}

func (c *campaign) targets(device string, chain, tags []string) bool {
	if c.devices[device] {
		return true
	}
	for _, n := range chain {
		if c.nodes[n] {
			return true
		}
	}
	for _, t := range tags {
		if c.tags[t] {
			return true
		}
	}
	return false
}

// content is one device's compiled document, unsigned, and its hash.
type content struct {
	playlists []protocol.Playlist
	nodes     []string
	schedule  *protocol.Schedule
	alerts    []protocol.Alert
	hash      string
	// capability is what the document is encoded for (see encodeFor).
	capability int
}

// encodeFor makes ct the document of a device that announced capability
// c: desired encodes it for that capability (protocol.ForCapability), and
// the capability joins the hash, so a device whose agent is upgraded or
// downgraded gets a document re-encoded for it. Capability 1 leaves the
// hash as it was: documents signed before capabilities existed stay
// current.
func (ct *content) encodeFor(c int) *content {
	ct.capability = protocol.DocCapability(c)
	if ct.capability > 1 {
		s := sha256.Sum256([]byte(ct.hash + "\ncapability " + strconv.Itoa(ct.capability)))
		ct.hash = hex.EncodeToString(s[:])
	}
	return ct
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only protocol types of ours: cannot fail
	}
	return b
}

// compile builds device's document content at now from w.
func (w *world) compile(device, node, mediaURL string, now time.Time) *content {
	chain := w.tree.Chain(node)
	has := w.outputs[device]
	var assigned []store.Assignment
	for _, a := range w.assigned[device] {
		if _, ok := has[a.Output]; ok {
			assigned = append(assigned, a)
		}
	}
	tags := w.tags[device]

	// Legacy playlists: exactly what protocol v1 agents loop.
	var lkey strings.Builder
	for _, a := range assigned {
		lkey.WriteString(a.Output + "\x00" + a.Playlist + "\x00")
	}
	lists := w.memo(w.lists, lkey.String(), func() *part {
		pls := []protocol.Playlist{}
		for _, a := range assigned {
			rows := w.items[a.Playlist]
			if len(rows) == 0 {
				continue
			}
			p := protocol.Playlist{Name: a.Playlist, Output: a.Output, By: w.provenance("playlist", a.Playlist)}
			for _, r := range rows {
				p.Items = append(p.Items, r.Item)
			}
			pls = append(pls, p)
		}
		return &part{playlists: pls, json: mustJSON(pls)}
	})

	nodes := w.memo(w.nodes, node, func() *part { return &part{nodes: chain, json: mustJSON(chain)} })

	var matched []*campaign
	var skey strings.Builder
	skey.WriteString(node + "\x00" + lkey.String() + "\x00")
	for i, c := range w.campaigns {
		if _, ok := has[c.Output]; ok && c.targets(device, chain, tags) {
			matched = append(matched, c)
			skey.WriteString(strconv.Itoa(i) + ",")
		}
	}
	var sched *part
	if len(chain) > 0 || len(matched) > 0 {
		sched = w.memo(w.scheds, skey.String(), func() *part {
			tz := w.tree.TZ(node)
			if tz == "" {
				tz = DefaultTZ
			}
			s := buildSchedule(tz, w.tree.Quiet(node), lists.playlists, w.items, matched)
			for i := 0; s != nil && i < len(s.Outputs); i++ {
				for j, e := range s.Outputs[i].Entries {
					if e.Campaign == AssignedCampaign {
						s.Outputs[i].Entries[j].By = w.provenance("playlist", strings.TrimPrefix(e.ID, AssignedCampaign+"/"))
					}
				}
			}
			if s == nil {
				return &part{json: []byte("null")}
			}
			return &part{schedule: s, json: mustJSON(s)}
		})
	}

	// An alert carries only the outputs of it the device has; a device
	// with none of them does not get it. Devices are matched against the
	// alert's targets as they are now, so a device added under a target
	// after the push is warned too (though not counted in the alert's
	// frozen recipients, see store.CreateAlert).
	var akey strings.Builder
	type shown struct {
		a       *store.Alert
		outputs []string
	}
	var active []shown
	for i := range w.alerts {
		a := &w.alerts[i]
		if !a.Active(now) || !org.Addressed(a.Targets, device, chain) {
			continue
		}
		var outs []string
		for _, o := range a.Outputs {
			if _, ok := has[o]; ok {
				outs = append(outs, o)
			}
		}
		if len(outs) > 0 {
			active = append(active, shown{a, outs})
		}
	}
	if len(active) > MaxAlerts {
		active = active[len(active)-MaxAlerts:]
	}
	for _, x := range active {
		akey.WriteString(x.a.ID + ":" + strings.Join(x.outputs, ",") + ";")
	}
	alerts := w.memo(w.alertP, akey.String(), func() *part {
		var as []protocol.Alert
		for _, x := range active {
			pa := x.a.Alert
			pa.Outputs = x.outputs
			pa.By = w.provenance("alert", pa.ID)
			as = append(as, pa)
		}
		return &part{alerts: as, json: mustJSON(as)}
	})

	h := sha256.New()
	h.Write([]byte("guardcast/content/v2\n" + mediaURL + "\n"))
	for _, p := range []*part{lists, nodes, sched, alerts} {
		if p == nil {
			h.Write([]byte("\nnull"))
			continue
		}
		h.Write([]byte("\n"))
		h.Write(p.json)
	}
	ct := &content{playlists: lists.playlists, nodes: nodes.nodes, alerts: alerts.alerts, hash: hex.EncodeToString(h.Sum(nil))}
	if sched != nil {
		ct.schedule = sched.schedule
	}
	return ct
}

func (w *world) memo(m map[string]*part, key string, build func() *part) *part {
	w.mu.Lock()
	p, ok := m[key]
	w.mu.Unlock()
	if ok {
		return p
	}
	p = build()
	w.mu.Lock()
	m[key] = p
	w.mu.Unlock()
	return p
}

// buildSchedule places the legacy playlists (always-on, priority 0) and
// the matched campaigns' entries on their outputs. Each output's Safe loop
// is its assigned playlist, or else, on screens (led, tv), the items of
// its highest-priority time-based entry. Quiet hours apply to the audio
// output.
func buildSchedule(tz string, quiet []protocol.Daypart, legacy []protocol.Playlist, items map[string][]store.PlaylistItemRow, matched []*campaign) *protocol.Schedule {
	plans := map[string]*protocol.OutputPlan{}
	plan := func(output string) *protocol.OutputPlan {
		p, ok := plans[output]
		if !ok {
			p = &protocol.OutputPlan{Output: output}
			plans[output] = p
		}
		return p
	}
	for _, pl := range legacy {
		p := plan(pl.Output)
		p.Entries = append(p.Entries, protocol.Entry{ID: AssignedCampaign + "/" + pl.Name, Campaign: AssignedCampaign, Items: entryItems(items[pl.Name])})
		p.Safe = pl.Items
	}
	for _, c := range matched {
		for _, e := range c.entries {
			p := plan(c.Output)
			p.Entries = append(p.Entries, e)
		}
	}
	if len(plans) == 0 {
		return nil
	}
	s := &protocol.Schedule{TZ: tz}
	for _, p := range plans {
		sort.SliceStable(p.Entries, func(i, j int) bool {
			if p.Entries[i].Priority != p.Entries[j].Priority {
				return p.Entries[i].Priority > p.Entries[j].Priority
			}
			return p.Entries[i].ID < p.Entries[j].ID
		})
		if p.Safe == nil && (p.Output == protocol.OutputLED || p.Output == protocol.OutputTV) {
			// A screen may loop its main message when nothing is due; a
			// speaker or a printer must not (an ATM would repeat its prompt
			// all night, a printer would run out of paper). Their safe loop
			// is only what the office assigned explicitly.
			p.Safe = safeLoop(p.Entries)
		}
		if p.Output == protocol.OutputAudio && len(quiet) > 0 {
			p.Quiet = quiet
		}
		s.Outputs = append(s.Outputs, *p)
	}
	sort.Slice(s.Outputs, func(i, j int) bool { return s.Outputs[i].Output < s.Outputs[j].Output })
	return s
}

// safeLoop is the first time-based entry's items, without the ones bound
// to dates (the safe loop plays when the date is not known); all of them
// if every item is dated.
func safeLoop(entries []protocol.Entry) []protocol.Item {
	for _, e := range entries {
		if e.Trigger != "" {
			continue
		}
		var undated, all []protocol.Item
		for _, it := range e.Items {
			all = append(all, it.Item)
			if it.ValidFrom == "" && it.ValidUntil == "" {
				undated = append(undated, it.Item)
			}
		}
		if len(undated) > 0 {
			return undated
		}
		return all
	}
	return nil
}

func (c *Compiler) desired(device string, version uint64, ct *content, now time.Time) *protocol.DesiredState {
	ds := &protocol.DesiredState{
		V: protocol.Version, Device: device, Version: version,
		IssuedAt: now.Unix(), ExpiresAt: now.Add(c.opts.Lifetime).Unix(),
		MediaURL: c.opts.MediaURL, Playlists: ct.playlists, Nodes: ct.nodes, Schedule: ct.schedule, Alerts: ct.alerts,
	}
	return ds.ForCapability(ct.capability)
}

func needsSigning(h store.DesiredHead, hash string, now time.Time) bool {
	renewAt := h.Issued + (h.Expires-h.Issued)/2
	return !h.HasDoc || hash != h.Hash || now.Unix() >= renewAt
}

// Desired compiles a device's desired state exactly as Refresh would, but
// neither signs nor stores it: `schedule preview` evaluates this. Version
// is the stored one when the content is unchanged, else the next.
func (c *Compiler) Desired(ctx context.Context, device string) (*protocol.DesiredState, error) {
	d, err := c.liveDevice(ctx, device)
	if err != nil {
		return nil, err
	}
	w, err := c.loadWorld(ctx)
	if err != nil {
		return nil, err
	}
	capability, err := c.st.Capability(ctx, d.ID)
	if err != nil {
		return nil, err
	}
	now := c.now()
	ct := w.compile(d.ID, d.Node, c.opts.MediaURL, now).encodeFor(capability)
	v := d.DesiredVersion
	if ct.hash != d.DesiredHash || v == 0 {
		v++
	}
	ds := c.desired(d.ID, v, ct, now)
	if err := ds.Validate(); err != nil {
		return nil, fmt.Errorf("desired state of %s: %w", device, err)
	}
	return ds, nil
}

// liveDevice returns a device that is not retired: nothing is compiled
// for a retired one (ErrNotFound).
func (c *Compiler) liveDevice(ctx context.Context, id string) (store.Device, error) {
	d, err := c.st.Device(ctx, id)
	if err != nil {
		return d, err
	}
	if d.RetiredAt != 0 {
		return d, fmt.Errorf("device %s is retired: %w", id, store.ErrNotFound)
	}
	return d, nil
}

// Refresh returns the device's current signed document, signing a new
// version when what it should play changed or the stored one is past half
// its lifetime. changed reports whether a new version was made.
func (c *Compiler) Refresh(ctx context.Context, device string) (doc []byte, version uint64, changed bool, err error) {
	d, err := c.liveDevice(ctx, device)
	if err != nil {
		return nil, 0, false, err
	}
	w, err := c.loadWorld(ctx)
	if err != nil {
		return nil, 0, false, err
	}
	capability, err := c.st.Capability(ctx, d.ID)
	if err != nil {
		return nil, 0, false, err
	}
	now := c.now()
	ct := w.compile(d.ID, d.Node, c.opts.MediaURL, now).encodeFor(capability)
	h := store.DesiredHead{ID: d.ID, Version: d.DesiredVersion, Hash: d.DesiredHash, Issued: d.DesiredIssued, Expires: d.DesiredExpires, HasDoc: d.DesiredDoc != nil}
	if !needsSigning(h, ct.hash, now) {
		return d.DesiredDoc, d.DesiredVersion, false, nil
	}
	ds := c.desired(device, d.DesiredVersion+1, ct, now)
	raw, err := protocol.SignDesired(c.key, ds)
	if err != nil {
		return nil, 0, false, fmt.Errorf("sign desired state of %s: %w", device, err)
	}
	if err := c.st.SetDesired(ctx, device, ds.Version, ct.hash, raw, ds.IssuedAt, ds.ExpiresAt); err != nil {
		return nil, 0, false, err
	}
	return raw, ds.Version, true, nil
}

// Doc is one device's document after a RefreshAll.
type Doc struct {
	Device  string
	Doc     []byte
	Version uint64
	Changed bool // a new version was signed and stored
}

// RefreshAll is Refresh for every device in one pass: the world is loaded
// once, unchanged devices cost a hash, changed ones are signed on every
// core, and all new documents are stored in one transaction. It returns
// the changed documents, and with all set also the unchanged ones (for a
// republish at start-up). Per-device failures are joined into err; the
// other devices' documents are still returned.
func (c *Compiler) RefreshAll(ctx context.Context, all bool) ([]Doc, error) {
	w, err := c.loadWorld(ctx)
	if err != nil {
		return nil, err
	}
	heads, err := c.st.DesiredHeads(ctx)
	if err != nil {
		return nil, err
	}
	now := c.now()
	type job struct {
		head store.DesiredHead
		ct   *content
	}
	var jobs []job
	var unchanged []string
	for _, h := range heads {
		ct := w.compile(h.ID, h.Node, c.opts.MediaURL, now).encodeFor(h.Capability)
		if needsSigning(h, ct.hash, now) {
			jobs = append(jobs, job{h, ct})
		} else if all && h.HasDoc {
			unchanged = append(unchanged, h.ID)
		}
	}
	if len(jobs) == 0 {
		return c.unchangedDocs(ctx, heads, unchanged, nil)
	}
	// Sign on every core while one transaction stores what is signed.
	type signed struct {
		w   store.DesiredWrite
		err error
	}
	results := make(chan signed, 256)
	workers := min(runtime.GOMAXPROCS(0), len(jobs))
	var wg sync.WaitGroup
	for k := 0; k < workers; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := k; i < len(jobs); i += workers {
				j := jobs[i]
				ds := c.desired(j.head.ID, j.head.Version+1, j.ct, now)
				raw, err := protocol.SignDesired(c.key, ds)
				if err != nil {
					results <- signed{err: fmt.Errorf("sign desired state of %s: %w", j.head.ID, err)}
					continue
				}
				results <- signed{w: store.DesiredWrite{ID: j.head.ID, Version: ds.Version, Hash: j.ct.hash, Doc: raw, Issued: ds.IssuedAt, Expires: ds.ExpiresAt}}
			}
		}()
	}
	go func() {
		wg.Wait()
		close(results)
	}()
	var errs []error
	var written []store.DesiredWrite
	stored, err := c.st.SetDesiredSeq(ctx, func(yield func(store.DesiredWrite) bool) {
		for r := range results {
			if r.err != nil {
				errs = append(errs, r.err)
				continue
			}
			written = append(written, r.w)
			if !yield(r.w) {
				return
			}
		}
	})
	for range results { // after a failed transaction: let the signers finish
	}
	if err != nil {
		return nil, fmt.Errorf("store desired states: %w", err)
	}
	out := make([]Doc, 0, len(written)+len(unchanged))
	for i, w := range written {
		if !stored[i] {
			errs = append(errs, fmt.Errorf("desired state of %s: version %d is not newer than the stored one", w.ID, w.Version))
			continue
		}
		out = append(out, Doc{Device: w.ID, Doc: w.Doc, Version: w.Version, Changed: true})
	}
	return c.unchangedDocs(ctx, heads, unchanged, out, errs...)
}

// unchangedDocs appends the stored documents of unchanged devices to out.
func (c *Compiler) unchangedDocs(ctx context.Context, heads []store.DesiredHead, unchanged []string, out []Doc, errs ...error) ([]Doc, error) {
	if len(unchanged) > 0 {
		docs, err := c.st.DesiredDocs(ctx, unchanged)
		if err != nil {
			return out, errors.Join(append(errs, err)...)
		}
		for _, h := range heads {
			if doc, ok := docs[h.ID]; ok {
				out = append(out, Doc{Device: h.ID, Doc: doc, Version: h.Version})
			}
		}
	}
	return out, errors.Join(errs...)
}
