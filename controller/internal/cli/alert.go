package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/guardcast/guardcast/controller/internal/alert"
	"github.com/guardcast/guardcast/controller/internal/office"
	"github.com/guardcast/guardcast/controller/internal/schedule"
	"github.com/guardcast/guardcast/controller/internal/store"
)

func cmdAlertPush(ctx context.Context, args []string, env Env) error {
	fs, data := newFlags("alert push", env)
	var to itemList
	var q alert.Request
	fs.Var(&to, "to", "org node (or device) ID the warning goes to, with everything below it; repeat")
	fs.StringVar(&q.Text, "text", "", "the warning text, shown on screens as-is")
	fs.StringVar(&q.Audio, "audio", "", "voice clip (media name or sha256) for the audio output")
	outputs := fs.String("outputs", "", "outputs it preempts, comma separated (default led,tv, plus audio with --audio)")
	fs.StringVar(&q.Expires, "expires", "", "when it expires: a duration (2h, the default) or an RFC 3339 time")
	fs.StringVar(&q.Repeat, "repeat", "", "replay it this often while in force (5m); default once per output")
	fs.StringVar(&q.Hold, "hold", "", "how long the text holds a screen (default 15s)")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	q.To = to
	if *outputs != "" {
		q.Outputs = strings.Split(*outputs, ",")
	}
	if len(q.To) == 0 {
		return usagef("--to is required")
	}
	c, err := connect(ctx, env, *data, "alert push")
	if err != nil {
		return err
	}
	defer c.Close()
	var res office.PushResult
	if err := c.call(ctx, "alert.push", q, &res); err != nil {
		return err
	}
	if res.Pending != nil {
		fmt.Fprintf(env.Stdout, "two-person alerts are on: %s\n", res.Pending.Message)
		return nil
	}
	a := res.Alert
	fmt.Fprintf(env.Stdout, "alert %s pushed to %d device(s) under %s (%s)\n", a.ID, res.Recipients, strings.Join(a.Targets, ", "), c.how)
	if res.Reach != nil {
		fmt.Fprintf(env.Stdout, "per output: %s (%s)\n", res.Reach, perTarget(*res.Reach))
	}
	fmt.Fprintf(env.Stdout, "outputs %s; expires %s\n", strings.Join(a.Outputs, ","), time.Unix(a.ExpiresAt, 0).Format(time.DateTime))
	fmt.Fprintf(env.Stdout, "track it: guardcast-controller alert status %s\n", a.ID)
	return nil
}

