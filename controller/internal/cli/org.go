package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/guardcast/guardcast/controller/internal/office"
	"github.com/guardcast/guardcast/controller/internal/org"
	"github.com/guardcast/guardcast/controller/internal/report"
	"github.com/guardcast/guardcast/controller/internal/schedule"
	"github.com/guardcast/guardcast/controller/internal/store"
	"github.com/guardcast/guardcast/internal/protocol"
)

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func printJSON(env Env, v any) error {
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// noArgs parses flags and refuses positional arguments.
func noArgs(fs *flag.FlagSet, args []string) error {
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected arguments %q", pos)
	}
	return nil
}

// flagSet reports whether a flag was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func cmdOrgAdd(ctx context.Context, args []string, env Env) error {
	fs, data := newFlags("org add", env)
	var q office.NodeRequest
	fs.StringVar(&q.ID, "id", "", "node ID (a-z, 0-9, - _ .)")
	fs.StringVar(&q.Kind, "kind", "", "county, town, village, unit or site")
	fs.StringVar(&q.Name, "name", "", "display name")
	fs.StringVar(&q.Parent, "parent", "", "parent node ID")
	fs.StringVar(&q.TZ, "tz", "", "IANA time zone (sites need one, here or on an ancestor)")
	var quiet itemList
	fs.Var(&quiet, "quiet", "audio quiet hours DAYS,HH:MM-HH:MM for every device below (\"none\": none); repeat")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	if q.ID == "" || q.Kind == "" || q.Name == "" {
		return usagef("--id, --kind and --name are required")
	}
	if len(quiet) > 0 {
		q.Quiet = quiet
	}
	if _, err := q.Node(); err != nil {
		return err
	}
	c, err := connect(ctx, env, *data, "org add")
	if err != nil {
		return err
	}
	defer c.Close()
	var n org.Node
	if err := c.call(ctx, "org.add", q, &n); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s %s (%s) added", n.Kind, n.ID, n.Name)
	if n.Parent != "" {
		fmt.Fprintf(env.Stdout, " under %s", n.Parent)
	}
	var tree office.OrgView
	if err := c.call(ctx, "org.tree", office.Empty{}, &tree); err == nil {
		if tz := findTZ(tree.Roots, n.ID); tz != "" {
			fmt.Fprintf(env.Stdout, "; time zone %s", tz)
		}
	}
	fmt.Fprintln(env.Stdout)
	return nil
}

func findTZ(ns []*office.NodeView, id string) string {
	for _, n := range ns {
		if n.ID == id {
			return n.EffectiveTZ
		}
		if tz := findTZ(n.Children, id); tz != "" {
			return tz
		}
	}
	return ""
}

func cmdOrgEdit(ctx context.Context, args []string, env Env) error {
	fs, data := newFlags("org edit", env)
	id := fs.String("id", "", "node ID")
	name := fs.String("name", "", "new display name")
	parent := fs.String("parent", "", "new parent node ID (\"\" makes it a root)")
	tz := fs.String("tz", "", "IANA time zone (\"\" inherits the parent's)")
	var quiet itemList
	fs.Var(&quiet, "quiet", "audio quiet hours DAYS,HH:MM-HH:MM (\"none\": none, \"inherit\": the parent's); repeat")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	if *id == "" {
		return usagef("--id is required")
	}
	p := office.NodePatch{ID: *id}
	if flagSet(fs, "name") {
		p.Name = name
	}
	if flagSet(fs, "parent") {
		p.Parent = parent
	}
	if flagSet(fs, "tz") {
		p.TZ = tz
	}
	if len(quiet) > 0 {
		q := []string(quiet)
		p.Quiet = &q
	}
	if p.Name == nil && p.Parent == nil && p.TZ == nil && p.Quiet == nil {
		return usagef("nothing to change: give --name, --parent, --tz or --quiet")
	}
	if _, err := p.Edit(); err != nil {
		return err
	}
	if err := callOffice(ctx, env, *data, "org edit", "org.edit", p, nil); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "node %s changed; a running controller republishes the affected devices' documents within a second\n", *id)
	return nil
}

