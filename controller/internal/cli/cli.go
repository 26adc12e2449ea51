// Package cli is guardcast-controller's command line: one function per
// subcommand, each parsing its flags strictly and calling into the
// controller's packages. main only sets up signals and calls Main.
package cli

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	firmwareprofiles "github.com/guardcast/guardcast/firmware-profiles"
	"github.com/guardcast/guardcast/internal/profile"

	"github.com/guardcast/guardcast/controller/internal/office"
	"github.com/guardcast/guardcast/controller/internal/pki"
	"github.com/guardcast/guardcast/controller/internal/schedule"
	"github.com/guardcast/guardcast/controller/internal/serve"
	"github.com/guardcast/guardcast/controller/internal/store"
	"github.com/guardcast/guardcast/internal/atomicfile"
	"github.com/guardcast/guardcast/internal/protocol"
)

// Version is set at build time.
var Version = "dev"

const usage = `guardcast-controller — schedules anti-fraud content to GuardCast agents and keeps their proof of play.

Usage:
  guardcast-controller serve [--data DIR] [--mqtt ADDR] [--media-http ADDR] [--http ADDR] [--metrics ADDR] [--print-proofs]
                      [--tls auto|on|off] [--tls-names NAME,…] [--tls-cert FILE --tls-key FILE [--tls-ca FILE]]
  guardcast-controller device add --id ID --site NAME --profile PROFILE [--node SITE] [--tag T]... [--out FILE]
  guardcast-controller device list [--json]
  guardcast-controller device move --id ID --to SITE
  guardcast-controller device tag --id ID [--add T]... [--remove T]...
  guardcast-controller device reset-enrollment --id ID
  guardcast-controller controller add --id ID
  guardcast-controller media add FILE... [--title T]
  guardcast-controller media list
  guardcast-controller playlist create NAME --output led|tv|audio|printer --item MEDIA[:SECONDS][@FROM..UNTIL]...
  guardcast-controller playlist edit NAME --output OUT --item MEDIA[:SECONDS][@FROM..UNTIL]...
  guardcast-controller playlist assign NAME --device ID
  guardcast-controller playlist unassign --device ID --output OUT
  guardcast-controller playlist retire NAME | media retire MEDIA | device retire ID | org retire ID
  guardcast-controller org person edit ID [--name N] [--phone P] [--role R] | org person retire ID
  guardcast-controller org add --id ID --kind county|town|village|unit|site --name NAME [--parent ID] [--tz ZONE] [--quiet DAYS,HH:MM-HH:MM]...
  guardcast-controller org edit --id ID [--name N] [--parent ID] [--tz ZONE] [--quiet DAYS,HH:MM-HH:MM|none|inherit]...
  guardcast-controller org person add --node ID --role first_responsible|liaison|presenter --name N --phone P
  guardcast-controller org list [--json]
  guardcast-controller campaign create NAME --target node:ID|tag:T|device:ID... --output OUT --playlist P... [--from DATE] [--until DATE]
        [--daypart DAYS,HH:MM-HH:MM]... [--priority N] [--min-every 10m] [--min-share 0.2] [--trigger NAME]
  guardcast-controller campaign list [--all] [--json]
  guardcast-controller campaign end NAME
  guardcast-controller campaign misses [--device ID] [--json]
  guardcast-controller schedule preview --device ID [--from T] [--to T] [--output OUT] [--json]
  guardcast-controller alert push --to NODE... --text T [--audio MEDIA] [--outputs led,tv,audio] [--expires 2h|RFC3339] [--repeat 5m] [--hold 15s]
  guardcast-controller alert list [--active]
  guardcast-controller alert status ID [--summary] [--json]
  guardcast-controller alert laggards ID [--json]
  guardcast-controller alert cancel ID
  guardcast-controller versions list [--json]
  guardcast-controller versions laggards [--json]
  guardcast-controller proofs export [--format csv|jsonl] [--device ID] [--since T]
  guardcast-controller proofs verify [--device ID]
  guardcast-controller findings [--device ID]
  guardcast-controller user add NAME --role ROLE... [--node ID] [--display NAME] [--lang zh|en]   (password on stdin)
  guardcast-controller user list|edit|disable|enable|password ...
  guardcast-controller user token add|revoke NAME --label LABEL; user token list NAME
  guardcast-controller change list [--all] | show ID | approve ID|--all | reject ID --reason R | withdraw ID
  guardcast-controller settings [--two-person-alerts on|off]
  guardcast-controller adminlog verify | export
  guardcast-controller version

Every command takes --data DIR (default $GUARDCAST_DATA, else /var/lib/guardcast-controller).
Commands that change something go through the running controller when one serves DIR (as the
local admin, from DIR/admin.token), else they open DIR themselves. GUARDCAST_TOKEN (or
GUARDCAST_TOKEN_FILE) makes them act as that token's user instead. What changes a screen —
playlists, assignments, campaigns — waits as a pending change until another user with the
approver role approves it (change approve ID).
`