func cmdAlertList(ctx context.Context, args []string, env Env) error {
	fs, data := newFlags("alert list", env)
	active := fs.Bool("active", false, "only alerts still in force")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	st, err := openStore(ctx, *data)
	if err != nil {
		return err
	}
	defer st.Close()
	var since time.Time
	if *active {
		since = time.Now()
	}
	as, err := st.Alerts(ctx, since)
	if err != nil {
		return err
	}
	views := []office.AlertView{}
	for _, a := range as {
		views = append(views, office.ViewAlert(a, time.Now()))
	}
	if *asJSON {
		return printJSON(env, views)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ALERT\tPUSHED\tEXPIRES\tACTIVE\tTARGETS\tOUTPUTS\tTEXT")
	for i, v := range views {
		text := v.Text
		if len([]rune(text)) > 40 {
			text = string([]rune(text)[:40]) + "…"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\t%s\t%s\n", v.ID, time.UnixMilli(as[i].PushedMS).Format(time.DateTime),
			time.Unix(v.ExpiresAt, 0).Format(time.DateTime), v.Active, strings.Join(v.Targets, ","), strings.Join(v.Outputs, ","), text)
	}
	return tw.Flush()
}

func ms(d int64) string {
	if d < 0 {
		return "-"
	}
	return (time.Duration(d) * time.Millisecond).String()
}

func clockMS(t int64) string {
	if t == 0 {
		return "-"
	}
	return time.UnixMilli(t).Format("01-02 15:04:05.000")
}

func alertID(pos []string) (string, error) {
	if len(pos) != 1 {
		return "", usagef("want exactly one alert ID")
	}
	return pos[0], nil
}

func cmdAlertStatus(ctx context.Context, args []string, env Env) error {
	fs, data := newFlags("alert status", env)
	summary := fs.Bool("summary", false, "only the roll-up, not every device")
	asJSON := fs.Bool("json", false, "print JSON (as GET /api/alerts/ID)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	id, err := alertID(pos)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, *data)
	if err != nil {
		return err
	}
	defer st.Close()
	s, _, err := alert.StatusOf(ctx, st, id)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env, s)
	}
	a := s.Alert
	state := "in force"
	if !a.Active(time.Now()) {
		state = "expired"
		if a.CancelledAt != 0 {
			state = "cancelled"
		}
	}
	fmt.Fprintf(env.Stdout, "alert %s (%s): pushed %s to %s, outputs %s, expires %s\n", a.ID, state,
		time.UnixMilli(a.PushedMS).Format("2006-01-02 15:04:05.000"), strings.Join(a.Targets, ","), strings.Join(a.Outputs, ","),
		time.Unix(a.ExpiresAt, 0).Format(time.DateTime))
	if a.Text != "" {
		fmt.Fprintf(env.Stdout, "text: %s\n", a.Text)
	}
	t := s.Total
	fmt.Fprintf(env.Stdout, "signed for by %d of %d device(s) (received by %d); slowest %s %s\n\n", t.Signed, t.Devices, t.Received,
		ms(t.SlowestMS), t.SlowestDevice)
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tKIND\tDEVICES\tRECEIVED\tSIGNED FOR\tSLOWEST")
	for _, r := range s.Rollup {
		fmt.Fprintf(tw, "%s%s (%s)\t%s\t%d\t%d\t%d\t%s\n", strings.Repeat("  ", r.Depth), r.Node, r.Name, dash(r.Kind), r.Devices, r.Received,
			r.Signed, ms(r.SlowestMS))
	}
	tw.Flush()
	if *summary {
		return nil
	}
	fmt.Fprintln(env.Stdout)
	tw = tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tSITE\tRECEIVED\tFIRST PLAYED\tOUTPUT\tLATENCY")
	for _, d := range s.Devices {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.Device, dash(d.Site), clockMS(d.ReceivedMS), clockMS(d.FirstPlayMS), dash(d.FirstPlayOutput), ms(d.LatencyMS))
	}
	return tw.Flush()
}

func cmdAlertLaggards(ctx context.Context, args []string, env Env) error {
	fs, data := newFlags("alert laggards", env)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	id, err := alertID(pos)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, *data)
	if err != nil {
		return err
	}
	defer st.Close()
	s, tree, err := alert.StatusOf(ctx, st, id)
	if err != nil {
		return err
	}
	ls := alert.Laggards(s, tree)
	if *asJSON {
		return printJSON(env, ls)
	}
	if len(ls) == 0 {
		fmt.Fprintf(env.Stdout, "all %d device(s) have signed for %s\n", s.Total.Devices, id)
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tSITE\tMISSING\tCALL")
	for _, l := range ls {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", l.Device, dash(l.Site), l.Missing, people(l.People, l.Holder, l.Site))
	}
	tw.Flush()
	fmt.Fprintf(env.Stdout, "%d of %d device(s) have not signed for %s\n", len(ls), s.Total.Devices, id)
	return nil
}

func cmdAlertCancel(ctx context.Context, args []string, env Env) error {
	fs, data := newFlags("alert cancel", env)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	id, err := alertID(pos)
	if err != nil {
		return err
	}
	if err := callOffice(ctx, env, *data, "alert cancel", "alert.cancel", office.AlertRef{ID: id}, nil); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "alert %s cancelled; the next documents drop it\n", id)
	return nil
}

