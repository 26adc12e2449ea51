package office

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/guardcast/guardcast/controller/internal/alert"
	"github.com/guardcast/guardcast/controller/internal/auth"
	"github.com/guardcast/guardcast/controller/internal/fleet"
	"github.com/guardcast/guardcast/controller/internal/org"
	"github.com/guardcast/guardcast/controller/internal/report"
	"github.com/guardcast/guardcast/controller/internal/schedule"
	"github.com/guardcast/guardcast/controller/internal/store"
	"github.com/guardcast/guardcast/internal/protocol"
)

// Who may do what. An admin may do everything (but approve their own
// change); nil means any signed-in user.
var (
	anyone     []auth.Role
	admins     = []auth.Role{auth.RoleAdmin}
	editors    = []auth.Role{auth.RoleEditor}
	approvers  = []auth.Role{auth.RoleApprover}
	issuers    = []auth.Role{auth.RoleAlertIssuer}
	stoppers   = []auth.Role{auth.RoleAlertIssuer, auth.RoleApprover}
	enders     = []auth.Role{auth.RoleEditor, auth.RoleApprover}
	watchers   = []auth.Role{auth.RoleSupervisor, auth.RoleAlertIssuer, auth.RoleApprover, auth.RoleEditor, auth.RoleAuditor}
	previewers = []auth.Role{auth.RoleEditor, auth.RoleApprover, auth.RoleSupervisor}
	auditors   = []auth.Role{auth.RoleAuditor, auth.RoleSupervisor}
	logReaders = []auth.Role{auth.RoleAuditor}
	// phoneReaders may see people's phone numbers.
	phoneReaders = []auth.Role{auth.RoleSupervisor, auth.RoleAlertIssuer, auth.RoleApprover, auth.RoleResponsible}
)

// ops is the table of every operation. A new operation is added here and
// nowhere else: the HTTP API and its permission tests are generated from it.
var ops = []Op{
	// The org tree and people.
	def("org.tree", false, anyone, "the org tree with devices (phones for supervisors, issuers, approvers, responsible people)", opOrgTree),
	def("org.add", true, admins, "add an org node", opOrgAdd),
	def("org.edit", true, admins, "change an org node", opOrgEdit),
	def("person.add", true, admins, "add a responsible person to a node", opPersonAdd),

	// Devices.
	def("device.list", false, anyone, "devices and their state", opDeviceList),
	def("device.add", true, admins, "enroll a device; answers its agent config", opDeviceAdd),
	def("device.move", true, admins, "move a device to a site", opDeviceMove),
	def("device.tag", true, admins, "add or remove device tags", opDeviceTag),
	def("controller.add", true, admins, "a broker credential for an external broker or a second controller; answers its password", opControllerAdd),
	def("device.reset_enrollment", true, admins, "clear a device's pinned key; answers a new enrollment secret", opDeviceReset),

	// Media, playlists, campaigns.
	def("media.list", false, anyone, "the media library", opMediaList),
	{Name: "media.add", Write: true, Roles: editors, Help: "upload a file: POST /api/media?name=NAME[&title=T] with the file as the body",
		run: func(c *Core, ctx context.Context, a Actor, body []byte) (any, string, any, error) {
			return nil, "", nil, store.Invalid(errors.New("media.add takes the file itself: POST /api/media?name=NAME with the file as the body"))
		}},
	def("playlist.list", false, anyone, "playlists and their items", opPlaylistList),
	def("playlist.create", true, editors, "propose a new playlist (pending approval)", opPlaylistCreate),
	def("playlist.edit", true, editors, "propose new items for a playlist (pending approval)", opPlaylistEdit),
	def("playlist.assign", true, editors, "propose putting a playlist on devices (pending approval)", opPlaylistAssign),
	def("campaign.list", false, anyone, "campaigns", opCampaignList),
	def("campaign.create", true, editors, "propose a campaign (pending approval)", opCampaignCreate),
	def("campaign.end", true, enders, "end a campaign now", opCampaignEnd),
	def("schedule.preview", false, previewers, "what a device will play", opPreview),

	// Approvals.
	def("change.list", false, anyone, "pending and decided changes", opChangeList),
	def("change.show", false, anyone, "one change with what it would do", opChangeShow),
	def("change.approve", true, approvers, "approve someone else's change: it is applied, compiled and signed", opChangeApprove),
	def("change.reject", true, approvers, "reject a pending change", opChangeReject),
	def("change.withdraw", true, anyone, "withdraw your own pending change", opChangeWithdraw),

	// Urgent alerts.
	def("alert.list", false, anyone, "alerts", opAlertList),
	def("alert.push", true, issuers, "push an urgent fraud warning", opAlertPush),
	def("alert.status", false, watchers, "who has signed for an alert", opAlertStatus),
	def("alert.laggards", false, watchers, "who has not signed for an alert, with the people to call", opAlertLaggards),
	def("alert.cancel", true, stoppers, "cancel an alert", opAlertCancel),

	// Supervision and audit.
	def("versions.list", false, watchers, "every device's schedule version state", opVersions),
	def("versions.laggards", false, watchers, "devices behind on their schedule version", opVersionLaggards),
	def("quota.misses", false, watchers, "quotas devices could not meet", opQuotaMisses),
	def("proofs.list", false, auditors, "play records", opProofs),
	def("findings.list", false, auditors, "findings: gaps, broken chains, bad signatures", opFindings),
	def("adminlog.list", false, logReaders, "the admin log", opAdminLogList),

	// Undo and lifecycle: immediate, since they only take things away.
	def("org.retire", true, admins, "retire an org node with nothing left under it (and its people)", opNodeRetire),
	def("person.edit", true, admins, "change a responsible person's name, phone or role", opPersonEdit),
	def("person.retire", true, admins, "take a person off a node", opPersonRetire),
	def("device.retire", true, admins, "decommission a device: its login stops working, its proofs and keys are kept", opDeviceRetire),
	def("media.retire", true, editors, "stop offering a clip for new playlists (old proofs still verify)", opMediaRetire),
	def("playlist.retire", true, editors, "retire a playlist no campaign or device uses", opPlaylistRetire),
	def("playlist.unassign", true, editors, "take a device output's playlist off it", opPlaylistUnassign),
	def("targets.resolve", false, anyone, "how many devices targets reach, per output", opResolve),

	// Users and settings.
	def("user.me", false, anyone, "who you are", opUserMe),
	def("user.list", false, admins, "users", opUserList),
	def("user.add", true, admins, "add a user", opUserAdd),
	def("user.edit", true, admins, "change a user's roles, node, name or language", opUserEdit),
	def("user.disable", true, admins, "disable a user (ends their sessions and tokens)", opUserDisable),
	def("user.enable", true, admins, "enable a user again", opUserEnable),
	def("user.password", true, anyone, "set a password (your own; an admin may set anyone's)", opUserPassword),
	def("token.add", true, admins, "make an API token for a user; answers it once", opTokenAdd),
	def("token.revoke", true, admins, "revoke an API token", opTokenRevoke),
	def("token.list", false, admins, "a user's API tokens", opTokenList),
	def("settings.get", false, anyone, "office settings", opSettingsGet),
	def("settings.set", true, admins, "change office settings", opSettingsSet),
}

