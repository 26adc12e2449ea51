package serve

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/guardcast/guardcast/controller/internal/adminlog"
	"github.com/guardcast/guardcast/controller/internal/auth"
	"github.com/guardcast/guardcast/controller/internal/media"
	"github.com/guardcast/guardcast/controller/internal/office"
	"github.com/guardcast/guardcast/controller/internal/schedule"
	"github.com/guardcast/guardcast/controller/internal/store"
	"github.com/guardcast/guardcast/internal/atomicfile"
	"github.com/guardcast/guardcast/internal/clock"
)

// AdminTokenFile holds the local admin's API token while `serve` runs
// (0600): the server's own CLI uses it to go through the running
// controller.
const AdminTokenFile = "admin.token"

// Office is the people side of a controller: the user service, the admin
// log and the operations core over the store.
type Office struct {
	Core  *office.Core
	Users *auth.Service
	Log   *adminlog.Log
}

// OfficeConfig is what NewOffice needs.
type OfficeConfig struct {
	DataDir string
	Store   *store.Store
	Lib     *media.Library
	Comp    *schedule.Compiler
	Clock   clock.Clock
	// Changed wakes the fleet after an edit ("" outside serve).
	Changed func()
	// Defaults for new agent configs; read afresh on each enrollment.
	Defaults func() office.AgentDefaults
	Auth     auth.Options
	// Users, when set, is the user service to use (serve makes it before
	// the office, for the local admin); nil makes one from Auth.
	Users *auth.Service
}

// NewOffice builds the office stack over an open store.
func NewOffice(cfg OfficeConfig) (*Office, error) {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	key, err := adminlog.LoadOrCreateKey(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	lg := adminlog.New(cfg.Store, key, cfg.Clock)
	opts := cfg.Auth
	if opts == (auth.Options{}) {
		opts = auth.DefaultOptions
	}
	users := cfg.Users
	if users == nil {
		users = auth.New(cfg.Store, cfg.Clock, opts)
	}
	st, lib, comp := cfg.Store, cfg.Lib, cfg.Comp
	b := &office.StoreBackend{Store: st, Lib: lib, Key: comp.PublicKey(), DefaultsFn: cfg.Defaults,
		AddMedia: func(ctx context.Context, path, name, title string) (media.Info, error) {
			return AddMedia(ctx, st, lib, path, name, title)
		},
		PreviewFn: func(ctx context.Context, device, output string, from, to time.Time) (any, error) {
			return schedule.Preview(ctx, comp, device, output, from, to)
		}}
	core := office.New(b, office.Options{Users: users, Audit: lg, Clock: cfg.Clock, Changed: cfg.Changed})
	return &Office{Core: core, Users: users, Log: lg}, nil
}

// AgentDefaults reads what `device add` puts in agent configs from the
// data directory: the endpoints the controller last served on and its CA.
func AgentDefaults(dir string) office.AgentDefaults {
	ep, _ := ReadEndpoints(dir)
	d := office.AgentDefaults{BrokerURL: ep.BrokerURL, MediaURL: ep.MediaURL}
	if ep.CAFile != "" {
		if b, err := os.ReadFile(ep.CAFile); err == nil {
			d.CACert = string(b)
		}
	}
	return d
}

// EnsureLocalAdmin makes sure the local admin principal exists, gives it a
// fresh API token and writes the token to DIR/admin.token (0600). The
// previous token stops working.
func EnsureLocalAdmin(ctx context.Context, dir string, users *auth.Service) error {
	if _, err := users.User(ctx, office.LocalAdmin); err != nil {
		if !errors.Is(err, store.ErrNotFound) && !errors.Is(err, auth.ErrNotFound) {
			return err
		}
		pw := make([]byte, 32)
		if _, err := rand.Read(pw); err != nil {
			return err
		}
		// Nobody knows this password: the local admin signs in only with
		// the token below, readable by whoever may read the data dir.
		u := auth.User{Name: office.LocalAdmin, Display: "local administrator (server CLI)", Roles: []auth.Role{auth.RoleAdmin}}
		if err := users.AddUser(ctx, u, base64.RawURLEncoding.EncodeToString(pw)); err != nil && !errors.Is(err, store.ErrExists) {
			return fmt.Errorf("local admin: %w", err)
		}
	}
	if err := users.RevokeToken(ctx, office.LocalAdmin, "serve"); err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, auth.ErrNotFound) {
		return fmt.Errorf("local admin token: %w", err)
	}
	tok, err := users.AddToken(ctx, office.LocalAdmin, "serve")
	if err != nil {
		return fmt.Errorf("local admin token: %w", err)
	}
	return atomicfile.Write(filepath.Join(dir, AdminTokenFile), []byte(tok+"\n"), 0o600)
}

// ReadAdminToken reads DIR/admin.token.
func ReadAdminToken(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, AdminTokenFile))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}
