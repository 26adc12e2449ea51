package office

import (
	"context"
	"crypto/ed25519"
	"io"
	"time"

	"github.com/guardcast/guardcast/controller/internal/alert"
	"github.com/guardcast/guardcast/controller/internal/fleet"
	"github.com/guardcast/guardcast/controller/internal/media"
	"github.com/guardcast/guardcast/controller/internal/org"
	"github.com/guardcast/guardcast/controller/internal/report"
	"github.com/guardcast/guardcast/controller/internal/store"
	"github.com/guardcast/guardcast/internal/protocol"
)

// Backend is everything the office reads and writes: the store's tables
// plus the few controller services that work on them (enrollment, the
// media library, alert roll-ups, preview). StoreBackend is the real one.
type Backend interface {
	Tree(ctx context.Context) (*org.Tree, error)
	AddNode(ctx context.Context, n org.Node) error
	EditNode(ctx context.Context, id string, e store.NodeEdit) error
	AddPerson(ctx context.Context, p org.Person) (int64, error)
	MoveDevice(ctx context.Context, device, site string) error
	TagDevice(ctx context.Context, device string, add, remove []string) error
	DeviceTags(ctx context.Context) (map[string][]string, error)
	Devices(ctx context.Context) ([]store.Device, error)
	Device(ctx context.Context, id string) (store.Device, error)
	ResetEnrollment(ctx context.Context, id string, secret []byte) error

	Media(ctx context.Context, ref string) (store.Media, error)
	ListMedia(ctx context.Context) ([]store.Media, error)
	CreatePlaylist(ctx context.Context, p store.Playlist) error
	AssignPlaylist(ctx context.Context, playlist, device string) error
	AllPlaylistItems(ctx context.Context) (map[string][]store.PlaylistItemRow, error)
	AllAssignments(ctx context.Context) (map[string][]store.Assignment, error)

	Campaigns(ctx context.Context, all bool) ([]store.Campaign, error)
	CreateCampaign(ctx context.Context, c store.Campaign) error
	EndCampaign(ctx context.Context, name string, at int64) error

	Alerts(ctx context.Context, since time.Time) ([]store.Alert, error)
	Alert(ctx context.Context, id string) (store.Alert, error)
	CancelAlert(ctx context.Context, id string, at time.Time) error
	Acks(ctx context.Context, f store.AckFilter) ([]store.AckRow, error)

	AddChange(ctx context.Context, c store.Change) (int64, error)
	GetChange(ctx context.Context, id int64) (store.Change, error)
	Changes(ctx context.Context, state string, limit int) ([]store.Change, error)
	MoveChange(ctx context.Context, id int64, from, to, by string, atMS int64, note string) error
	SetProvenance(ctx context.Context, p store.Provenance) error
	AllProvenance(ctx context.Context) (map[string]map[string]store.Provenance, error)
	Setting(ctx context.Context, name string) (string, error)
	SetSetting(ctx context.Context, name, value string) error

	Proofs(ctx context.Context, f store.ProofFilter, fn func(store.ProofRow) error) error
	Findings(ctx context.Context, device string) ([]store.Finding, error)

	// Lifecycle and targeting.
	RetireNode(ctx context.Context, id string, at time.Time) error
	RetirePerson(ctx context.Context, id int64, at time.Time) error
	EditPerson(ctx context.Context, id int64, e store.PersonEdit) error
	RetireDevice(ctx context.Context, id string, at time.Time) error
	RetireMedia(ctx context.Context, ref string, at time.Time) error
	RetirePlaylist(ctx context.Context, name string, at time.Time) error
	UnassignPlaylist(ctx context.Context, device, output string) error
	EditPlaylist(ctx context.Context, p store.Playlist) error
	ResolveTargets(ctx context.Context, targets []store.Target, outputs []string) (store.Resolution, error)
	AlertTargets(ctx context.Context, ids []string) ([]store.Target, error)
	AlertRecipients(ctx context.Context, id string) ([]store.Recipient, error)

	// Services over the store.
	Enroll(ctx context.Context, e fleet.Enrollment) (*protocol.AgentConfig, error)
	AddController(ctx context.Context, id string) (string, error)
	AddMediaFile(ctx context.Context, path, name, title string) (media.Info, error)
	BuildAlert(ctx context.Context, r alert.Request, now time.Time) (protocol.Alert, error)
	PushAlert(ctx context.Context, r alert.Request, now time.Time) (store.Alert, int, error)
	AlertStatus(ctx context.Context, id string) (*alert.Status, *org.Tree, error)
	Versions(ctx context.Context) ([]report.VersionState, error)
	VersionLaggards(ctx context.Context) ([]report.VersionLaggard, error)
	Preview(ctx context.Context, device, output string, from, to time.Time) (any, error)
	ContentKey() ed25519.PublicKey
	// Defaults for agent configs: where agents reach the broker and media,
	// and the CA they pin.
	AgentDefaults() AgentDefaults
	ExportProofs(ctx context.Context, f store.ProofFilter, format string, w io.Writer) error
}

