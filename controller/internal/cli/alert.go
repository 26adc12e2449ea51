package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/guardcast/guardcast/controller/internal/alert"
	"github.com/guardcast/guardcast/controller/internal/schedule"
	"github.com/guardcast/guardcast/controller/internal/serve"
	"github.com/guardcast/guardcast/controller/internal/web"
)

// apiBase is the running controller's local API, from endpoints.json.
func apiBase(dir string) (string, bool) {
	ep, err := serve.ReadEndpoints(dir)
	if err != nil || ep.HTTPAddr == "" {
		return "", false
	}
	host, port, err := net.SplitHostPort(ep.HTTPAddr)
	if err != nil {
		return "", false
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port), true
}

// errNoController: the API could not be reached at all, so nothing was
// pushed through it and the direct path is safe.
var errNoController = errors.New("controller API not reachable")

// pushViaAPI posts the alert to the running controller, which stores it
// and publishes at once (no poll delay).
func pushViaAPI(ctx context.Context, base string, req alert.Request) (*web.PushResult, error) {
	body, _ := json.Marshal(req)
	hreq, err := http.NewRequestWithContext(ctx, "POST", base+"/api/alerts", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: (&net.Dialer{Timeout: 2 * time.Second}).DialContext, Proxy: nil}}
	resp, err := client.Do(hreq)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return nil, fmt.Errorf("%w: %v", errNoController, err)
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		var e struct {
			Error string `json:"error"`
		}
		json.NewDecoder(resp.Body).Decode(&e)
		if resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusNotFound {
			return nil, usagef("%s", e.Error)
		}
		return nil, fmt.Errorf("controller API: %s: %s", resp.Status, e.Error)
	}
	var res web.PushResult
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return nil, fmt.Errorf("controller API answer: %w", err)
	}
	return &res, nil
}

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
	direct := fs.Bool("direct", false, "write to the database even if a controller is running (it then picks the alert up at its next poll)")
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
	var res *web.PushResult
	how := "via the running controller"
	if base, ok := apiBase(*data); ok && !*direct {
		r, err := pushViaAPI(ctx, base, q)
		if err != nil && !errors.Is(err, errNoController) {
			return err
		}
		res = r
	}
	if res == nil {
		st, err := openStore(ctx, *data)
		if err != nil {
			return err
		}
		defer st.Close()
		a, err := alert.Push(ctx, st, q, time.Now())
		if errors.Is(err, alert.ErrBadRequest) {
			return usageError{err}
		}
		if err != nil {
			return err
		}
		res = &web.PushResult{Alert: web.ViewAlert(a, time.Now())}
		if tree, err := st.Tree(ctx); err == nil {
			if rs, err := alert.Recipients(ctx, st, tree, a.Targets); err == nil {
				res.Recipients = len(rs)
			}
		}
		how = "in the database; a running controller publishes it at its next poll"
	}
	a := res.Alert
	fmt.Fprintf(env.Stdout, "alert %s pushed to %d device(s) under %s (%s)\n", a.ID, res.Recipients, strings.Join(a.Targets, ", "), how)
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
	views := []web.AlertView{}
	for _, a := range as {
		views = append(views, web.ViewAlert(a, time.Now()))
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
	st, err := openStore(ctx, *data)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.CancelAlert(ctx, id, time.Now()); err != nil {
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
	res, err := schedule.PreviewState(ds, *output, from, to)
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
	fmt.Fprintf(w, "%s, document version %d, time zone %s: %s .. %s\n", res.Device, res.Version, res.TZ,
		res.From.Format("2006-01-02 15:04:05"), res.To.Format("2006-01-02 15:04:05"))
	for _, a := range res.Alerts {
		fmt.Fprintf(w, "alert %s preempts %s until %s (not shown below)\n", a.ID, strings.Join(a.Outputs, ","),
			time.Unix(a.ExpiresAt, 0).In(res.From.Location()).Format("2006-01-02 15:04:05"))
	}
	for _, t := range res.Triggers {
		fmt.Fprintf(w, "trigger-bound: %s\n", t)
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
	fmt.Fprintf(w, "%d plays, %d quota misses\n", len(res.Plays), len(res.Misses))
	return nil
}