// parseWhen takes RFC 3339, "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM" (local to
// loc), or "now".
func parseWhen(s string, loc *time.Location, now time.Time) (time.Time, error) {
	switch {
	case s == "" || s == "now":
		return now, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02 15:04", time.DateOnly} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, usagef("time %q: want RFC 3339, YYYY-MM-DD or YYYY-MM-DDTHH:MM (in the site's zone)", s)
}

func cmdSchedulePreview(ctx context.Context, args []string, env Env) error {
	fs, data := newFlags("schedule preview", env)
	device := fs.String("device", "", "device ID")
	fromS := fs.String("from", "", "start: RFC 3339, or YYYY-MM-DD[THH:MM] in the site's zone (default now)")
	toS := fs.String("to", "", "end, likewise (default a day after --from)")
	output := fs.String("output", "", "only this output")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	if *device == "" {
		return usagef("--device is required")
	}
	st, err := openStore(ctx, *data)
	if err != nil {
		return err
	}
	defer st.Close()
	key, err := schedule.LoadOrCreateKey(*data)
	if err != nil {
		return err
	}
	comp := schedule.NewCompiler(st, key, schedule.Options{}, nil)
	ds, err := comp.Desired(ctx, *device)
	if err != nil {
		return err
	}
	tz := schedule.DefaultTZ
	if ds.Schedule != nil {
		tz = ds.Schedule.TZ
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return err
	}
	now := time.Now()
	from, err := parseWhen(*fromS, loc, now)
	if err != nil {
		return err
	}
	to := from.Add(24 * time.Hour)
	if *toS != "" {
		if to, err = parseWhen(*toS, loc, now); err != nil {
			return err
		}
	}
	if !to.After(from) || to.Sub(from) > schedule.MaxPreviewSpan {
		return usagef("--to must be after --from, at most %v later", schedule.MaxPreviewSpan)
	}
	// A device whose last status says its clock is not trusted plays
	// only its safe loop: preview that, as the agent evaluates it.
	dev, err := st.Device(ctx, *device)
	if err != nil {
		return err
	}
	synced := office.ViewDevice(dev, nil).Clock != office.ClockUntrusted
	// The speaker's profile quiet hours come from the device's recorded
	// outputs, as the agent's own driver tells them.
	outs, err := st.DeviceOutputs(ctx, *device)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	res, err := schedule.PreviewStateOutputs(ds, *output, from, to, synced, outs)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env, res)
	}
	return writePreview(env, res)
}

func writePreview(env Env, res *schedule.PreviewResult) error {
	w := env.Stdout
	if res.ClockUntrusted {
		fmt.Fprintf(w, "CLOCK NOT SYNCHRONISED: %s's last status says its clock is not trusted, so it plays only the safe loop\n"+
			"(else date-free entries only) and this preview shows that; the schedule plays once the clock is synchronised.\n", res.Device)
	}
	fmt.Fprintf(w, "%s, document version %d, time zone %s: %s .. %s\n", res.Device, res.Version, res.TZ,
		res.From.Format("2006-01-02 15:04:05"), res.To.Format("2006-01-02 15:04:05"))
	for _, a := range res.Alerts {
		fmt.Fprintf(w, "alert %s preempts %s until %s (not shown below)\n", a.ID, strings.Join(a.Outputs, ","),
			time.Unix(a.ExpiresAt, 0).In(res.From.Location()).Format("2006-01-02 15:04:05"))
	}
	for _, t := range res.Triggers {
		fmt.Fprintf(w, "trigger-bound: %s\n", t)
	}
	for _, q := range res.Quiet {
		fmt.Fprintf(w, "quiet hours: %s\n", q)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tOUTPUT\tTITLE\tSHA256\tENTRY\tDURATION")
	for _, p := range res.Plays {
		entry := p.Entry
		if p.Safe {
			entry = "(safe loop)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.12s\t%s\t%s\n", p.Start.Format("2006-01-02 15:04:05"), p.Output, dash(p.Title), p.SHA256, dash(entry),
			time.Duration(p.DurationMS)*time.Millisecond)
	}
	tw.Flush()
	for _, m := range res.Misses {
		fmt.Fprintf(w, "QUOTA %s %s %s: %s\n", m.At.Format("2006-01-02 15:04:05"), m.Output, m.Entry, m.Detail)
	}
	if res.Truncated && res.ListedUntil != nil {
		fmt.Fprintf(w, "listed up to %s; per day:\n", res.ListedUntil.Format("2006-01-02 15:04:05"))
		dw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(dw, "DAY\tOUTPUT\tTITLE\tPLAYS")
		for _, d := range res.Daily {
			fmt.Fprintf(dw, "%s\t%s\t%s\t%d\n", d.Day, d.Output, dash(d.Title), d.Plays)
		}
		dw.Flush()
	}
	fmt.Fprintf(w, "%d plays, %d quota misses\n", max(res.PlayCount, len(res.Plays)), max(res.MissCount, len(res.Misses)))
	return nil
}