// Empty is a request or answer with no fields.
type Empty struct{}

// OK is a plain acknowledgement.
type OK struct {
	OK      bool   `json:"ok"`
	Message string `json:"message,omitempty"`
}

func ok(format string, args ...any) OK { return OK{OK: true, Message: fmt.Sprintf(format, args...)} }

func invalidf(format string, args ...any) error { return store.Invalid(fmt.Errorf(format, args...)) }

// ---- org ----

func opOrgTree(c *Core, ctx context.Context, a Actor, _ Empty) (*OrgView, string, error) {
	v, err := OrgTree(ctx, c.b, a.HasAny(phoneReaders))
	if err != nil {
		return nil, "", err
	}
	// A unit's responsible person with no wider role sees their own part
	// of the tree only.
	if a.Node != "" && !a.HasAny(append([]auth.Role{auth.RoleEditor, auth.RoleAuditor}, watchers...)) {
		var own *NodeView
		var find func(ns []*NodeView)
		find = func(ns []*NodeView) {
			for _, n := range ns {
				if n.ID == a.Node {
					own = n
					return
				}
				find(n.Children)
			}
		}
		find(v.Roots)
		v = &OrgView{Roots: []*NodeView{}, Unplaced: []DeviceBrief{}}
		if own != nil {
			v.Roots = append(v.Roots, own)
		}
	}
	return v, "", nil
}

// NodeRequest adds a node; Quiet takes the CLI's "daily,22:00-07:00"
// form ("none": no quiet hours, left out: inherit).
type NodeRequest struct {
	ID     string   `json:"id"`
	Kind   string   `json:"kind"`
	Name   string   `json:"name"`
	Parent string   `json:"parent,omitempty"`
	TZ     string   `json:"tz,omitempty"`
	Quiet  []string `json:"quiet,omitempty"`
}

// Node parses the request.
func (q NodeRequest) Node() (org.Node, error) {
	n := org.Node{ID: q.ID, Kind: q.Kind, Name: q.Name, Parent: q.Parent, TZ: q.TZ}
	if q.Quiet != nil {
		quiet, err := org.ParseQuiet(q.Quiet)
		if err != nil {
			return n, store.Invalid(err)
		}
		n.Quiet = quiet
	}
	return n, nil
}

func opOrgAdd(c *Core, ctx context.Context, a Actor, q NodeRequest) (org.Node, string, error) {
	n, err := q.Node()
	if err != nil {
		return n, "", err
	}
	if err := c.b.AddNode(ctx, n); err != nil {
		return n, "", err
	}
	c.changed()
	return n, n.ID, nil
}

