// Package fleet knows the devices: it enrolls them (credentials, one-time
// enrollment secret, the agent's config file), pins each device's key at
// its first hello, records status, and keeps every device's retained
// desired state current — the database is the source of truth, so on every
// hello (a reconnect) the device gets its document again.
package fleet

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/guardcast/guardcast/controller/internal/broker"
	"github.com/guardcast/guardcast/controller/internal/schedule"
	"github.com/guardcast/guardcast/controller/internal/store"
	"github.com/guardcast/guardcast/internal/protocol"
)

// Credentials serves the broker's logins from the store.
type Credentials struct{ Store *store.Store }

// LookupCredential implements broker.Credentials.
func (c Credentials) LookupCredential(username string) (broker.Credential, bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d, err := c.Store.Device(ctx, username)
	if errors.Is(err, store.ErrNotFound) || (err == nil && d.RetiredAt != 0) {
		// A retired (decommissioned) device's credential is refused like
		// an unknown one; its row stays for its proofs.
		return broker.Credential{}, false, nil
	}
	if err != nil {
		return broker.Credential{}, false, err
	}
	role := broker.RoleNone
	switch d.Role {
	case store.RoleDevice:
		role = broker.RoleDevice
	case store.RoleController:
		role = broker.RoleController
	}
	return broker.Credential{Username: d.ID, Role: role, Salt: d.CredSalt, Hash: d.CredHash}, true, nil
}

// Enrollment is what `device add` needs besides the device itself.
type Enrollment struct {
	ID, Site, Profile string
	Node              string   // the site (org node) it belongs to; "" for none yet
	Tags              []string // "atm", "doorway", "lobby"
	BrokerURL         string
	MediaURL          string
	CACert            string // PEM: the CA the agent pins (its config's ca_cert)
	ContentKey        ed25519.PublicKey

	// Outputs adds outputs beside the one Profile drives (output →
	// profile ID) and Inputs maps triggers to gpio-input profiles, as in
	// the agent config. The store records Profile's output plus Outputs as
	// what the device has (store.DeviceOutputsFor).
	Outputs, Inputs map[string]string
}

func randomToken() ([]byte, error) {
	b := make([]byte, 32)
	_, err := rand.Read(b)
	return b, err
}