// Env is what a command may touch.
type Env struct {
	Stdout, Stderr io.Writer
	Log            *slog.Logger
	// Token, when set, is the API token whose user office commands act
	// as; "" takes $GUARDCAST_TOKEN, else the local admin.
	Token string
	// Stdin feeds password prompts (nil: the process's standard input).
	Stdin io.Reader
}

// Main runs one command and returns the process exit code.
func Main(ctx context.Context, args []string, env Env) int {
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, usage)
		return 2
	}
	if isHelp(args[0]) || args[0] == "help" {
		if args[0] == "help" && len(args) > 1 && !strings.HasPrefix(args[1], "-") {
			return Main(ctx, append(args[1:], "--help"), env) // help CMD: that command's usage
		}
		fmt.Fprint(env.Stdout, usage)
		return 0
	}
	cmd, rest := args[0], args[1:]
	for len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		switch cmd {
		case "device", "media", "playlist", "proofs", "controller", "org", "org person", "campaign", "alert", "versions", "schedule",
			"user", "user token", "change", "adminlog":
			cmd, rest = cmd+" "+rest[0], rest[1:]
			continue
		}
		break
	}
	commands := map[string]func(context.Context, []string, Env) error{
		"serve":                   cmdServe,
		"device add":              cmdDeviceAdd,
		"device list":             cmdDeviceList,
		"device reset-enrollment": cmdDeviceReset,
		"device move":             cmdDeviceMove,
		"device tag":              cmdDeviceTag,
		"org add":                 cmdOrgAdd,
		"org edit":                cmdOrgEdit,
		"org person add":          cmdOrgPersonAdd,
		"org list":                cmdOrgList,
		"campaign create":         cmdCampaignCreate,
		"campaign list":           cmdCampaignList,
		"campaign end":            cmdCampaignEnd,
		"campaign misses":         cmdCampaignMisses,
		"schedule preview":        cmdSchedulePreview,
		"alert push":              cmdAlertPush,
		"alert list":              cmdAlertList,
		"alert status":            cmdAlertStatus,
		"alert laggards":          cmdAlertLaggards,
		"alert cancel":            cmdAlertCancel,
		"versions list":           cmdVersionsList,
		"versions laggards":       cmdVersionsLaggards,
		"controller add":          cmdControllerAdd,
		"media add":               cmdMediaAdd,
		"media list":              cmdMediaList,
		"playlist create":         cmdPlaylistCreate,
		"playlist assign":         cmdPlaylistAssign,
		"playlist edit":           cmdPlaylistEdit,
		"playlist retire":         cmdPlaylistRetire,
		"playlist unassign":       cmdPlaylistUnassign,
		"org retire":              cmdOrgRetire,
		"org person edit":         cmdPersonEdit,
		"org person retire":       cmdPersonRetire,
		"device retire":           cmdDeviceRetire,
		"media retire":            cmdMediaRetire,
		"user add":                cmdUserAdd,
		"user list":               cmdUserList,
		"user edit":               cmdUserEdit,
		"user disable":            userSimple("user disable", "user.disable"),
		"user enable":             userSimple("user enable", "user.enable"),
		"user password":           cmdUserPassword,
		"user token add":          cmdTokenAdd,
		"user token revoke":       cmdTokenRevoke,
		"user token list":         cmdTokenList,
		"change list":             cmdChangeList,
		"change show":             cmdChangeShow,
		"change approve":          cmdChangeApprove,
		"change reject":           cmdChangeReject,
		"change withdraw":         cmdChangeWithdraw,
		"settings":                cmdSettings,
		"adminlog verify":         cmdAdminlogVerify,
		"adminlog export":         cmdAdminlogExport,
		"proofs export":           cmdProofsExport,
		"proofs verify":           cmdProofsVerify,
		"findings":                cmdFindings,
		"version":                 func(context.Context, []string, Env) error { fmt.Fprintln(env.Stdout, Version); return nil },
	}
	fn, ok := commands[cmd]
	if !ok {
		if lines := commandUsage(cmd); lines != "" && slices.ContainsFunc(rest, isHelp) {
			fmt.Fprintf(env.Stdout, "Usage:\n%s", lines) // a group: "proofs --help"
			return 0
		}
		fmt.Fprintf(env.Stderr, "unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	err := fn(ctx, rest, env)
	var ue usageError
	var he helpRequested
	switch {
	case err == nil:
		return 0
	case errors.As(err, &he):
		fmt.Fprint(env.Stdout, he.usage)
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(env.Stderr, "guardcast-controller %s: %v\n", cmd, err)
		return 2
	case errors.Is(err, errVerifyFailed):
		return 1
	default:
		fmt.Fprintf(env.Stderr, "guardcast-controller %s: %v\n", cmd, err)
		return 1
	}
}

type usageError struct{ error }

// helpRequested is what parse returns for -h/--help: the command's usage,
// which Main prints on stdout, exiting 0.
type helpRequested struct{ usage string }

func (h helpRequested) Error() string { return "help requested" }

func isHelp(arg string) bool {
	return arg == "-h" || arg == "--help" || arg == "-help" || arg == "--h"
}

// commandUsage returns the overview's lines for name ("proofs verify", or
// a group such as "proofs"), with their continuation lines.
func commandUsage(name string) string {
	var b strings.Builder
	in := false
	for _, line := range strings.Split(usage, "\n") {
		if rest, ok := strings.CutPrefix(line, "  guardcast-controller "+name); ok && (rest == "" || rest[0] == ' ') {
			in = true
			b.WriteString(line + "\n")
			continue
		}
		if in && strings.HasPrefix(line, "        ") {
			b.WriteString(line + "\n")
			continue
		}
		in = false
	}
	return b.String()
}

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

func newFlags(name string, env Env) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage:\n%s\nFlags:\n", cmp.Or(commandUsage(name), "  guardcast-controller "+name+" [flags]\n"))
		fs.PrintDefaults()
	}
	def := os.Getenv("GUARDCAST_DATA")
	if def == "" {
		def = "/var/lib/guardcast-controller"
	}
	data := fs.String("data", def, "data directory")
	return fs, data
}