// AgentDefaults are what `device add` writes into an agent config when the
// request does not say.
type AgentDefaults struct {
	BrokerURL string
	MediaURL  string
	CACert    string
}

// StoreBackend is the Backend over the real store.
type StoreBackend struct {
	*store.Store
	Lib *media.Library
	// AddMedia stores a validated file (serve.AddMedia).
	AddMedia func(ctx context.Context, path, name, title string) (media.Info, error)
	// PreviewFn computes a device's preview (schedule.Preview).
	PreviewFn func(ctx context.Context, device, output string, from, to time.Time) (any, error)
	Key       ed25519.PublicKey
	// DefaultsFn reads the agent defaults (the running controller's
	// endpoints and CA) when asked, so they are current.
	DefaultsFn func() AgentDefaults
}

var _ Backend = (*StoreBackend)(nil)

// Enroll registers a device.
func (b *StoreBackend) Enroll(ctx context.Context, e fleet.Enrollment) (*protocol.AgentConfig, error) {
	return fleet.Enroll(ctx, b.Store, e)
}

// AddController registers a broker credential for a controller.
func (b *StoreBackend) AddController(ctx context.Context, id string) (string, error) {
	return fleet.AddController(ctx, b.Store, id)
}

// AddMediaFile validates and stores a file.
func (b *StoreBackend) AddMediaFile(ctx context.Context, path, name, title string) (media.Info, error) {
	return b.AddMedia(ctx, path, name, title)
}

// BuildAlert checks a push request without storing it.
func (b *StoreBackend) BuildAlert(ctx context.Context, r alert.Request, now time.Time) (protocol.Alert, error) {
	return alert.Build(ctx, b.Store, r, now)
}

// PushAlert stores an alert and counts its recipients.
func (b *StoreBackend) PushAlert(ctx context.Context, r alert.Request, now time.Time) (store.Alert, int, error) {
	a, err := alert.Push(ctx, b.Store, r, now)
	if err != nil {
		return a, 0, err
	}
	// The recipients were frozen with the alert: count those.
	rs, err := b.Store.AlertRecipients(ctx, a.ID)
	return a, len(rs), err
}

// AlertStatus reports who has signed for an alert.
func (b *StoreBackend) AlertStatus(ctx context.Context, id string) (*alert.Status, *org.Tree, error) {
	return alert.StatusOf(ctx, b.Store, id)
}

// Versions reports every device's version state.
func (b *StoreBackend) Versions(ctx context.Context) ([]report.VersionState, error) {
	return report.Versions(ctx, b.Store)
}

// VersionLaggards lists devices behind on their schedule version.
func (b *StoreBackend) VersionLaggards(ctx context.Context) ([]report.VersionLaggard, error) {
	return report.VersionLaggards(ctx, b.Store)
}

// Preview runs the schedule preview.
func (b *StoreBackend) Preview(ctx context.Context, device, output string, from, to time.Time) (any, error) {
	return b.PreviewFn(ctx, device, output, from, to)
}

// ContentKey is the office's content-signing public key.
func (b *StoreBackend) ContentKey() ed25519.PublicKey { return b.Key }

// AgentDefaults are the broker and media URLs and CA for new agent configs.
func (b *StoreBackend) AgentDefaults() AgentDefaults {
	if b.DefaultsFn == nil {
		return AgentDefaults{}
	}
	return b.DefaultsFn()
}

// ExportProofs writes the play log as csv or jsonl.
func (b *StoreBackend) ExportProofs(ctx context.Context, f store.ProofFilter, format string, w io.Writer) error {
	return report.Export(ctx, b.Store, f, format, w)
}