// NodePatch changes a node: only the fields present change. Quiet
// ["inherit"] goes back to the parent's.
type NodePatch struct {
	ID     string    `json:"id"`
	Name   *string   `json:"name,omitempty"`
	Parent *string   `json:"parent,omitempty"`
	TZ     *string   `json:"tz,omitempty"`
	Quiet  *[]string `json:"quiet,omitempty"`
}

// Edit parses the patch.
func (p NodePatch) Edit() (store.NodeEdit, error) {
	e := store.NodeEdit{Name: p.Name, Parent: p.Parent, TZ: p.TZ}
	if p.Quiet != nil {
		var q []protocol.Daypart
		if len(*p.Quiet) != 1 || (*p.Quiet)[0] != "inherit" {
			var err error
			if q, err = org.ParseQuiet(*p.Quiet); err != nil {
				return e, store.Invalid(err)
			}
		}
		e.Quiet = &q
	}
	return e, nil
}

func opOrgEdit(c *Core, ctx context.Context, a Actor, p NodePatch) (org.Node, string, error) {
	e, err := p.Edit()
	if err != nil {
		return org.Node{}, "", err
	}
	if e == (store.NodeEdit{}) {
		return org.Node{}, "", invalidf("nothing to change: give a name, parent, tz or quiet hours")
	}
	if err := c.b.EditNode(ctx, p.ID, e); err != nil {
		return org.Node{}, "", err
	}
	c.changed()
	tree, err := c.b.Tree(ctx)
	if err != nil {
		return org.Node{}, p.ID, err
	}
	n, _ := tree.Node(p.ID)
	return n, p.ID, nil
}

// PersonRequest adds a responsible person to a node.
type PersonRequest struct {
	Node  string `json:"node"`
	Role  string `json:"role"`
	Name  string `json:"name"`
	Phone string `json:"phone"`
}

func opPersonAdd(c *Core, ctx context.Context, a Actor, q PersonRequest) (org.Person, string, error) {
	p := org.Person{Node: q.Node, Role: q.Role, Name: strings.TrimSpace(q.Name), Phone: strings.TrimSpace(q.Phone)}
	if p.Node == "" || p.Role == "" || p.Name == "" || p.Phone == "" {
		return p, "", invalidf("node, role, name and phone are required")
	}
	id, err := c.b.AddPerson(ctx, p)
	if err != nil {
		return p, "", err
	}
	p.ID = id
	return p, p.Node, nil
}

// ---- devices ----

func opDeviceList(c *Core, ctx context.Context, a Actor, _ Empty) ([]DeviceView, string, error) {
	devs, err := c.b.Devices(ctx)
	if err != nil {
		return nil, "", err
	}
	tags, err := c.b.DeviceTags(ctx)
	if err != nil {
		return nil, "", err
	}
	out := []DeviceView{}
	for _, d := range devs {
		out = append(out, ViewDevice(d, tags[d.ID]))
	}
	return out, "", nil
}

// DeviceRequest enrolls a device.
type DeviceRequest struct {
	ID      string            `json:"id"`
	Site    string            `json:"site,omitempty"`
	Profile string            `json:"profile"`
	Node    string            `json:"node,omitempty"`
	Tags    []string          `json:"tags,omitempty"`
	Outputs map[string]string `json:"outputs,omitempty"` // extra outputs: output → profile
	Inputs  map[string]string `json:"inputs,omitempty"`  // local triggers: name → gpio-input profile
	// BrokerURL and MediaURL default to the running controller's.
	BrokerURL string `json:"broker_url,omitempty"`
	MediaURL  string `json:"media_url,omitempty"`
	// CACert (PEM) is the CA the agent pins; default the controller's.
	CACert string `json:"ca_cert,omitempty"`
}

// Enrolled answers device.add: the agent config holds the device's
// password and one-time enrollment secret, shown only this once.
type Enrolled struct {
	Config *protocol.AgentConfig `json:"config"`
}

func opDeviceAdd(c *Core, ctx context.Context, a Actor, q DeviceRequest) (Enrolled, string, error) {
	if q.ID == "" || q.Profile == "" {
		return Enrolled{}, "", invalidf("id and profile are required")
	}
	for k := range q.Outputs {
		if !protocol.ValidOutput(k) {
			return Enrolled{}, "", invalidf("output %q: want led, tv, audio or printer", k)
		}
	}
	for k := range q.Inputs {
		if !protocol.ValidTriggerName(k) {
			return Enrolled{}, "", invalidf("input %q: a trigger name of a-z, 0-9 and -", k)
		}
	}
	def := c.b.AgentDefaults()
	if q.BrokerURL == "" {
		q.BrokerURL = def.BrokerURL
	}
	if q.MediaURL == "" {
		q.MediaURL = def.MediaURL
	}
	if q.CACert == "" {
		q.CACert = def.CACert
	}
	if q.BrokerURL == "" || q.MediaURL == "" {
		return Enrolled{}, "", invalidf("no broker or media URL: start the controller once (it writes endpoints.json) or give them")
	}
	if q.Site == "" && q.Node != "" {
		if tree, err := c.b.Tree(ctx); err == nil {
			if n, ok := tree.Node(q.Node); ok {
				q.Site = n.Name
			}
		}
	}
	cfg, err := c.b.Enroll(ctx, fleet.Enrollment{ID: q.ID, Site: q.Site, Profile: q.Profile, Node: q.Node, Tags: q.Tags,
		BrokerURL: q.BrokerURL, MediaURL: q.MediaURL, CACert: q.CACert, ContentKey: c.b.ContentKey(),
		Outputs: q.Outputs, Inputs: q.Inputs})
	if err != nil {
		return Enrolled{}, "", err
	}
	cfg.Outputs, cfg.Inputs = q.Outputs, q.Inputs
	c.changed()
	return Enrolled{Config: cfg}, q.ID, nil
}