func cmdOrgPersonAdd(ctx context.Context, args []string, env Env) error {
	fs, data := newFlags("org person add", env)
	var p office.PersonRequest
	fs.StringVar(&p.Node, "node", "", "the node they are responsible for")
	fs.StringVar(&p.Role, "role", "", "first_responsible, liaison or presenter")
	fs.StringVar(&p.Name, "name", "", "name")
	fs.StringVar(&p.Phone, "phone", "", "phone number")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	if p.Node == "" || p.Role == "" || p.Name == "" || p.Phone == "" {
		return usagef("--node, --role, --name and --phone are required")
	}
	if err := callOffice(ctx, env, *data, "org person add", "person.add", p, nil); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s (%s, %s) is responsible for %s\n", p.Name, p.Role, p.Phone, p.Node)
	return nil
}

func cmdOrgList(ctx context.Context, args []string, env Env) error {
	fs, data := newFlags("org list", env)
	asJSON := fs.Bool("json", false, "print JSON (as GET /api/org)")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	st, err := openStore(ctx, *data)
	if err != nil {
		return err
	}
	defer st.Close()
	v, err := office.OrgTree(ctx, &office.StoreBackend{Store: st}, true)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env, v)
	}
	w := env.Stdout
	device := func(indent string, d office.DeviceBrief) {
		tags := ""
		if len(d.Tags) > 0 {
			tags = " [" + strings.Join(d.Tags, ",") + "]"
		}
		fmt.Fprintf(w, "%s- %s%s: %s\n", indent, d.ID, tags, d.State)
	}
	var show func(n *office.NodeView, depth int)
	show = func(n *office.NodeView, depth int) {
		ind := strings.Repeat("  ", depth)
		tz := ""
		switch {
		case n.TZ != "":
			tz = "  tz " + n.TZ
		case n.Kind == org.KindSite:
			tz = "  tz " + n.EffectiveTZ + " (inherited)"
		}
		quiet := ""
		if n.Quiet != nil {
			var qs []string
			for _, q := range n.Quiet {
				qs = append(qs, org.FormatDaypart(q))
			}
			if len(qs) == 0 {
				qs = []string{"none"}
			}
			quiet = "  quiet " + strings.Join(qs, " ")
		}
		fmt.Fprintf(w, "%s%s %s — %s%s%s\n", ind, n.Kind, n.ID, n.Name, tz, quiet)
		for _, p := range n.People {
			fmt.Fprintf(w, "%s    %s: %s %s\n", ind, p.Role, p.Name, p.Phone)
		}
		for _, d := range n.Devices {
			device(ind+"  ", d)
		}
		for _, c := range n.Children {
			show(c, depth+1)
		}
	}
	for _, r := range v.Roots {
		show(r, 0)
	}
	if len(v.Unplaced) > 0 {
		fmt.Fprintln(w, "devices on no site:")
		for _, d := range v.Unplaced {
			device("  ", d)
		}
	}
	return nil
}

func cmdDeviceMove(ctx context.Context, args []string, env Env) error {
	fs, data := newFlags("device move", env)
	id := fs.String("id", "", "device ID")
	to := fs.String("to", "", "site (org node of kind site)")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	if *id == "" || *to == "" {
		return usagef("--id and --to are required")
	}
	if err := callOffice(ctx, env, *data, "device move", "device.move", office.DeviceMove{ID: *id, To: *to}, nil); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s now belongs to site %s\n", *id, *to)
	return nil
}

func cmdDeviceTag(ctx context.Context, args []string, env Env) error {
	fs, data := newFlags("device tag", env)
	id := fs.String("id", "", "device ID")
	var add, remove itemList
	fs.Var(&add, "add", "tag to add (atm, doorway, lobby…); repeat")
	fs.Var(&remove, "remove", "tag to remove; repeat")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	if *id == "" || len(add)+len(remove) == 0 {
		return usagef("--id and at least one --add or --remove are required")
	}
	var res office.DeviceTags
	if err := callOffice(ctx, env, *data, "device tag", "device.tag", office.DeviceTag{ID: *id, Add: add, Remove: remove}, &res); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s tags: %s\n", *id, dash(strings.Join(res.Tags, ",")))
	return nil
}

