// Package serve wires the controller together — store, media library,
// broker (embedded or external), proof ingestion, fleet, HTTP and the drop
// folder — and owns their start-up and shutdown order.
package serve

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/guardcast/guardcast/controller/internal/acks"
	"github.com/guardcast/guardcast/controller/internal/auth"
	"github.com/guardcast/guardcast/controller/internal/broker"
	"github.com/guardcast/guardcast/controller/internal/datadir"
	"github.com/guardcast/guardcast/controller/internal/fleet"
	"github.com/guardcast/guardcast/controller/internal/ingest"
	"github.com/guardcast/guardcast/controller/internal/media"
	"github.com/guardcast/guardcast/controller/internal/metrics"
	officepkg "github.com/guardcast/guardcast/controller/internal/office"
	"github.com/guardcast/guardcast/controller/internal/pki"
	"github.com/guardcast/guardcast/controller/internal/schedule"
	"github.com/guardcast/guardcast/controller/internal/store"
	"github.com/guardcast/guardcast/controller/internal/web"
	"github.com/guardcast/guardcast/internal/atomicfile"
	"github.com/guardcast/guardcast/internal/clock"
	"github.com/guardcast/guardcast/internal/owneronly"
	"github.com/guardcast/guardcast/internal/protocol"
)

// Config is everything `guardcast-controller serve` takes.
type Config struct {
	DataDir  string
	MQTTAddr string // embedded broker listener; "" with ExternalBroker set
	HTTPAddr string // the office listener: API (and later the web console)
	// MediaAddr is the agent-facing HTTP listener: GET/HEAD /media/ and
	// /healthz, nothing else. "" means a free loopback port (the CLI's
	// default is 127.0.0.1:8081).
	MediaAddr string
	// MetricsAddr, when set, serves Prometheus /metrics on a listener of
	// its own. Plaintext only, so it must be on loopback.
	MetricsAddr string
	// TLS decides which listeners speak TLS and with what certificate.
	TLS TLSOptions

	// PublicBrokerURL and PublicMediaURL are what enrolled agents are told
	// to use; by default they are derived from the listen addresses.
	PublicBrokerURL string
	PublicMediaURL  string

	// ExternalBroker, when set (tcp://host:1883), replaces the embedded
	// broker: the controller connects with BrokerUser/BrokerPassword and the
	// external broker enforces the ACL.
	ExternalBroker string
	BrokerUser     string
	BrokerPassword string

	Broker   broker.Options
	Ingest   ingest.Options
	Acks     acks.Options
	Lifetime time.Duration
	Poll     time.Duration // how often CLI edits are picked up

	// PrintProofs, when set, gets one line per committed proof (the demo).
	PrintProofs io.Writer
	// AcksCommitted, when set, is called after each batch of
	// acknowledgements is stored (load tests time alerts with it).
	AcksCommitted acks.Committed
	// Auth tunes logins (tests make password hashing cheap); zero is
	// auth.DefaultOptions.
	Auth auth.Options
	// Ready, when set, is called once every listener is bound.
	Ready func(Endpoints)
}

// Endpoints are what the running controller listens on; they are also
// written to DIR/endpoints.json, where `device add` reads its defaults.
type Endpoints struct {
	BrokerURL string `json:"broker_url"` // mqtts://… when the broker speaks TLS
	MediaURL  string `json:"media_url"`  // https://…/media/ when the media listener does
	MQTTAddr  string `json:"mqtt_addr,omitempty"`
	MediaAddr string `json:"media_addr"` // the agent-facing listener
	HTTPAddr  string `json:"http_addr"`  // the office listener
	OfficeURL string `json:"office_url"` // http(s)://host:port of the office listener
	// CAFile is the CA certificate agents pin (DIR/tls/ca.pem, or the
	// operator's --tls-ca); "" when no listener speaks TLS or the
	// operator's certificate relies on the system trust store.
	CAFile string `json:"ca_file,omitempty"`
	// MetricsAddr is the /metrics listener; "" when --metrics is off.
	MetricsAddr string `json:"metrics_addr,omitempty"`
}