// parse accepts flags before, between and after positional arguments.
// -h or --help anywhere returns helpRequested with the command's usage.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	// The flag package prints usage itself; hold it back so that asked-for
	// help goes to stdout (exit 0) and a mistake's usage to stderr (exit 2).
	out := fs.Output()
	var buf bytes.Buffer
	fs.SetOutput(&buf)
	defer fs.SetOutput(out)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, helpRequested{usage: buf.String()}
			}
			out.Write(buf.Bytes())
			return nil, usageError{err}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func openStore(ctx context.Context, dir string) (*store.Store, error) {
	if _, err := os.Stat(filepath.Join(dir, "guardcast.db")); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, err
			}
		}
	}
	return store.Open(ctx, dir)
}

// errNoStore: the --data directory holds no controller database.
var errNoStore = errors.New("no controller database")

// openExistingStore is openStore for commands that only read: a --data
// that holds no guardcast.db (a typo, the wrong host) is an error, and
// nothing is created there.
func openExistingStore(ctx context.Context, dir string) (*store.Store, error) {
	p := filepath.Join(dir, "guardcast.db")
	fi, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s (no guardcast.db): check --data or $GUARDCAST_DATA", errNoStore, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w in %s: guardcast.db is not a regular file", errNoStore, dir)
	}
	return store.Open(ctx, dir)
}