func cmdCampaignCreate(ctx context.Context, args []string, env Env) error {
	fs, data := newFlags("campaign create", env)
	var q schedule.CampaignRequest
	var targets, playlists, dayparts itemList
	fs.Var(&targets, "target", "node:ID, tag:TAG or device:ID; repeat")
	fs.StringVar(&q.Output, "output", "", "led, tv, audio or printer")
	fs.Var(&playlists, "playlist", "playlist to place (it must play on --output); repeat")
	fs.StringVar(&q.From, "from", "", "first local date it runs (YYYY-MM-DD)")
	fs.StringVar(&q.Until, "until", "", "first local date it no longer runs (YYYY-MM-DD, exclusive)")
	fs.Var(&dayparts, "daypart", "weekly window DAYS,HH:MM-HH:MM in the site's time zone (mon-fri,09:00-17:00); repeat")
	fs.IntVar(&q.Priority, "priority", 0, "higher wins when no quota is owed")
	fs.StringVar(&q.MinEvery, "min-every", "", "play at least once this often while active (10m)")
	fs.Float64Var(&q.MinShare, "min-share", 0, "at least this fraction of the output's time while active (0.2)")
	fs.StringVar(&q.Trigger, "trigger", "", "play once per local trigger (large-transfer) instead of by time")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want exactly one campaign NAME, got %q", pos)
	}
	q.Name, q.Targets, q.Playlists, q.Dayparts = pos[0], targets, playlists, dayparts
	if len(targets) == 0 || q.Output == "" || len(playlists) == 0 {
		return usagef("--target, --output and --playlist are required")
	}
	camp, err := q.Campaign()
	if err != nil {
		return err
	}
	var res office.ChangeResult
	if err := callOffice(ctx, env, *data, "campaign create", "campaign.create", q, &res); err != nil {
		return err
	}
	v := schedule.ViewCampaign(camp)
	fmt.Fprintf(env.Stdout, "campaign %s: %s on %s for %s (%s, priority %d)\n", camp.Name, strings.Join(camp.Playlists, ", "), camp.Output,
		strings.Join(v.Targets, " "), v.Rules(), camp.Priority)
	if res.Reach != nil {
		fmt.Fprintf(env.Stdout, "reaches %d device(s) with output %s (%s)\n", res.Reach.ByOutput[camp.Output], camp.Output, perTarget(*res.Reach))
	}
	printPending(env, res)
	return nil
}

// printPending says what became of a change that waits for approval.
func printPending(env Env, res office.ChangeResult) {
	fmt.Fprintln(env.Stdout, res.Message)
}

func cmdCampaignList(ctx context.Context, args []string, env Env) error {
	fs, data := newFlags("campaign list", env)
	all := fs.Bool("all", false, "include ended campaigns")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	st, err := openStore(ctx, *data)
	if err != nil {
		return err
	}
	defer st.Close()
	cs, err := st.Campaigns(ctx, *all)
	if err != nil {
		return err
	}
	views := []schedule.CampaignView{}
	for _, c := range cs {
		views = append(views, schedule.ViewCampaign(c))
	}
	if *asJSON {
		return printJSON(env, views)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CAMPAIGN\tOUTPUT\tPLAYLISTS\tTARGETS\tPRIORITY\tRULES\tENDED")
	for _, v := range views {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", v.Name, v.Output, strings.Join(v.Playlists, ","), strings.Join(v.Targets, " "),
			v.Priority, v.Rules(), dash(v.Ended))
	}
	return tw.Flush()
}