// EndpointsFile is the name of the endpoints file in the data directory.
const EndpointsFile = "endpoints.json"

// ReadEndpoints reads DIR/endpoints.json.
func ReadEndpoints(dir string) (Endpoints, error) {
	var e Endpoints
	b, err := os.ReadFile(filepath.Join(dir, EndpointsFile))
	if err != nil {
		return e, err
	}
	return e, json.Unmarshal(b, &e)
}

// OpenData opens the data directory: the store and the media library.
func OpenData(ctx context.Context, dir string) (*store.Store, *media.Library, error) {
	if dir == "" {
		return nil, nil, errors.New("no data directory (--data)")
	}
	if err := owneronly.MkdirAll(dir); err != nil { // it holds content.key and device credentials
		return nil, nil, fmt.Errorf("data directory: %w", err)
	}
	st, err := store.Open(ctx, dir)
	if err != nil {
		return nil, nil, err
	}
	lib, err := media.Open(filepath.Join(dir, "media"))
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, lib, nil
}

// AddMedia validates and stores one file and records it: the one path for
// `media add`, the drop folder and the API.
func AddMedia(ctx context.Context, st *store.Store, lib *media.Library, path, name, title string) (media.Info, error) {
	info, err := lib.Add(ctx, path, name)
	if err != nil {
		return info, err
	}
	if title == "" {
		title = strings.TrimSuffix(info.Name, filepath.Ext(info.Name))
	}
	err = st.PutMedia(ctx, store.Media{SHA256: info.SHA256, Kind: string(info.Kind), MIME: info.MIME, Size: info.Size,
		Name: info.Name, Title: title, DurationMS: info.DurationMS})
	return info, err
}

// TLS modes.
const (
	TLSAuto = "auto" // TLS on every listener that is not on loopback (the default)
	TLSOn   = "on"   // TLS on every listener, loopback included
	TLSOff  = "off"  // plaintext everywhere; refused for a listener not on loopback
)

// TLSOptions choose the listeners' TLS. Without CertFile the controller's
// private CA in DIR/tls (package pki) issues the server certificate.
type TLSOptions struct {
	Mode string // TLSAuto ("" too), TLSOn or TLSOff
	// Names are extra certificate names (DNS names or IPs), such as the
	// host name agents dial; the first also names a wildcard listener in
	// the URLs given to agents.
	Names []string
	// CertFile and KeyFile are an operator's certificate (chain) and key,
	// used instead of the private CA's. CAFile is the CA certificate
	// agents should pin for it; "" means agents use the system trust store.
	CertFile, KeyFile, CAFile string
}

// listener is one address the controller binds and how.
type listener struct {
	name, addr string
	tls        bool
}

// planTLS decides, for each listen address, whether it speaks TLS.
func planTLS(mode string, ls []*listener) error {
	switch mode {
	case "", TLSAuto, TLSOn, TLSOff:
	default:
		return fmt.Errorf("--tls %q: want auto, on or off", mode)
	}
	for _, l := range ls {
		loop := loopbackAddr(l.addr)
		if mode == TLSOff && !loop {
			return fmt.Errorf("--tls off: the %s listener %s is not on loopback, and plaintext is allowed only there: use --tls auto, or listen on 127.0.0.1", l.name, l.addr)
		}
		l.tls = mode == TLSOn || (mode != TLSOff && !loop)
	}
	return nil
}

func wildcardHost(host string) bool {
	return host == "" || host == "0.0.0.0" || host == "::"
}

// loopbackAddr reports whether a listen address binds loopback only.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && !wildcardHost(host) && protocol.LoopbackHost(host)
}