// Enroll registers a device and returns its agent config. The password and
// enrollment secret exist in clear only in the returned config; the store
// keeps a salted hash of the password.
func Enroll(ctx context.Context, st *store.Store, e Enrollment) (*protocol.AgentConfig, error) {
	if err := protocol.ValidateDeviceID(e.ID); err != nil {
		return nil, err
	}
	pw, err := randomToken()
	if err != nil {
		return nil, err
	}
	secret, err := randomToken()
	if err != nil {
		return nil, err
	}
	password := base64.RawURLEncoding.EncodeToString(pw)
	salt, hash := broker.HashPassword(password)
	cfg := &protocol.AgentConfig{
		Device: e.ID, Site: e.Site, Profile: e.Profile,
		BrokerURL: e.BrokerURL, Password: password, MediaURL: e.MediaURL, CACert: e.CACert,
		ContentKeys:  []string{protocol.EncodeKey(e.ContentKey)},
		EnrollSecret: protocol.EncodeKey(secret),
		Outputs:      e.Outputs, Inputs: e.Inputs,
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := st.AddDevice(ctx, store.Device{ID: e.ID, Site: e.Site, Profile: e.Profile, Role: store.RoleDevice,
		CredSalt: salt, CredHash: hash, EnrollSecret: secret, Node: e.Node, Tags: e.Tags,
		Outputs: store.DeviceOutputsFor(e.Profile, e.Outputs)}); err != nil {
		return nil, err
	}
	return cfg, nil
}

// AddController registers a controller credential for an external broker
// or for a second controller; it returns the password.
func AddController(ctx context.Context, st *store.Store, id string) (string, error) {
	if err := protocol.ValidateDeviceID(id); err != nil {
		return "", err
	}
	pw, err := randomToken()
	if err != nil {
		return "", err
	}
	password := base64.RawURLEncoding.EncodeToString(pw)
	salt, hash := broker.HashPassword(password)
	return password, st.AddDevice(ctx, store.Device{ID: id, Role: store.RoleController, CredSalt: salt, CredHash: hash})
}

// Publisher is the bus side the fleet needs.
type Publisher interface {
	Publish(ctx context.Context, topic string, payload []byte, retain bool) error
}

// Keys is told about newly pinned keys (the ingester caches them) and asked
// to receipt a device's current head after a hello.
type Keys interface {
	SetKey(device string, pub ed25519.PublicKey)
	Receipt(ctx context.Context, device string) error
	// ForgetKeys drops cached keys: an edit (an enrollment reset by the
	// CLI in another process) may have changed a pinned key.
	ForgetKeys()
}

// Fleet handles hellos and status, and publishes desired states.
type Fleet struct {
	st   *store.Store
	comp *schedule.Compiler
	pub  Publisher
	keys Keys
	log  *slog.Logger

	work chan string // device IDs whose hello needs answering
	wake chan struct{}

	// Refreshed, when set before Run, is told how long each compile and
	// sign of the fleet's documents took (the metrics histogram).
	Refreshed func(time.Duration)
}

// New returns a fleet; call Run.
func New(st *store.Store, comp *schedule.Compiler, pub Publisher, keys Keys, log *slog.Logger) *Fleet {
	return &Fleet{st: st, comp: comp, pub: pub, keys: keys, log: log, work: make(chan string, 4096), wake: make(chan struct{}, 1)}
}

// HandleHello is the bus handler for hellos. It checks the hello and pins
// the key here, and leaves publishing to Run: a bus handler must not
// publish (with an external broker that can deadlock the connection).
func (f *Fleet) HandleHello(ctx context.Context, topic string, payload []byte) {
	t, err := protocol.ParseTopic(topic)
	if err != nil || t.Name != protocol.TopicHello {
		return
	}
	var h protocol.Hello
	if err := protocol.Decode(payload, &h); err != nil {
		f.log.Warn("malformed hello, dropped", "device", t.Device, "err", err)
		return
	}
	if h.Device != t.Device {
		f.log.Warn("hello names another device, dropped", "topic_device", t.Device, "hello_device", h.Device)
		return
	}
	if err := f.checkKey(ctx, h); err != nil {
		f.log.Warn("hello refused", "device", h.Device, "err", err)
		return
	}
	// What the agent understands decides how its documents are encoded
	// (protocol.DesiredState.ForCapability); the answer below re-signs
	// the document if that changed.
	if changed, err := f.st.SetCapability(ctx, h.Device, h.Cap()); err != nil {
		f.log.Warn("capability not stored; documents stay encoded for the old one", "device", h.Device, "err", err)
	} else if changed {
		f.log.Info("device capability", "device", h.Device, "capability", h.Cap())
	}
	select {
	case f.work <- h.Device:
	default:
		f.log.Warn("hello queue full; device will get its document at the next sync", "device", h.Device)
	}
}

// ErrKeyMismatch: a device presented a key other than the pinned one.
var ErrKeyMismatch = errors.New("device key differs from the pinned key")

func (f *Fleet) checkKey(ctx context.Context, h protocol.Hello) error {
	d, err := f.st.Device(ctx, h.Device)
	if err != nil {
		return err
	}
	if d.PubKey != nil {
		if !hmac.Equal(d.PubKey, h.PublicKey) {
			_ = f.st.AddFinding(ctx, store.Finding{Device: h.Device, Kind: store.FindingKeyMismatch,
				Detail: fmt.Sprintf("hello with key %s, pinned %s", protocol.KeyID(h.PublicKey), protocol.KeyID(d.PubKey))})
			return ErrKeyMismatch
		}
		return nil
	}
	if d.EnrollSecret == nil {
		return errors.New("no key pinned and no enrollment secret left: run `guardcast-controller device reset-enrollment`")
	}
	if !hmac.Equal(protocol.EnrollMAC(d.EnrollSecret, h.Device, h.PublicKey), h.EnrollMAC) {
		_ = f.st.AddFinding(ctx, store.Finding{Device: h.Device, Kind: store.FindingEnroll, Detail: "enrollment MAC does not match the one-time secret"})
		return errors.New("enrollment MAC does not match")
	}
	k, pinned, err := f.st.PinEpochKey(ctx, h.Device, h.PublicKey, f.signEpoch)
	if err != nil {
		return err
	}
	if !pinned {
		return errors.New("key was pinned concurrently; retry")
	}
	f.keys.SetKey(h.Device, ed25519.PublicKey(h.PublicKey))
	if k.Link != nil {
		f.log.Info("device enrolled again: new key epoch", "device", h.Device, "key", protocol.KeyID(h.PublicKey), "epoch", k.Epoch,
			"old_chain_through", k.Link.OldSeq)
		return nil
	}
	f.log.Info("device enrolled: key pinned", "device", h.Device, "key", protocol.KeyID(h.PublicKey), "epoch", k.Epoch)
	return nil
}

// signEpoch signs the statement that opens a device's new key epoch with
// the controller's content key, read from the data directory as serve
// loads it (schedule.LoadOrCreateKey). It fails, and so refuses the
// enrollment, unless that key is the one this controller signs documents
// with: an epoch link nobody can check is not written.
func (f *Fleet) signEpoch(msg []byte) (signer, sig []byte, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	dir, err := f.st.Dir(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("content key: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, schedule.KeyFile)); err != nil {
		return nil, nil, fmt.Errorf("content key: %w", err)
	}
	priv, err := schedule.LoadOrCreateKey(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("content key: %w", err)
	}
	pub := priv.Public().(ed25519.PublicKey)
	if !pub.Equal(f.comp.PublicKey()) {
		return nil, nil, fmt.Errorf("content key %s in %s is not the key %s documents are signed with", protocol.KeyID(pub), dir, protocol.KeyID(f.comp.PublicKey()))
	}
	return pub, ed25519.Sign(priv, msg), nil
}

// HandleStatus records a device's retained status.
func (f *Fleet) HandleStatus(ctx context.Context, topic string, payload []byte) {
	t, err := protocol.ParseTopic(topic)
	if err != nil || t.Name != protocol.TopicStatus || len(payload) == 0 {
		return
	}
	var s protocol.Status
	if err := protocol.Decode(payload, &s); err != nil {
		f.log.Warn("malformed status, dropped", "device", t.Device, "err", err)
		return
	}
	if s.Device != t.Device {
		f.log.Warn("status names another device, dropped", "topic_device", t.Device, "status_device", s.Device)
		return
	}
	b, _ := json.Marshal(s)
	if err := f.st.SetStatus(ctx, t.Device, string(b), time.Now().Unix()); err != nil {
		f.log.Warn("status not stored", "device", t.Device, "err", err)
	}
}

// Publish refreshes one device's document and publishes it retained.
func (f *Fleet) Publish(ctx context.Context, device string) error {
	doc, version, changed, err := f.comp.Refresh(ctx, device)
	if err != nil {
		return err
	}
	if err := f.pub.Publish(ctx, protocol.DownTopic(device, protocol.TopicDesired), doc, true); err != nil {
		return fmt.Errorf("publish desired state of %s: %w", device, err)
	}
	if changed {
		f.log.Info("desired state published", "device", device, "version", version)
	}
	return nil
}

// Sync refreshes every device's document in one pass and publishes the
// changed ones (all of them when force is set, as at start-up).
func (f *Fleet) Sync(ctx context.Context, force bool) error {
	began := time.Now()
	docs, err := f.comp.RefreshAll(ctx, force)
	if f.Refreshed != nil {
		f.Refreshed(time.Since(began))
	}
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	changed := 0
	for _, d := range docs {
		if err := f.pub.Publish(ctx, protocol.DownTopic(d.Device, protocol.TopicDesired), d.Doc, true); err != nil {
			errs = append(errs, err)
			continue
		}
		if d.Changed {
			changed++
			f.log.Debug("desired state published", "device", d.Device, "version", d.Version)
		}
	}
	if changed > 0 {
		f.log.Info("desired states published", "changed", changed, "republished", len(docs)-changed)
	}
	return errors.Join(errs...)
}

// Wake asks Run to sync now instead of at its next poll: the HTTP API
// calls it after an edit (an urgent alert must not wait for a poll).
func (f *Fleet) Wake() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// Options tune Run.
type Options struct {
	// PollEvery is how often the store's revision is checked for edits made
	// by CLI commands, and alerts for expiry.
	PollEvery time.Duration
}

// Run answers hellos (desired state + receipt) and republishes documents
// when the store changes, until ctx is cancelled.
func (f *Fleet) Run(ctx context.Context, opts Options) error {
	if opts.PollEvery <= 0 {
		opts.PollEvery = time.Second
	}
	sync := func(force bool, why string) {
		if err := f.Sync(ctx, force); err != nil && ctx.Err() == nil {
			f.log.Warn("sync desired states", "why", why, "err", err)
		}
	}
	sync(true, "start-up")
	rev, _ := f.st.Revision(ctx)
	nextExpiry := f.nextExpiry(ctx)
	tick := time.NewTicker(opts.PollEvery)
	defer tick.Stop()
	renew := time.NewTicker(time.Hour)
	defer renew.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case dev := <-f.work:
			if err := f.Publish(ctx, dev); err != nil && ctx.Err() == nil {
				f.log.Warn("answer hello", "device", dev, "err", err)
			}
			if err := f.keys.Receipt(ctx, dev); err != nil && ctx.Err() == nil {
				f.log.Warn("receipt after hello", "device", dev, "err", err)
			}
		case <-f.wake:
			if r, err := f.st.Revision(ctx); err == nil && r != rev {
				rev = r
				f.keys.ForgetKeys()
			}
			sync(false, "edit")
			nextExpiry = f.nextExpiry(ctx)
		case <-tick.C:
			r, err := f.st.Revision(ctx)
			if err != nil {
				continue
			}
			switch {
			case r != rev:
				rev = r
				f.keys.ForgetKeys()
				sync(false, "edit")
			case nextExpiry != 0 && time.Now().Unix() >= nextExpiry:
				sync(false, "alert expired")
			default:
				continue
			}
			nextExpiry = f.nextExpiry(ctx)
		case <-renew.C:
			sync(false, "renewal")
		}
	}
}

// nextExpiry is when the next alert in force expires (unix s), or 0.
func (f *Fleet) nextExpiry(ctx context.Context) int64 {
	t, err := f.st.NextAlertExpiry(ctx, time.Now())
	if err != nil {
		return 0
	}
	return t
}
