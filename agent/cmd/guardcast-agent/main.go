// Command guardcast-agent runs on each device: it plays the last good
// signed schedule from its cache and reports signed, hash-chained proof of
// every play. It only parses flags, sets up logging and signals, and hands
// over to package daemon.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/guardcast/guardcast/agent/internal/device/drivers"
	firmwareprofiles "github.com/guardcast/guardcast/firmware-profiles"
	"github.com/guardcast/guardcast/internal/profile"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/guardcast/guardcast/agent/internal/daemon"
	"github.com/guardcast/guardcast/agent/internal/trigger"
	"github.com/guardcast/guardcast/internal/protocol"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `usage:
  guardcast-agent run --config FILE [--state DIR] [--cache DIR] [--resend 10s] [--status-every 30s]
                      [--trigger-addr 127.0.0.1:8787] [--trigger-allow-remote] [--profiles DIR]
                      [--clock-trusted] [--log-level info]
  guardcast-agent profiles [--profiles DIR]   (validate and list firmware profiles)
  guardcast-agent version
`

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "guardcast-agent:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return errors.New("no command")
	}
	switch args[0] {
	case "version":
		fmt.Printf("guardcast-agent %s (protocol v%d)\n", version, protocol.Version)
		return nil
	case "run":
		return runAgent(args[1:])
	case "profiles":
		return listProfiles(args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Print(usage)
		return nil
	}
	fmt.Fprint(os.Stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

func runAgent(args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	config := fs.String("config", "", "agent config file (written by `guardcast-controller device add`)")
	state := fs.String("state", "", "state directory (default: config state_dir, else "+daemon.DefaultStateDir+")")
	cacheDir := fs.String("cache", "", "media cache directory (default: config cache_dir, else "+daemon.DefaultCacheDir+")")
	resend := fs.Duration("resend", daemon.DefaultResend, "resend unreceipted proofs after this long without a receipt")
	statusEvery := fs.Duration("status-every", daemon.DefaultStatusEvery, "publish status at least this often")
	triggerAddr := fs.String("trigger-addr", trigger.DefaultOpts.Addr, "local trigger listener (POST /trigger/NAME); empty disables it")
	triggerRemote := fs.Bool("trigger-allow-remote", false, "allow a non-loopback --trigger-addr (the listener has no authentication)")
	profileDir := fs.String("profiles", "", "directory of firmware profiles that add to or override the built-in ones")
	clockTrusted := fs.Bool("clock-trusted", false, "trust the clock whatever the kernel's NTP sync state says (a battery-backed RTC or a GPS clock); without it the agent plays only the safe loop until the kernel reports the clock synchronised")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("run: unexpected arguments %q", fs.Args())
	}
	if *config == "" {
		return errors.New("run: --config is required")
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("run: --log-level: %w", err)
	}
	if *resend <= 0 || *statusEvery <= 0 {
		return errors.New("run: --resend and --status-every must be positive")
	}
	b, err := os.ReadFile(*config)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	cfg, err := protocol.ParseAgentConfig(b)
	if err != nil {
		return fmt.Errorf("config %s: %w", *config, err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lv}))
	// Every profile is validated now, at start-up, never half-way through a run.
	profiles, err := profile.Load(firmwareprofiles.FS, *profileDir)
	if err != nil {
		return fmt.Errorf("profiles: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	devs, err := drivers.Open(ctx, profiles, cfg, drivers.Env{Log: log, Site: cfg.Site, Hotline: cfg.Hotline})
	if err != nil {
		return err
	}
	defer devs.Close()
	opts := daemon.Options{
		Config: cfg, StateDir: *state, CacheDir: *cacheDir,
		Resend: *resend, StatusEvery: *statusEvery,
		AgentVersion: version, Logger: log,
		Trigger:   trigger.Options{Addr: *triggerAddr, AllowRemote: *triggerRemote},
		NewOutput: devs.Output, Health: devs.Health,
		ClockTrusted: *clockTrusted,
	}
	d, err := daemon.New(opts)
	if err != nil {
		return err
	}
	inputs := make(chan error, 1)
	go func() { inputs <- devs.Run(ctx, d.Fire) }()
	err = d.Run(ctx)
	stop()
	if ierr := <-inputs; ierr != nil {
		log.Error("hardware inputs", "err", ierr)
	}
	return err
}

func listProfiles(args []string) error {
	fs := flag.NewFlagSet("profiles", flag.ContinueOnError)
	dir := fs.String("profiles", "", "directory of firmware profiles that add to or override the built-in ones")
	if err := fs.Parse(args); err != nil {
		return err
	}
	set, err := profile.Load(firmwareprofiles.FS, *dir)
	if err != nil {
		return err
	}
	for _, id := range set.IDs() {
		p, _ := set.Get(id)
		fmt.Printf("%-22s %-15s %s\n", id, p.Kind, p.Description)
	}
	return nil
}