// certNames are the names the generated server certificate must cover:
// each listener's host (a wildcard listener: this machine's names), the
// public URLs' hosts and the operator's extra names.
func certNames(cfg Config, ls []*listener) []string {
	var names []string
	for _, l := range ls {
		host, _, _ := net.SplitHostPort(l.addr)
		if wildcardHost(host) {
			hn, _ := os.Hostname()
			names = append(names, hn, "localhost", "127.0.0.1", "::1")
			continue
		}
		names = append(names, host)
	}
	for _, raw := range []string{cfg.PublicBrokerURL, cfg.PublicMediaURL} {
		if u, err := url.Parse(raw); err == nil && u.Hostname() != "" {
			names = append(names, u.Hostname())
		}
	}
	return pki.Names(append(names, cfg.TLS.Names...)...)
}

// serverTLS loads or makes the certificate the TLS listeners present; it
// returns the path of the CA agents pin ("" for none).
func serverTLS(cfg Config, names []string, log *slog.Logger) (*tls.Config, string, error) {
	t := cfg.TLS
	if t.CertFile != "" || t.KeyFile != "" {
		if t.CertFile == "" || t.KeyFile == "" {
			return nil, "", errors.New("--tls-cert and --tls-key go together")
		}
		cert, err := pki.LoadKeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, "", err
		}
		if miss := pki.Missing(cert.Leaf, names); len(miss) > 0 {
			log.Warn("the supplied certificate does not cover every name agents may use", "cert", t.CertFile, "missing", miss)
		}
		if t.CAFile != "" {
			if err := verifiesAgainst(cert, t.CAFile); err != nil {
				return nil, "", err
			}
		}
		return pki.ServerConfig(cert), t.CAFile, nil
	}
	if t.CAFile != "" {
		return nil, "", errors.New("--tls-ca is for an operator certificate: give --tls-cert and --tls-key too")
	}
	dir := filepath.Join(cfg.DataDir, pki.Dir)
	now := time.Now()
	ca, err := pki.LoadOrCreateCA(dir, now)
	if err != nil {
		return nil, "", fmt.Errorf("private CA: %w", err)
	}
	cert, issued, err := ca.ServerCertificate(dir, names, now)
	if err != nil {
		return nil, "", fmt.Errorf("server certificate: %w", err)
	}
	if issued {
		log.Info("issued a server certificate from the private CA", "names", names, "not_after", cert.Leaf.NotAfter.Format(time.DateOnly))
	}
	return pki.ServerConfig(cert), filepath.Join(dir, pki.CACertFile), nil
}

// verifiesAgainst fails early when agents pinning caFile would refuse cert.
func verifiesAgainst(cert tls.Certificate, caFile string) error {
	b, err := os.ReadFile(caFile)
	if err != nil {
		return fmt.Errorf("--tls-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return fmt.Errorf("--tls-ca %s: no PEM certificate", caFile)
	}
	inter := x509.NewCertPool()
	for _, der := range cert.Certificate[1:] {
		if c, err := x509.ParseCertificate(der); err == nil {
			inter.AddCert(c)
		}
	}
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter}); err != nil {
		return fmt.Errorf("--tls-cert does not verify against --tls-ca %s: %w", caFile, err)
	}
	return nil
}

// listen binds l, under TLS when planned.
func listen(l *listener, tc *tls.Config) (net.Listener, error) {
	ln, err := net.Listen("tcp", l.addr)
	if err != nil {
		return nil, fmt.Errorf("%s listen %s: %w", l.name, l.addr, err)
	}
	if l.tls {
		ln = tls.NewListener(ln, tc)
	}
	return ln, nil
}

// advertise is the URL agents (or the CLI) are given for a listener: its
// configured host — for a wildcard, the first --tls-names when it speaks
// TLS (the certificate is for that name), else 127.0.0.1 — and its bound
// port.
func advertise(scheme string, l *listener, bound net.Addr, names []string, path string) string {
	host, _, _ := net.SplitHostPort(l.addr)
	_, port, _ := net.SplitHostPort(bound.String())
	if wildcardHost(host) {
		host = "127.0.0.1"
		if l.tls && len(names) > 0 {
			host = names[0]
		}
	}
	return scheme + "://" + net.JoinHostPort(host, port) + path
}

func schemeFor(on bool, plain, secure string) string {
	if on {
		return secure
	}
	return plain
}