// DeviceMove moves a device to a site.
type DeviceMove struct {
	ID string `json:"id"`
	To string `json:"to"`
}

func opDeviceMove(c *Core, ctx context.Context, a Actor, q DeviceMove) (OK, string, error) {
	if q.ID == "" || q.To == "" {
		return OK{}, "", invalidf("id and to are required")
	}
	if err := c.b.MoveDevice(ctx, q.ID, q.To); err != nil {
		return OK{}, "", err
	}
	c.changed()
	return ok("%s now belongs to site %s", q.ID, q.To), q.ID, nil
}

// DeviceTag changes a device's tags.
type DeviceTag struct {
	ID     string   `json:"id"`
	Add    []string `json:"add,omitempty"`
	Remove []string `json:"remove,omitempty"`
}

// DeviceTags answers device.tag.
type DeviceTags struct {
	Device string   `json:"device"`
	Tags   []string `json:"tags"`
}

func opDeviceTag(c *Core, ctx context.Context, a Actor, q DeviceTag) (DeviceTags, string, error) {
	if q.ID == "" || len(q.Add)+len(q.Remove) == 0 {
		return DeviceTags{}, "", invalidf("id and at least one tag to add or remove are required")
	}
	if err := c.b.TagDevice(ctx, q.ID, q.Add, q.Remove); err != nil {
		return DeviceTags{}, "", err
	}
	c.changed()
	tags, err := c.b.DeviceTags(ctx)
	if err != nil {
		return DeviceTags{}, q.ID, err
	}
	t := tags[q.ID]
	if t == nil {
		t = []string{}
	}
	return DeviceTags{Device: q.ID, Tags: t}, q.ID, nil
}

// BrokerCredential answers controller.add; the password is shown once.
type BrokerCredential struct {
	ID       string `json:"id"`
	Password string `json:"password"`
}

func opControllerAdd(c *Core, ctx context.Context, a Actor, q DeviceRef) (BrokerCredential, string, error) {
	if q.ID == "" {
		return BrokerCredential{}, "", invalidf("id is required")
	}
	pw, err := c.b.AddController(ctx, q.ID)
	return BrokerCredential{ID: q.ID, Password: pw}, q.ID, err
}

// DeviceRef names a device.
type DeviceRef struct {
	ID string `json:"id"`
}

// EnrollSecret answers device.reset_enrollment.
type EnrollSecret struct {
	Device       string `json:"device"`
	EnrollSecret string `json:"enroll_secret"`
}

func opDeviceReset(c *Core, ctx context.Context, a Actor, q DeviceRef) (EnrollSecret, string, error) {
	if q.ID == "" {
		return EnrollSecret{}, "", invalidf("id is required")
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return EnrollSecret{}, "", err
	}
	if err := c.b.ResetEnrollment(ctx, q.ID, secret); err != nil {
		return EnrollSecret{}, "", err
	}
	return EnrollSecret{Device: q.ID, EnrollSecret: protocol.EncodeKey(secret)}, q.ID, nil
}

// ---- media and playlists ----

// MediaView is a library item.
type MediaView struct {
	SHA256     string `json:"sha256"`
	Kind       string `json:"kind"`
	MIME       string `json:"mime"`
	Size       int64  `json:"size"`
	Name       string `json:"name"`
	Title      string `json:"title"`
	DurationMS int64  `json:"duration_ms,omitempty"`
	AddedAt    int64  `json:"added_at"`
}

func viewMedia(m store.Media) MediaView {
	return MediaView{SHA256: m.SHA256, Kind: m.Kind, MIME: m.MIME, Size: m.Size, Name: m.Name, Title: m.Title, DurationMS: m.DurationMS, AddedAt: m.AddedAt}
}

func opMediaList(c *Core, ctx context.Context, a Actor, _ Empty) ([]MediaView, string, error) {
	ms, err := c.b.ListMedia(ctx)
	if err != nil {
		return nil, "", err
	}
	out := []MediaView{}
	for _, m := range ms {
		out = append(out, viewMedia(m))
	}
	return out, "", nil
}

// KindsFor says which media kinds each output can show.
var KindsFor = map[string][]string{
	protocol.OutputLED:     {"text", "image"},
	protocol.OutputTV:      {"video", "image", "text"},
	protocol.OutputAudio:   {"audio"},
	protocol.OutputPrinter: {"print", "text", "image"},
}