// checkDevice reports an error for an ID that is neither enrolled nor in
// the play log, so a typo in --device is not answered with an empty table.
func checkDevice(ctx context.Context, st *store.Store, id string) error {
	_, err := st.Device(ctx, id)
	if err == nil {
		return nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	found := false
	err = st.Proofs(ctx, store.ProofFilter{Device: id, Limit: 1}, func(store.ProofRow) error { found = true; return nil })
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("unknown device %q: not enrolled and no records", id)
	}
	return nil
}

func cmdServe(ctx context.Context, args []string, env Env) error {
	fs, data := newFlags("serve", env)
	var cfg serve.Config
	fs.StringVar(&cfg.MQTTAddr, "mqtt", "127.0.0.1:1883", "embedded MQTT broker listen address (TLS off loopback; 0.0.0.0:8883 for a fleet)")
	fs.StringVar(&cfg.MediaAddr, "media-http", "127.0.0.1:8081", "agent-facing HTTP listen address: /media/ and /healthz only (TLS off loopback)")
	fs.StringVar(&cfg.HTTPAddr, "http", "127.0.0.1:8080", "office HTTP listen address: the API (TLS off loopback)")
	fs.StringVar(&cfg.MetricsAddr, "metrics", "", "Prometheus /metrics listen address, loopback only (default: off), e.g. 127.0.0.1:9464")
	fs.StringVar(&cfg.TLS.Mode, "tls", serve.TLSAuto, "auto: TLS on every listener not on loopback; on: on all; off: none (refused off loopback)")
	tlsNames := fs.String("tls-names", "", "extra certificate names (comma-separated DNS names or IPs), e.g. the host name agents dial")
	fs.StringVar(&cfg.TLS.CertFile, "tls-cert", "", "use this certificate (PEM chain) instead of one from the private CA in DIR/tls")
	fs.StringVar(&cfg.TLS.KeyFile, "tls-key", "", "the key for --tls-cert")
	fs.StringVar(&cfg.TLS.CAFile, "tls-ca", "", "with --tls-cert: the CA certificate agents pin (default: none, agents use the system trust store)")
	fs.StringVar(&cfg.PublicBrokerURL, "public-broker-url", "", "broker URL written into agent configs (default: from --mqtt)")
	fs.StringVar(&cfg.PublicMediaURL, "public-media-url", "", "media base URL written into agent configs (default: from --media-http)")
	fs.StringVar(&cfg.ExternalBroker, "external-broker", "", "use this broker (tcp://host:1883) instead of the embedded one")
	fs.StringVar(&cfg.BrokerUser, "broker-user", "controller", "username (and client ID) on the external broker")
	pwFile := fs.String("broker-password-file", "", "file holding the external broker password")
	fs.DurationVar(&cfg.Lifetime, "lifetime", schedule.DefaultLifetime, "validity of signed desired states")
	fs.DurationVar(&cfg.Poll, "poll", time.Second, "how often edits made by other commands are picked up")
	printProofs := fs.Bool("print-proofs", false, "print one line per committed proof")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usagef("unexpected arguments %q", pos)
	}
	cfg.DataDir = *data
	if *tlsNames != "" {
		cfg.TLS.Names = strings.Split(*tlsNames, ",")
	}
	if *pwFile != "" {
		b, err := os.ReadFile(*pwFile)
		if err != nil {
			return err
		}
		cfg.BrokerPassword = strings.TrimSpace(string(b))
	}
	if *printProofs {
		cfg.PrintProofs = env.Stdout
	}
	return serve.Run(ctx, cfg, env.Log)
}

