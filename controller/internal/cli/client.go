package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/guardcast/guardcast/controller/internal/auth"
	"github.com/guardcast/guardcast/controller/internal/datadir"
	"github.com/guardcast/guardcast/controller/internal/media"
	"github.com/guardcast/guardcast/controller/internal/office"
	"github.com/guardcast/guardcast/controller/internal/schedule"
	"github.com/guardcast/guardcast/controller/internal/serve"
	"github.com/guardcast/guardcast/controller/internal/store"
)

// An office command acts as someone. GUARDCAST_TOKEN (or a file named by
// GUARDCAST_TOKEN_FILE) is an API token of the user it acts as; without
// one it acts as the local admin (the server's own CLI).
const (
	envToken     = "GUARDCAST_TOKEN"
	envTokenFile = "GUARDCAST_TOKEN_FILE"
)

func tokenFromEnv(env Env) (string, error) {
	if env.Token != "" {
		return env.Token, nil
	}
	if t := strings.TrimSpace(os.Getenv(envToken)); t != "" {
		return t, nil
	}
	if f := os.Getenv(envTokenFile); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("%s: %w", envTokenFile, err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	return "", nil
}

// officeConn is how a write command reaches the operations core: through
// the running controller's API (it holds the data directory), or, with no
// controller running, by opening the store itself under the data
// directory's lock. Either way the same office code runs.
type officeConn struct {
	// remote
	base   string
	token  string
	client *http.Client
	// local
	core  *office.Core
	actor *office.Actor
	st    *store.Store
	lock  *datadir.Lock
	// How it went, for messages.
	how string
}

// connect opens the way to the office for command what.
func connect(ctx context.Context, env Env, dir, what string) (*officeConn, error) {
	tok, err := tokenFromEnv(env)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		h, held, err := datadir.Probe(dir)
		if err != nil {
			return nil, err
		}
		if held {
			if h.What != "serve" {
				return nil, fmt.Errorf("%s is busy: guardcast-controller %s is working on it; try again in a moment", dir, h)
			}
			return connectRemote(dir, tok)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	lock, err := datadir.Acquire(dir, what)
	if err != nil {
		// serve started in between: go through it.
		var he *datadir.HeldError
		if errors.As(err, &he) && he.Holder.What == "serve" {
			return connectRemote(dir, tok)
		}
		return nil, err
	}
	c := &officeConn{lock: lock, how: "directly in " + dir + " (no controller running; it picks the change up when it starts)"}
	st, lib, err := serve.OpenData(ctx, dir)
	if err != nil {
		c.Close()
		return nil, err
	}
	c.st = st
	key, err := schedule.LoadOrCreateKey(dir)
	if err != nil {
		c.Close()
		return nil, err
	}
	comp := schedule.NewCompiler(st, key, schedule.Options{}, nil)
	off, err := serve.NewOffice(serve.OfficeConfig{DataDir: dir, Store: st, Lib: lib, Comp: comp,
		Defaults: func() office.AgentDefaults { return serve.AgentDefaults(dir) }})
	if err != nil {
		c.Close()
		return nil, err
	}
	c.core = off.Core
	if tok != "" {
		u, err := off.Users.Token(ctx, tok)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("%s: %w", envToken, err)
		}
		a := office.ActorOf(u)
		c.actor = &a
	} else {
		c.actor = &office.Actor{Name: office.LocalAdmin, Roles: []auth.Role{auth.RoleAdmin}}
	}
	return c, nil
}

func connectRemote(dir, tok string) (*officeConn, error) {
	ep, err := serve.ReadEndpoints(dir)
	if err != nil {
		return nil, fmt.Errorf("a controller runs on %s but its endpoints.json cannot be read: %w", dir, err)
	}
	base := ep.OfficeURL
	if base == "" && ep.HTTPAddr != "" {
		base = "http://" + ep.HTTPAddr
	}
	if base == "" {
		return nil, fmt.Errorf("a controller runs on %s but endpoints.json names no office address", dir)
	}
	if tok == "" {
		if tok, err = serve.ReadAdminToken(dir); err != nil {
			return nil, fmt.Errorf("the local admin token (%s) cannot be read: %w; run as the controller's user, or set %s", serve.AdminTokenFile, err, envToken)
		}
	}
	tr := &http.Transport{Proxy: nil, DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}
	if strings.HasPrefix(base, "https://") {
		pool := x509.NewCertPool()
		caFile := ep.CAFile
		if caFile == "" {
			caFile = filepath.Join(dir, "tls", "ca.pem")
		}
		if b, err := os.ReadFile(caFile); err == nil {
			pool.AppendCertsFromPEM(b)
		} else if sys, err := x509.SystemCertPool(); err == nil {
			pool = sys
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &officeConn{base: base, token: tok, client: &http.Client{Timeout: 5 * time.Minute, Transport: tr},
		how: "through the running controller"}, nil
}

// Close releases what connect took.
func (c *officeConn) Close() {
	if c.st != nil {
		c.st.Close()
	}
	c.lock.Release()
}

// call performs an operation: req is encoded as its JSON body, the answer
// decoded into resp (nil to drop it).
func (c *officeConn) call(ctx context.Context, op string, req, resp any) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	var out []byte
	if c.core != nil {
		v, err := c.core.Invoke(ctx, c.actor, op, body)
		if err != nil {
			return officeError(err)
		}
		if out, err = json.Marshal(v); err != nil {
			return err
		}
	} else {
		out, err = c.post(ctx, "/api/op/"+op, "application/json", bytes.NewReader(body))
		if err != nil {
			return err
		}
	}
	if resp == nil {
		return nil
	}
	if err := json.Unmarshal(out, resp); err != nil {
		return fmt.Errorf("%s answer: %w", op, err)
	}
	return nil
}

// addMedia stores one local file, uploading it when a controller runs.
// The file must be a regular file with one link, whichever way it goes.
func (c *officeConn) addMedia(ctx context.Context, path, name, title string) (office.MediaAdded, error) {
	f, _, err := media.OpenRegular(path)
	if err != nil {
		return office.MediaAdded{}, err
	}
	defer f.Close()
	if c.core != nil {
		out, err := c.core.AddMedia(ctx, *c.actor, path, name, title)
		return out, officeError(err)
	}
	q := url.Values{"name": {name}}
	if title != "" {
		q.Set("title", title)
	}
	b, err := c.post(ctx, "/api/media?"+q.Encode(), "application/octet-stream", f)
	if err != nil {
		return office.MediaAdded{}, err
	}
	var out office.MediaAdded
	return out, json.Unmarshal(b, &out)
}

func (c *officeConn) post(ctx context.Context, path, ctype string, body io.Reader) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("controller API: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("controller API: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		json.Unmarshal(b, &e)
		if e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		return nil, fmt.Errorf("%s (%s)", e.Error, resp.Status)
	}
	return b, nil
}

// officeError is what a refused operation exits with: 1, like every
// refusal of what was asked (2 is kept for a command line that does not
// parse).
func officeError(err error) error { return err }

// callOffice performs one operation for command cmd: connect, call, close.
func callOffice(ctx context.Context, env Env, dir, cmd, op string, req, resp any) error {
	c, err := connect(ctx, env, dir, cmd)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.call(ctx, op, req, resp)
}