// PlaylistItemSpec is one item as people write it.
type PlaylistItemSpec struct {
	Media      string  `json:"media"`             // name, sha256 or a unique sha256 prefix
	Seconds    float64 `json:"seconds,omitempty"` // how long it holds the output; default the clip's length
	ValidFrom  string  `json:"valid_from,omitempty"`
	ValidUntil string  `json:"valid_until,omitempty"`
}

// PlaylistRequest creates or edits a playlist.
type PlaylistRequest struct {
	Name   string             `json:"name"`
	Output string             `json:"output"`
	Items  []PlaylistItemSpec `json:"items"`
}

// resolve checks the request against the library.
func (c *Core) resolvePlaylist(ctx context.Context, q PlaylistRequest) (store.Playlist, error) {
	p := store.Playlist{Name: q.Name, Output: q.Output}
	if q.Name == "" || len(q.Name) > 100 || strings.ContainsAny(q.Name, "/\\\x00") {
		return p, invalidf("playlist name %q: 1..100 characters, no slashes", q.Name)
	}
	if !protocol.ValidOutput(q.Output) {
		return p, invalidf("output %q: want led, tv, audio or printer", q.Output)
	}
	if len(q.Items) == 0 {
		return p, invalidf("a playlist needs at least one item")
	}
	for _, it := range q.Items {
		m, err := c.b.Media(ctx, it.Media)
		if err != nil {
			return p, store.Invalid(fmt.Errorf("item %s: %w", it.Media, err))
		}
		okKind := false
		for _, k := range KindsFor[q.Output] {
			okKind = okKind || k == m.Kind
		}
		if !okKind {
			return p, invalidf("item %s is %s media; output %s plays %s", it.Media, m.Kind, q.Output, strings.Join(KindsFor[q.Output], ", "))
		}
		ms := m.DurationMS
		if it.Seconds != 0 {
			if it.Seconds < 0 || it.Seconds > 86400 || math.IsNaN(it.Seconds) {
				return p, invalidf("item %s: seconds must be in (0, 86400]", it.Media)
			}
			ms = int64(it.Seconds * 1000)
		}
		if ms <= 0 {
			return p, invalidf("item %s: %s media has no duration of its own; give seconds", it.Media, m.Kind)
		}
		for _, d := range []string{it.ValidFrom, it.ValidUntil} {
			if d == "" {
				continue
			}
			if _, err := time.Parse(time.DateOnly, d); err != nil {
				return p, invalidf("item %s: validity dates must be YYYY-MM-DD", it.Media)
			}
		}
		if it.ValidFrom != "" && it.ValidUntil != "" && it.ValidUntil <= it.ValidFrom {
			return p, invalidf("item %s: valid until %s is not after %s (until is exclusive)", it.Media, it.ValidUntil, it.ValidFrom)
		}
		p.Items = append(p.Items, store.PlaylistItem{SHA256: m.SHA256, DurationMS: ms, ValidFrom: it.ValidFrom, ValidUntil: it.ValidUntil})
	}
	return p, nil
}

// PlaylistView is a playlist with its items.
type PlaylistView struct {
	Name   string          `json:"name"`
	Output string          `json:"output"`
	Items  []protocol.Item `json:"items"`
}

func (c *Core) playlists(ctx context.Context) (map[string]PlaylistView, error) {
	items, err := c.b.AllPlaylistItems(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]PlaylistView{}
	for name, rows := range items {
		v := PlaylistView{Name: name, Items: []protocol.Item{}}
		for _, r := range rows {
			v.Output = r.Output
			v.Items = append(v.Items, r.Item)
		}
		out[name] = v
	}
	return out, nil
}