func cmdDeviceAdd(ctx context.Context, args []string, env Env) error {
	fs, data := newFlags("device add", env)
	id := fs.String("id", "", "device ID (a-z, 0-9, - _ .)")
	site := fs.String("site", "", "site name (branch, hotel, station)")
	profileID := fs.String("profile", "", "hardware profile (e.g. virtual-led, alpha-sign-serial)")
	out := fs.String("out", "", "write the agent config here (default DIR/agents/ID.json)")
	brokerURL := fs.String("broker-url", "", "broker URL for the agent (default: from the running controller's endpoints.json)")
	mediaURL := fs.String("media-url", "", "media base URL for the agent (default: likewise)")
	node := fs.String("node", "", "the site (org node) the device belongs to")
	var tags, outputs, inputs itemList
	fs.Var(&tags, "tag", "a device tag such as atm, doorway, lobby; repeat")
	fs.Var(&outputs, "output", "another output and its profile, e.g. audio=atm-speaker-alsa; repeat")
	fs.Var(&inputs, "input", "a local trigger and the gpio-input profile raising it, e.g. large-transfer=gpio-button; repeat")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usagef("unexpected arguments %q", pos)
	}
	if *id == "" || *profileID == "" {
		return usagef("--id and --profile are required")
	}
	outMap, err := pairs(outputs, protocol.ValidOutput, "--output OUTPUT=PROFILE with OUTPUT led, tv, audio or printer")
	if err != nil {
		return err
	}
	inMap, err := pairs(inputs, protocol.ValidTriggerName, "--input TRIGGER=PROFILE with TRIGGER of a-z, 0-9 and -")
	if err != nil {
		return err
	}
	known, err := profile.Load(firmwareprofiles.FS, "")
	if err != nil {
		return err
	}
	for _, pid := range append([]string{*profileID}, append(slices.Collect(maps.Values(outMap)), slices.Collect(maps.Values(inMap))...)...) {
		if _, err := known.Get(pid); err != nil {
			fmt.Fprintf(env.Stderr, "note: profile %q is not built in; the device needs it in its --profiles directory\n", pid)
		}
	}
	ep, _ := serve.ReadEndpoints(*data)
	if *brokerURL == "" {
		*brokerURL = ep.BrokerURL
		if *brokerURL == "" {
			*brokerURL = "tcp://127.0.0.1:1883"
		}
	}
	if *mediaURL == "" {
		*mediaURL = ep.MediaURL
		if *mediaURL == "" {
			*mediaURL = "http://127.0.0.1:8081/media/"
		}
	}
	caPEM, err := agentCA(*data, ep)
	if err != nil {
		return err
	}
	c, err := connect(ctx, env, *data, "device add")
	if err != nil {
		return err
	}
	defer c.Close()
	var res office.Enrolled
	if err := c.call(ctx, "device.add", office.DeviceRequest{ID: *id, Site: *site, Profile: *profileID, Node: *node, Tags: tags,
		Outputs: outMap, Inputs: inMap, BrokerURL: *brokerURL, MediaURL: *mediaURL, CACert: caPEM}, &res); err != nil {
		return err
	}
	cfg := res.Config
	path := *out
	if path == "" {
		if err := os.MkdirAll(filepath.Join(*data, "agents"), 0o700); err != nil {
			return err
		}
		path = filepath.Join(*data, "agents", *id+".json")
	}
	b, _ := json.MarshalIndent(cfg, "", "  ")
	if err := atomicfile.Write(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write agent config: %w", err)
	}
	fmt.Fprintf(env.Stdout, "enrolled %s (site %q, profile %s); agent config: %s\n", *id, cfg.Site, *profileID, path)
	fmt.Fprintf(env.Stdout, "copy it to the device as /etc/guardcast/agent.json (mode 0600); it holds the device's password and one-time enrollment secret\n")
	return nil
}