func cmdCampaignEnd(ctx context.Context, args []string, env Env) error {
	fs, data := newFlags("campaign end", env)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want exactly one campaign NAME")
	}
	if err := callOffice(ctx, env, *data, "campaign end", "campaign.end", office.NameRef{Name: pos[0]}, nil); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "campaign %s ended; the next documents drop it\n", pos[0])
	return nil
}

// MissView is a quota a device reported it could not meet.
type MissView struct {
	Device   string `json:"device"`
	Version  uint64 `json:"version"`
	Output   string `json:"output"`
	Entry    string `json:"entry"`
	Detail   string `json:"detail"`
	At       string `json:"at"` // the agent's clock
	Synced   bool   `json:"clock_synced"`
	Received string `json:"received"`
}

func cmdCampaignMisses(ctx context.Context, args []string, env Env) error {
	fs, data := newFlags("campaign misses", env)
	device := fs.String("device", "", "only this device")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	st, err := openStore(ctx, *data)
	if err != nil {
		return err
	}
	defer st.Close()
	rows, err := st.Acks(ctx, store.AckFilter{Device: *device, Event: protocol.AckQuotaMiss})
	if err != nil {
		return err
	}
	views := []MissView{}
	for _, r := range rows {
		views = append(views, MissView{Device: r.Device, Version: r.Version, Output: r.Output, Entry: r.Entry, Detail: r.Detail,
			At: time.UnixMilli(r.At).Format(time.DateTime), Synced: r.ClockSynced, Received: time.UnixMilli(r.ReceivedMS).Format(time.DateTime)})
	}
	if *asJSON {
		return printJSON(env, views)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tVERSION\tOUTPUT\tENTRY\tAT (DEVICE CLOCK)\tDETAIL")
	for _, v := range views {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", v.Device, v.Version, v.Output, v.Entry, v.At, v.Detail)
	}
	return tw.Flush()
}

func people(ps []org.Person, holder, site string) string {
	if len(ps) == 0 {
		return "(nobody on record)"
	}
	var out []string
	for _, p := range ps {
		out = append(out, fmt.Sprintf("%s %s %s", p.Role, p.Name, p.Phone))
	}
	s := strings.Join(out, "; ")
	if holder != site {
		s += " (of " + holder + ")"
	}
	return s
}

func cmdVersionsList(ctx context.Context, args []string, env Env) error {
	fs, data := newFlags("versions list", env)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	st, err := openStore(ctx, *data)
	if err != nil {
		return err
	}
	defer st.Close()
	vs, err := report.Versions(ctx, st)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env, vs)
	}
	for _, v := range vs {
		fmt.Fprintf(env.Stdout, "%s: %s\n", v.Device, v.State)
	}
	return nil
}

func cmdVersionsLaggards(ctx context.Context, args []string, env Env) error {
	fs, data := newFlags("versions laggards", env)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	st, err := openStore(ctx, *data)
	if err != nil {
		return err
	}
	defer st.Close()
	ls, err := report.VersionLaggards(ctx, st)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env, ls)
	}
	if len(ls) == 0 {
		fmt.Fprintln(env.Stdout, "every device has acknowledged its published version")
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tSITE\tPUBLISHED\tADOPTED\tONLINE\tLAST SEEN\tCALL")
	for _, l := range ls {
		seen := "-"
		if l.LastSeen > 0 {
			seen = time.Unix(l.LastSeen, 0).Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%v\t%s\t%s\n", l.Device, dash(l.Site), l.Published, l.Adopted, l.Online, seen, people(l.People, l.Holder, l.Site))
	}
	tw.Flush()
	fmt.Fprintf(env.Stdout, "%d device(s) behind\n", len(ls))
	return nil
}

// perTarget is "node:town led 3; tag:atm led 1".
func perTarget(r office.Reach) string {
	var ts []string
	for t := range r.PerTarget {
		ts = append(ts, t)
	}
	sort.Strings(ts)
	var out []string
	for _, t := range ts {
		out = append(out, t+" "+office.Reach{ByOutput: r.PerTarget[t]}.String())
	}
	return strings.Join(out, "; ")
}