func opPlaylistList(c *Core, ctx context.Context, a Actor, _ Empty) ([]PlaylistView, string, error) {
	m, err := c.playlists(ctx)
	if err != nil {
		return nil, "", err
	}
	out := []PlaylistView{}
	for _, v := range m {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, "", nil
}

func opPlaylistCreate(c *Core, ctx context.Context, a Actor, q PlaylistRequest) (ChangeResult, string, error) {
	p, err := c.resolvePlaylist(ctx, q)
	if err != nil {
		return ChangeResult{}, "", err
	}
	existing, err := c.playlists(ctx)
	if err != nil {
		return ChangeResult{}, "", err
	}
	if _, ok := existing[p.Name]; ok {
		return ChangeResult{}, "", fmt.Errorf("playlist %s: %w; change it with `playlist edit %s`", p.Name, store.ErrExists, p.Name)
	}
	if err := c.noPendingFor(ctx, "playlist.create", p.Name); err != nil {
		return ChangeResult{}, "", err
	}
	r, err := c.propose(ctx, a, "playlist.create", p.Name, fmt.Sprintf("new playlist %s on %s, %d item(s)", p.Name, p.Output, len(p.Items)), p)
	return r, p.Name, err
}

func opPlaylistEdit(c *Core, ctx context.Context, a Actor, q PlaylistRequest) (ChangeResult, string, error) {
	p, err := c.resolvePlaylist(ctx, q)
	if err != nil {
		return ChangeResult{}, "", err
	}
	existing, err := c.playlists(ctx)
	if err != nil {
		return ChangeResult{}, "", err
	}
	old, ok := existing[p.Name]
	if !ok {
		return ChangeResult{}, "", fmt.Errorf("playlist %s: %w; create it with `playlist create`", p.Name, store.ErrNotFound)
	}
	if old.Output != p.Output {
		return ChangeResult{}, "", invalidf("playlist %s plays on %s, not %s", p.Name, old.Output, p.Output)
	}
	r, err := c.propose(ctx, a, "playlist.edit", p.Name, fmt.Sprintf("playlist %s: %d item(s) instead of %d", p.Name, len(p.Items), len(old.Items)), p)
	return r, p.Name, err
}

// AssignRequest puts a playlist on devices.
type AssignRequest struct {
	Playlist string   `json:"playlist"`
	Devices  []string `json:"devices"`
}

func opPlaylistAssign(c *Core, ctx context.Context, a Actor, q AssignRequest) (ChangeResult, string, error) {
	if q.Playlist == "" || len(q.Devices) == 0 {
		return ChangeResult{}, "", invalidf("playlist and at least one device are required")
	}
	existing, err := c.playlists(ctx)
	if err != nil {
		return ChangeResult{}, "", err
	}
	if _, ok := existing[q.Playlist]; !ok {
		// A playlist still awaiting approval may be assigned: approving
		// the assignment then fails until the playlist is approved.
		if c.noPendingFor(ctx, "playlist.create", q.Playlist) == nil {
			return ChangeResult{}, "", fmt.Errorf("playlist %s: %w", q.Playlist, store.ErrNotFound)
		}
	}
	for _, d := range q.Devices {
		if _, err := c.b.Device(ctx, d); err != nil {
			return ChangeResult{}, "", store.Invalid(fmt.Errorf("device %s: %w", d, err))
		}
	}
	r, err := c.propose(ctx, a, "playlist.assign", q.Playlist, fmt.Sprintf("playlist %s on %s", q.Playlist, strings.Join(q.Devices, ", ")), q)
	return r, q.Playlist, err
}

// ---- campaigns ----

// CampaignList asks for campaigns; All includes ended ones.
type CampaignList struct {
	All bool `json:"all,omitempty"`
}

func opCampaignList(c *Core, ctx context.Context, a Actor, q CampaignList) ([]schedule.CampaignView, string, error) {
	cs, err := c.b.Campaigns(ctx, q.All)
	if err != nil {
		return nil, "", err
	}
	out := []schedule.CampaignView{}
	for _, x := range cs {
		out = append(out, schedule.ViewCampaign(x))
	}
	return out, "", nil
}

func opCampaignCreate(c *Core, ctx context.Context, a Actor, q schedule.CampaignRequest) (ChangeResult, string, error) {
	camp, err := q.Campaign()
	if err != nil {
		return ChangeResult{}, "", err
	}
	cs, err := c.b.Campaigns(ctx, false)
	if err != nil {
		return ChangeResult{}, "", err
	}
	for _, x := range cs {
		if x.Name == camp.Name {
			return ChangeResult{}, "", fmt.Errorf("campaign %s: %w; end it (`campaign end %s`) and create it again to change it", camp.Name, store.ErrExists, camp.Name)
		}
	}
	pls, err := c.playlists(ctx)
	if err != nil {
		return ChangeResult{}, "", err
	}
	for _, p := range camp.Playlists {
		pv, ok := pls[p]
		if !ok {
			return ChangeResult{}, "", invalidf("playlist %s does not exist (or is not approved yet)", p)
		}
		if pv.Output != camp.Output {
			return ChangeResult{}, "", invalidf("playlist %s plays on %s, not %s", p, pv.Output, camp.Output)
		}
	}
	if err := c.noPendingFor(ctx, "campaign.create", camp.Name); err != nil {
		return ChangeResult{}, "", err
	}
	// A target must reach at least one device that has the output.
	reach, err := c.resolve(ctx, q.Targets, []string{camp.Output})
	if err != nil {
		return ChangeResult{}, "", err
	}
	v := schedule.ViewCampaign(camp)
	r, err := c.propose(ctx, a, "campaign.create", camp.Name, fmt.Sprintf("campaign %s: %s on %s for %s (%s; %d device(s))", camp.Name,
		strings.Join(camp.Playlists, ", "), camp.Output, strings.Join(v.Targets, " "), v.Rules(), reach.ByOutput[camp.Output]), q)
	r.Reach = &reach
	return r, camp.Name, err
}

// NameRef names a campaign or playlist.
type NameRef struct {
	Name string `json:"name"`
}

func opCampaignEnd(c *Core, ctx context.Context, a Actor, q NameRef) (OK, string, error) {
	if q.Name == "" {
		return OK{}, "", invalidf("name is required")
	}
	if err := c.b.EndCampaign(ctx, q.Name, c.clk.Now().Unix()); err != nil {
		return OK{}, "", err
	}
	c.changed()
	return ok("campaign %s ended; the next documents drop it", q.Name), q.Name, nil
}

// PreviewRequest asks what a device will play; times are RFC 3339.
type PreviewRequest struct {
	Device string `json:"device"`
	Output string `json:"output,omitempty"`
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
}

// MaxPreview bounds a preview's span.
const MaxPreview = 31 * 24 * time.Hour

func opPreview(c *Core, ctx context.Context, a Actor, q PreviewRequest) (any, string, error) {
	now := c.clk.Now()
	from, to := now, now.Add(24*time.Hour)
	var err error
	if q.From != "" {
		if from, err = time.Parse(time.RFC3339, q.From); err != nil {
			return nil, "", invalidf("from: want RFC 3339")
		}
		to = from.Add(24 * time.Hour)
	}
	if q.To != "" {
		if to, err = time.Parse(time.RFC3339, q.To); err != nil {
			return nil, "", invalidf("to: want RFC 3339")
		}
	}
	if !to.After(from) || to.Sub(from) > MaxPreview {
		return nil, "", invalidf("to must be after from, at most 31 days")
	}
	if q.Output != "" && !protocol.ValidOutput(q.Output) {
		return nil, "", invalidf("output %q: want led, tv, audio or printer", q.Output)
	}
	if q.Device == "" {
		return nil, "", invalidf("device is required")
	}
	v, err := c.b.Preview(ctx, q.Device, q.Output, from, to)
	return v, q.Device, err
}

// ---- alerts ----

// AlertList asks for alerts; Active only those in force.
type AlertList struct {
	Active bool `json:"active,omitempty"`
}

func opAlertList(c *Core, ctx context.Context, a Actor, q AlertList) ([]AlertView, string, error) {
	var since time.Time
	now := c.clk.Now()
	if q.Active {
		since = now
	}
	as, err := c.b.Alerts(ctx, since)
	if err != nil {
		return nil, "", err
	}
	out := []AlertView{}
	for _, x := range as {
		out = append(out, ViewAlert(x, now))
	}
	return out, "", nil
}

// PushResult answers alert.push: the alert, or the pending change when
// two-person alerts are on.
type PushResult struct {
	Alert      *AlertView    `json:"alert,omitempty"`
	Recipients int           `json:"recipients"`
	Pending    *ChangeResult `json:"pending,omitempty"`
	// Reach is how many devices the alert reaches per output.
	Reach *Reach `json:"reach,omitempty"`
}

// SettingTwoPersonAlerts, when "on", makes alerts pending changes too.
const SettingTwoPersonAlerts = "two_person_alerts"

func opAlertPush(c *Core, ctx context.Context, a Actor, q alert.Request) (PushResult, string, error) {
	now := c.clk.Now()
	built, err := c.b.BuildAlert(ctx, q, now)
	if err != nil {
		return PushResult{}, "", store.Invalid(err)
	}
	ts, err := c.b.AlertTargets(ctx, built.Targets)
	if err != nil {
		return PushResult{}, "", store.Invalid(err)
	}
	res, err := c.b.ResolveTargets(ctx, ts, built.Outputs)
	if err != nil {
		return PushResult{}, "", store.Invalid(err)
	}
	reach := reachOf(res)
	if v, err := c.b.Setting(ctx, SettingTwoPersonAlerts); err != nil {
		return PushResult{}, "", err
	} else if v == "on" {
		r, err := c.propose(ctx, a, "alert.push", strings.Join(q.To, ","), fmt.Sprintf("urgent alert to %s (%s): %q", strings.Join(q.To, ", "), reach, q.Text), q)
		return PushResult{Pending: &r, Reach: &reach}, r.Change.Target, err
	}
	sa, n, err := c.pushAlert(ctx, q, a.Name, "", 0)
	if err != nil {
		return PushResult{}, "", err
	}
	v := ViewAlert(sa, now)
	return PushResult{Alert: &v, Recipients: n, Reach: &reach}, sa.ID, nil
}

func (c *Core) pushAlert(ctx context.Context, q alert.Request, author, approver string, change int64) (store.Alert, int, error) {
	now := c.clk.Now()
	sa, n, err := c.b.PushAlert(ctx, q, now)
	if errors.Is(err, alert.ErrBadRequest) {
		err = store.Invalid(err)
	}
	if err != nil {
		return sa, 0, err
	}
	// Publish first, count and record after: nothing may delay a warning.
	c.changed()
	if err := c.b.SetProvenance(ctx, store.Provenance{Kind: "alert", Ref: sa.ID, Change: change, Author: author, Approver: approver, AtMS: now.UnixMilli()}); err != nil {
		return sa, n, err
	}
	return sa, n, nil
}

// AlertRef names an alert.
type AlertRef struct {
	ID string `json:"id"`
}

func opAlertStatus(c *Core, ctx context.Context, a Actor, q AlertRef) (*alert.Status, string, error) {
	st, _, err := c.b.AlertStatus(ctx, q.ID)
	return st, q.ID, err
}

func opAlertLaggards(c *Core, ctx context.Context, a Actor, q AlertRef) ([]alert.Laggard, string, error) {
	st, tree, err := c.b.AlertStatus(ctx, q.ID)
	if err != nil {
		return nil, q.ID, err
	}
	ls := alert.Laggards(st, tree)
	if !a.HasAny(phoneReaders) {
		for i := range ls {
			blankPhones(ls[i].People)
		}
	}
	return ls, q.ID, nil
}

func opAlertCancel(c *Core, ctx context.Context, a Actor, q AlertRef) (OK, string, error) {
	if q.ID == "" {
		return OK{}, "", invalidf("id is required")
	}
	if err := c.b.CancelAlert(ctx, q.ID, c.clk.Now()); err != nil {
		return OK{}, "", err
	}
	c.changed()
	return ok("alert %s cancelled; the next documents drop it", q.ID), q.ID, nil
}

// blankPhones hides phone numbers from a role that does not need them.
func blankPhones(ps []org.Person) {
	for i := range ps {
		ps[i].Phone = ""
	}
}

// ---- supervision and audit ----

func opVersions(c *Core, ctx context.Context, a Actor, _ Empty) ([]report.VersionState, string, error) {
	vs, err := c.b.Versions(ctx)
	sort.SliceStable(vs, func(i, j int) bool { return vs[i].Device < vs[j].Device })
	return vs, "", err
}

func opVersionLaggards(c *Core, ctx context.Context, a Actor, _ Empty) ([]report.VersionLaggard, string, error) {
	ls, err := c.b.VersionLaggards(ctx)
	if err == nil && !a.HasAny(phoneReaders) {
		for i := range ls {
			blankPhones(ls[i].People)
		}
	}
	return ls, "", err
}

// DeviceFilter narrows a list to one device ("" for all).
type DeviceFilter struct {
	Device string `json:"device,omitempty"`
}

// QuotaMiss is a quota a device reported it could not meet.
type QuotaMiss struct {
	protocol.Ack
	ReceivedMS int64 `json:"received_ms"`
}

func opQuotaMisses(c *Core, ctx context.Context, a Actor, q DeviceFilter) ([]QuotaMiss, string, error) {
	rows, err := c.b.Acks(ctx, store.AckFilter{Device: q.Device, Event: protocol.AckQuotaMiss})
	if err != nil {
		return nil, "", err
	}
	out := []QuotaMiss{}
	for _, k := range rows {
		out = append(out, QuotaMiss{k.Ack, k.ReceivedMS})
	}
	return out, "", nil
}

// ProofQuery asks for play records.
type ProofQuery struct {
	Device string `json:"device,omitempty"`
	Since  string `json:"since,omitempty"` // RFC 3339
	Limit  int    `json:"limit,omitempty"` // default 1000, at most 10000
}

// ProofView is one play record as listed.
type ProofView struct {
	Device      string `json:"device"`
	Seq         uint64 `json:"seq"`
	Version     uint64 `json:"version"`
	Output      string `json:"output"`
	Playlist    string `json:"playlist"`
	MediaSHA256 string `json:"media_sha256"`
	StartNS     int64  `json:"start_ns"`
	EndNS       int64  `json:"end_ns"`
	ClockSynced bool   `json:"clock_synced"`
	Result      string `json:"result"`
	Reason      string `json:"reason,omitempty"`
	Hash        string `json:"hash"`
	Flag        string `json:"flag,omitempty"`
}

func opProofs(c *Core, ctx context.Context, a Actor, q ProofQuery) ([]ProofView, string, error) {
	f := store.ProofFilter{Device: q.Device, Limit: q.Limit}
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	if f.Limit > 10000 {
		return nil, "", invalidf("limit: at most 10000; use `proofs export` for more")
	}
	if q.Since != "" {
		t, err := time.Parse(time.RFC3339, q.Since)
		if err != nil {
			return nil, "", invalidf("since: want RFC 3339")
		}
		f.SinceNS = t.UnixNano()
	}
	out := []ProofView{}
	err := c.b.Proofs(ctx, f, func(r store.ProofRow) error {
		out = append(out, ProofView{Device: r.Device, Seq: r.Seq, Version: r.Version, Output: r.Output, Playlist: r.Playlist,
			MediaSHA256: r.MediaSHA256, StartNS: r.StartNS, EndNS: r.EndNS, ClockSynced: r.ClockSynced, Result: r.Result,
			Reason: r.Reason, Hash: r.Hash, Flag: r.Flag})
		return nil
	})
	return out, "", err
}

func opFindings(c *Core, ctx context.Context, a Actor, q DeviceFilter) ([]store.Finding, string, error) {
	fs, err := c.b.Findings(ctx, q.Device)
	if fs == nil {
		fs = []store.Finding{}
	}
	return fs, "", err
}