// agentCA is the CA certificate (PEM) a new agent pins: the running
// controller's (endpoints.json), else the private CA in DIR/tls if one was
// made; "" when there is none (plaintext on loopback, or an operator
// certificate the system trust store vouches for).
func agentCA(dir string, ep serve.Endpoints) (string, error) {
	path := ep.CAFile
	if path == "" {
		path = filepath.Join(dir, pki.Dir, pki.CACertFile)
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && ep.CAFile == "" {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("CA certificate for the agent: %w", err)
	}
	return string(b), nil
}

// pairs parses KEY=VALUE flags, checking each key.
func pairs(list []string, validKey func(string) bool, want string) (map[string]string, error) {
	if len(list) == 0 {
		return nil, nil
	}
	m := map[string]string{}
	for _, kv := range list {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || v == "" || !validKey(k) {
			return nil, usagef("%q: want %s", kv, want)
		}
		if _, dup := m[k]; dup {
			return nil, usagef("%q given twice", k)
		}
		m[k] = v
	}
	return m, nil
}

func cmdDeviceList(ctx context.Context, args []string, env Env) error {
	fs, data := newFlags("device list", env)
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	st, err := openStore(ctx, *data)
	if err != nil {
		return err
	}
	defer st.Close()
	devs, err := st.Devices(ctx)
	if err != nil {
		return err
	}
	tags, err := st.DeviceTags(ctx)
	if err != nil {
		return err
	}
	views := []office.DeviceView{}
	for _, d := range devs {
		views = append(views, office.ViewDevice(d, tags[d.ID]))
	}
	if *asJSON {
		return printJSON(env, views)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tSITE\tTAGS\tPROFILE\tENROLLED\tLAST SEQ\tLAST SEEN\tONLINE\tCLOCK\tSTATE")
	for _, v := range views {
		seen, online := "-", "-"
		if v.LastSeen > 0 {
			seen = time.Unix(v.LastSeen, 0).Format(time.DateTime)
		}
		if v.Status != nil {
			online = strconv.FormatBool(v.Status.Online)
		}
		site := v.Node
		if site == "" {
			site = v.Site
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\t%d\t%s\t%s\t%s\t%s\n", v.ID, dash(site), dash(strings.Join(v.Tags, ",")), v.Profile, v.Enrolled,
			v.LastSeq, seen, online, v.Clock, v.State)
	}
	return tw.Flush()
}

func cmdDeviceReset(ctx context.Context, args []string, env Env) error {
	fs, data := newFlags("device reset-enrollment", env)
	id := fs.String("id", "", "device ID")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *id == "" {
		return usagef("--id is required")
	}
	var res office.EnrollSecret
	if err := callOffice(ctx, env, *data, "device reset-enrollment", "device.reset_enrollment", office.DeviceRef{ID: *id}, &res); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s: pinned key cleared; its play log is kept. Put this in the agent config as \"enroll_secret\":\n%s\n", *id, res.EnrollSecret)
	return nil
}

func cmdControllerAdd(ctx context.Context, args []string, env Env) error {
	fs, data := newFlags("controller add", env)
	id := fs.String("id", "", "controller credential name")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *id == "" {
		return usagef("--id is required")
	}
	var res office.BrokerCredential
	if err := callOffice(ctx, env, *data, "controller add", "controller.add", office.DeviceRef{ID: *id}, &res); err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, res.Password)
	return nil
}