// agentHandler is all the agent-facing listener serves: media by sha256
// (GET and HEAD) and a health check. The office API is not reachable here.
func agentHandler(media http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /media/", media) // GET patterns match HEAD too
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	return mux
}

// Run serves until ctx is cancelled.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	if cfg.DataDir == "" {
		return errors.New("no data directory (--data)")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return err
	}
	// One process per data directory: a second serve stops here, naming
	// the first, before it can republish anything or rewrite endpoints.json.
	lock, err := datadir.Acquire(cfg.DataDir, "serve")
	if err != nil {
		return err
	}
	defer lock.Release()
	st, lib, err := OpenData(ctx, cfg.DataDir)
	if err != nil {
		return err
	}
	defer st.Close()
	// The local admin's token exists before endpoints.json says the
	// controller is up, so the CLI can always use it.
	authOpts := cfg.Auth
	if authOpts == (auth.Options{}) {
		authOpts = auth.DefaultOptions
	}
	users := auth.New(st, clock.Real{}, authOpts)
	if err := EnsureLocalAdmin(ctx, cfg.DataDir, users); err != nil {
		return err
	}
	key, err := schedule.LoadOrCreateKey(cfg.DataDir)
	if err != nil {
		return err
	}

	if cfg.MediaAddr == "" {
		cfg.MediaAddr = "127.0.0.1:0"
	}
	office := &listener{name: "office HTTP", addr: cfg.HTTPAddr}
	agents := &listener{name: "agent media HTTP", addr: cfg.MediaAddr}
	mq := &listener{name: "MQTT", addr: cfg.MQTTAddr}
	ls := []*listener{office, agents}
	if cfg.ExternalBroker == "" {
		ls = append(ls, mq)
	}
	if err := planTLS(cfg.TLS.Mode, ls); err != nil {
		return err
	}
	var (
		tlsConf *tls.Config
		caFile  string
	)
	if slices.ContainsFunc(ls, func(l *listener) bool { return l.tls }) {
		if tlsConf, caFile, err = serverTLS(cfg, certNames(cfg, ls), log); err != nil {
			return err
		}
	}
	var metricsLn net.Listener
	if cfg.MetricsAddr != "" {
		if !loopbackAddr(cfg.MetricsAddr) {
			return fmt.Errorf("--metrics %s is not on loopback: /metrics is served in plaintext, so it listens on 127.0.0.1 only (scrape through a proxy or an SSH tunnel)", cfg.MetricsAddr)
		}
		if metricsLn, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			return err
		}
		defer metricsLn.Close()
	}
	httpLn, err := listen(office, tlsConf)
	if err != nil {
		return err
	}
	defer httpLn.Close()
	mediaLn, err := listen(agents, tlsConf)
	if err != nil {
		return err
	}
	defer mediaLn.Close()

	// The broker runs on a context of its own, cancelled only after every
	// component that uses it has stopped.
	brokerCtx, stopBroker := context.WithCancel(context.Background())
	defer stopBroker()
	var (
		bus      broker.Bus
		embedded *broker.Embedded
		bwg      sync.WaitGroup
		berr     error
	)
	names := pki.Names(cfg.TLS.Names...)
	ep := Endpoints{HTTPAddr: httpLn.Addr().String(), MediaAddr: mediaLn.Addr().String(), CAFile: caFile,
		OfficeURL: advertise(schemeFor(office.tls, "http", "https"), office, httpLn.Addr(), names, "")}
	if cfg.ExternalBroker != "" {
		pb, err := broker.NewPahoBus(ctx, broker.PahoOptions{URL: cfg.ExternalBroker, ClientID: "guardcast-controller:" + cfg.BrokerUser,
			Username: cfg.BrokerUser, Password: cfg.BrokerPassword, Logger: log.With("component", "bus")})
		if err != nil {
			return fmt.Errorf("connect to external broker %s: %w", cfg.ExternalBroker, err)
		}
		bus = pb
		ep.BrokerURL = cfg.ExternalBroker
	} else {
		opts := cfg.Broker
		opts.Addr = cfg.MQTTAddr
		if mq.tls {
			opts.TLSConfig = tlsConf
		}
		embedded, err = broker.New(opts, fleet.Credentials{Store: st}, log)
		if err != nil {
			return err
		}
		bwg.Add(1)
		go func() {
			defer bwg.Done()
			berr = embedded.Run(brokerCtx)
		}()
		bus = embedded.Bus()
		ep.MQTTAddr = embedded.Addr().String()
		ep.BrokerURL = advertise(schemeFor(mq.tls, "tcp", "mqtts"), mq, embedded.Addr(), names, "")
	}
	defer func() {
		bus.Close()
		stopBroker()
		bwg.Wait()
	}()
	if cfg.PublicBrokerURL != "" {
		ep.BrokerURL = cfg.PublicBrokerURL
	}
	ep.MediaURL = advertise(schemeFor(agents.tls, "http", "https"), agents, mediaLn.Addr(), names, "/media/")
	if cfg.PublicMediaURL != "" {
		ep.MediaURL = cfg.PublicMediaURL
	}
	for l, public := range map[*listener]string{mq: cfg.PublicBrokerURL, agents: cfg.PublicMediaURL} {
		if host, _, _ := net.SplitHostPort(l.addr); l.tls && wildcardHost(host) && len(names) == 0 && public == "" && (l != mq || embedded != nil) {
			log.Warn("agents on other machines are told 127.0.0.1 for this listener: give --tls-names with the name they dial",
				"listener", l.name, "addr", l.addr)
		}
	}
	var met *metrics.Metrics
	if metricsLn != nil {
		ep.MetricsAddr = metricsLn.Addr().String()
		var src metrics.Sources
		if embedded != nil {
			src.ClientsConnected = func() int64 { return embedded.Stats().ClientsConnected }
			src.Refusals = func() map[string]uint64 {
				r := embedded.Stats().Refusals
				return map[string]uint64{"connect": r.Connect, "will": r.Will, "publish": r.Publish, "retain": r.Retain,
					"read": r.Read, "packet": r.Packet, "malformed": r.Malformed}
			}
		}
		met = metrics.New(src)
	}
	epb, _ := json.MarshalIndent(ep, "", "  ")
	if err := atomicfile.Write(filepath.Join(cfg.DataDir, EndpointsFile), append(epb, '\n'), 0o644); err != nil {
		return err
	}

	comp := schedule.NewCompiler(st, key, schedule.Options{Lifetime: cfg.Lifetime, MediaURL: ep.MediaURL}, nil)
	var onCommit ingest.Committed
	if cfg.PrintProofs != nil {
		onCommit = func(rows []store.ProofRow) {
			for _, r := range rows {
				line := fmt.Sprintf("proof %-16s seq %-5d %-7s %-6s %.12s %s", r.Device, r.Seq, r.Output, r.Result, r.MediaSHA256,
					time.Unix(0, r.StartNS).Format("15:04:05.000"))
				if r.Reason != "" {
					line += " reason=" + r.Reason
				}
				if r.Flag != "" {
					line += " FLAG=" + r.Flag
				}
				fmt.Fprintln(cfg.PrintProofs, line)
			}
		}
	}
	if met != nil {
		printed := onCommit
		onCommit = func(rows []store.ProofRow) {
			met.ProofsCommitted(len(rows))
			if printed != nil {
				printed(rows)
			}
		}
	}
	acksCommitted := cfg.AcksCommitted
	if met != nil {
		acksCommitted = func(rows []store.AckRow) {
			met.AckBatch()
			if cfg.AcksCommitted != nil {
				cfg.AcksCommitted(rows)
			}
		}
	}
	ing := ingest.New(st, bus, cfg.Ingest, onCommit, log.With("component", "ingest"))
	fl := fleet.New(st, comp, bus, ing, log.With("component", "fleet"))
	if met != nil {
		fl.Refreshed = met.Refreshed
		ing.CommitTook = met.Committed
	}
	ackw := acks.New(st, cfg.Acks, acksCommitted, log.With("component", "acks"))

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	subs := []struct {
		name string
		h    func(context.Context, string, []byte)
	}{
		{protocol.TopicProofs, ing.HandleProofs},
		{protocol.TopicHello, fl.HandleHello},
		{protocol.TopicStatus, fl.HandleStatus},
		{protocol.TopicAck, ackw.Handle},
	}
	for _, s := range subs {
		h := s.h
		if err := bus.Subscribe(runCtx, protocol.UpFilterAll(s.name), func(m broker.Message) { h(runCtx, m.Topic, m.Payload) }); err != nil {
			return fmt.Errorf("subscribe %s: %w", s.name, err)
		}
	}

	off, err := NewOffice(OfficeConfig{DataDir: cfg.DataDir, Store: st, Lib: lib, Comp: comp, Changed: fl.Wake, Users: users,
		Defaults: func() officepkg.AgentDefaults { return AgentDefaults(cfg.DataDir) }})
	if err != nil {
		return err
	}
	uploads := filepath.Join(cfg.DataDir, "tmp")
	if err := os.MkdirAll(uploads, 0o700); err != nil {
		return err
	}
	api := web.New(off.Core, off.Users, log.With("component", "http"))
	api.TempDir = uploads
	h := api.Handler()
	if met != nil {
		h = met.WrapHTTP(h)
	}
	inboxDir := filepath.Join(cfg.DataDir, "inbox")
	// Made before Ready, so the drop folder exists whenever the service is up.
	if err := os.MkdirAll(filepath.Join(inboxDir, media.RejectedDir), 0o775); err != nil {
		return fmt.Errorf("drop folder: %w", err)
	}
	inbox := &media.Inbox{Dir: inboxDir, Log: log.With("component", "inbox"),
		Ingest: func(ctx context.Context, path, name string) error {
			info, err := AddMedia(ctx, st, lib, path, name, "")
			if err == nil {
				log.Info("media added from the drop folder", "name", name, "sha256", info.SHA256, "kind", info.Kind)
			}
			return err
		}}

	var wg sync.WaitGroup
	errc := make(chan error, 8)
	start := func(name string, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(runCtx); err != nil && runCtx.Err() == nil {
				errc <- fmt.Errorf("%s: %w", name, err)
				cancel()
			}
		}()
	}
	start("ingest", ing.Run)
	start("acks", ackw.Run)
	start("fleet", func(ctx context.Context) error { return fl.Run(ctx, fleet.Options{PollEvery: cfg.Poll}) })
	start("http", func(ctx context.Context) error { return web.Serve(ctx, httpLn, h, log.With("component", "http")) })
	start("media http", func(ctx context.Context) error {
		return web.Serve(ctx, mediaLn, agentHandler(lib.Handler()), log.With("component", "media-http"))
	})
	start("inbox", inbox.Run)
	if met != nil {
		start("metrics http", func(ctx context.Context) error {
			mux := http.NewServeMux()
			mux.Handle("GET /metrics", met.Handler())
			return web.Serve(ctx, metricsLn, mux, log.With("component", "metrics-http"))
		})
	}
	log.Info("controller serving", "data", cfg.DataDir, "mqtt", ep.MQTTAddr, "broker_url", ep.BrokerURL,
		"office", ep.OfficeURL, "media", ep.MediaAddr, "media_url", ep.MediaURL, "ca", ep.CAFile,
		"content_key", protocol.KeyID(comp.PublicKey()), "metrics", ep.MetricsAddr)
	if cfg.Ready != nil {
		cfg.Ready(ep)
	}
	<-runCtx.Done()
	wg.Wait()
	close(errc)
	var errs []error
	for e := range errc {
		errs = append(errs, e)
	}
	bus.Close()
	stopBroker()
	bwg.Wait()
	if berr != nil && !errors.Is(berr, context.Canceled) {
		errs = append(errs, fmt.Errorf("broker: %w", berr))
	}
	return errors.Join(errs...)
}
