// Package serve wires the controller together — store, media library,
// broker (embedded or external), proof ingestion, fleet, HTTP and the drop
// folder — and owns their start-up and shutdown order.
package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/guardcast/guardcast/controller/internal/acks"
	"github.com/guardcast/guardcast/controller/internal/broker"
	"github.com/guardcast/guardcast/controller/internal/fleet"
	"github.com/guardcast/guardcast/controller/internal/ingest"
	"github.com/guardcast/guardcast/controller/internal/media"
	"github.com/guardcast/guardcast/controller/internal/schedule"
	"github.com/guardcast/guardcast/controller/internal/store"
	"github.com/guardcast/guardcast/controller/internal/web"
	"github.com/guardcast/guardcast/internal/atomicfile"
	"github.com/guardcast/guardcast/internal/owneronly"
	"github.com/guardcast/guardcast/internal/protocol"
)

// Config is everything `guardcast-controller serve` takes.
type Config struct {
	DataDir  string
	MQTTAddr string // embedded broker listener; "" with ExternalBroker set
	HTTPAddr string

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
	// Ready, when set, is called once every listener is bound.
	Ready func(Endpoints)
}

// Endpoints are what the running controller listens on; they are also
// written to DIR/endpoints.json, where `device add` reads its defaults.
type Endpoints struct {
	BrokerURL string `json:"broker_url"`
	MediaURL  string `json:"media_url"`
	MQTTAddr  string `json:"mqtt_addr,omitempty"`
	HTTPAddr  string `json:"http_addr"`
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

func hostURL(scheme, addr, path string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return scheme + "://" + addr + path
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + path
}

// Run serves until ctx is cancelled.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	st, lib, err := OpenData(ctx, cfg.DataDir)
	if err != nil {
		return err
	}
	defer st.Close()
	key, err := schedule.LoadOrCreateKey(cfg.DataDir)
	if err != nil {
		return err
	}

	httpLn, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http listen %s: %w", cfg.HTTPAddr, err)
	}
	defer httpLn.Close()

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
	ep := Endpoints{HTTPAddr: httpLn.Addr().String()}
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
		ep.BrokerURL = hostURL("tcp", ep.MQTTAddr, "")
	}
	defer func() {
		bus.Close()
		stopBroker()
		bwg.Wait()
	}()
	if cfg.PublicBrokerURL != "" {
		ep.BrokerURL = cfg.PublicBrokerURL
	}
	ep.MediaURL = hostURL("http", ep.HTTPAddr, "/media/")
	if cfg.PublicMediaURL != "" {
		ep.MediaURL = cfg.PublicMediaURL
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
	ing := ingest.New(st, bus, cfg.Ingest, onCommit, log.With("component", "ingest"))
	fl := fleet.New(st, comp, bus, ing, log.With("component", "fleet"))
	ackw := acks.New(st, cfg.Acks, cfg.AcksCommitted, log.With("component", "acks"))

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

	api := web.New(st, lib.Handler(), log.With("component", "http"))
	api.Changed = fl.Wake
	api.Preview = func(ctx context.Context, device, output string, from, to time.Time) (any, error) {
		return schedule.Preview(ctx, comp, device, output, from, to)
	}
	h := api.Handler()
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
	start("inbox", inbox.Run)
	log.Info("controller serving", "data", cfg.DataDir, "mqtt", ep.MQTTAddr, "broker_url", ep.BrokerURL,
		"http", ep.HTTPAddr, "media_url", ep.MediaURL, "content_key", protocol.KeyID(comp.PublicKey()))
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
