package cli

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/guardcast/guardcast/controller/internal/office"
	"github.com/guardcast/guardcast/controller/internal/report"
	"github.com/guardcast/guardcast/controller/internal/store"
	"github.com/guardcast/guardcast/controller/internal/web"
	"github.com/guardcast/guardcast/internal/protocol"
)

var randRead = rand.Read

func cmdMediaAdd(ctx context.Context, args []string, env Env) error {
	fs, data := newFlags("media add", env)
	title := fs.String("title", "", "title (default: the file name without extension)")
	files, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return usagef("no files given")
	}
	c, err := connect(ctx, env, *data, "media add")
	if err != nil {
		return err
	}
	defer c.Close()
	var errs []error
	for _, f := range files {
		info, err := c.addMedia(ctx, f, filepath.Base(f), *title)
		if err != nil {
			errs = append(errs, err)
			fmt.Fprintf(env.Stderr, "rejected %s: %v\n", f, err)
			continue
		}
		fmt.Fprintf(env.Stdout, "%s  %-6s %8d  %s\n", info.SHA256, info.Kind, info.Size, info.Name)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%d of %d files rejected, nothing stored for them", len(errs), len(files))
	}
	return nil
}

func cmdMediaList(ctx context.Context, args []string, env Env) error {
	fs, data := newFlags("media list", env)
	if _, err := parse(fs, args); err != nil {
		return err
	}
	st, err := openStore(ctx, *data)
	if err != nil {
		return err
	}
	defer st.Close()
	ms, err := st.ListMedia(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SHA256\tKIND\tSIZE\tDURATION\tNAME\tTITLE")
	for _, m := range ms {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", m.SHA256[:16], m.Kind, m.Size, time.Duration(m.DurationMS)*time.Millisecond, m.Name, m.Title)
	}
	return tw.Flush()
}

type itemList []string

func (l *itemList) String() string     { return strings.Join(*l, ",") }
func (l *itemList) Set(s string) error { *l = append(*l, s); return nil }

// kindsFor says which media kinds each output can show.
var kindsFor = map[string][]string{
	protocol.OutputLED:     {"text", "image"},
	protocol.OutputTV:      {"video", "image", "text"},
	protocol.OutputAudio:   {"audio"},
	protocol.OutputPrinter: {"print", "text", "image"},
}

func cmdPlaylistCreate(ctx context.Context, args []string, env Env) error {
	return playlistWrite(ctx, args, env, "playlist create", "playlist.create")
}

func cmdPlaylistEdit(ctx context.Context, args []string, env Env) error {
	return playlistWrite(ctx, args, env, "playlist edit", "playlist.edit")
}

func playlistWrite(ctx context.Context, args []string, env Env, cmd, op string) error {
	fs, data := newFlags(cmd, env)
	output := fs.String("output", "", "led, tv, audio or printer")
	var items itemList
	fs.Var(&items, "item", "MEDIA[:SECONDS][@FROM..UNTIL]: media by name or sha256 (prefix), how long it holds the output, "+
		"and the local dates it is valid (UNTIL exclusive, either side may be empty) where the playlist is scheduled; repeat")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want exactly one playlist NAME, got %q", pos)
	}
	q := office.PlaylistRequest{Name: pos[0], Output: *output}
	if !protocol.ValidOutput(*output) {
		return usagef("--output %q: want led, tv, audio or printer", *output)
	}
	if len(items) == 0 {
		return usagef("at least one --item is required")
	}
	for _, it := range items {
		spec, from, until, err := parseValidity(it)
		if err != nil {
			return err
		}
		ref, secs, hasSecs := strings.Cut(spec, ":")
		item := office.PlaylistItemSpec{Media: ref, ValidFrom: from, ValidUntil: until}
		if hasSecs {
			f, err := strconv.ParseFloat(secs, 64)
			if err != nil || f <= 0 || f > 86400 || math.IsNaN(f) {
				return usagef("item %q: seconds must be a number in (0, 86400]", it)
			}
			item.Seconds = f
		}
		q.Items = append(q.Items, item)
	}
	c, err := connect(ctx, env, *data, cmd)
	if err != nil {
		return err
	}
	defer c.Close()
	var res office.ChangeResult
	if err := c.call(ctx, op, q, &res); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "playlist %s on %s: %d items\n", q.Name, q.Output, len(q.Items))
	printPending(env, res)
	return nil
}

// parseValidity splits "MEDIA:8@2026-12-01..2026-12-24" into the item and
// its validity dates.
func parseValidity(it string) (spec, from, until string, err error) {
	i := strings.LastIndex(it, "@")
	if i < 0 || !strings.Contains(it[i:], "..") {
		return it, "", "", nil
	}
	from, until, _ = strings.Cut(it[i+1:], "..")
	for _, d := range []string{from, until} {
		if d == "" {
			continue
		}
		if _, err := time.Parse(time.DateOnly, d); err != nil {
			return "", "", "", usagef("item %q: validity dates must be YYYY-MM-DD", it)
		}
	}
	if from == "" && until == "" {
		return "", "", "", usagef("item %q: give at least one validity date, FROM.. or ..UNTIL", it)
	}
	if from != "" && until != "" && until <= from {
		return "", "", "", usagef("item %q: valid until %s is not after %s (until is exclusive)", it, until, from)
	}
	return it[:i], from, until, nil
}

func cmdPlaylistAssign(ctx context.Context, args []string, env Env) error {
	fs, data := newFlags("playlist assign", env)
	var devices itemList
	fs.Var(&devices, "device", "device ID; repeat for several")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || len(devices) == 0 {
		return usagef("want: playlist assign NAME --device ID")
	}
	var res office.ChangeResult
	if err := callOffice(ctx, env, *data, "playlist assign", "playlist.assign", office.AssignRequest{Playlist: pos[0], Devices: devices}, &res); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "playlist %s for %s\n", pos[0], strings.Join(devices, ", "))
	printPending(env, res)
	return nil
}

func cmdProofsExport(ctx context.Context, args []string, env Env) error {
	fs, data := newFlags("proofs export", env)
	format := fs.String("format", "csv", "csv or jsonl")
	device := fs.String("device", "", "only this device")
	since := fs.String("since", "", "only plays starting at or after this time (RFC 3339, YYYY-MM-DD, or a duration like 24h)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *format != "csv" && *format != "jsonl" {
		return usagef("--format %q: want csv or jsonl", *format)
	}
	t, err := web.ParseSince(*since, time.Now())
	if err != nil {
		return usageError{err}
	}
	st, err := openExistingStore(ctx, *data)
	if err != nil {
		return err
	}
	defer st.Close()
	if *device != "" {
		if err := checkDevice(ctx, st, *device); err != nil {
			return err
		}
	}
	f := store.ProofFilter{Device: *device}
	if !t.IsZero() {
		f.SinceNS = t.UnixNano()
	}
	return report.Export(ctx, st, f, *format, env.Stdout)
}

var errVerifyFailed = errors.New("verification failed")

func cmdProofsVerify(ctx context.Context, args []string, env Env) error {
	fs, data := newFlags("proofs verify", env)
	device := fs.String("device", "", "only this device")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	st, err := openExistingStore(ctx, *data)
	if err != nil {
		return err
	}
	defer st.Close()
	// The content public key is the trust anchor for epoch statements
	// (a re-enrolled device's link from its old key to its new one).
	var opts report.VerifyOptions
	if b, err := os.ReadFile(filepath.Join(*data, "content.pub")); err == nil {
		if k, err := protocol.DecodeKey(strings.TrimSpace(string(b)), ed25519.PublicKeySize); err == nil {
			opts.ContentKeys = append(opts.ContentKeys, ed25519.PublicKey(k))
		}
	}
	results, err := report.VerifyWith(ctx, st, *device, opts)
	if err != nil {
		return err
	}
	if *device != "" && len(results) == 0 {
		return fmt.Errorf("unknown device %q: not enrolled and no records", *device)
	}
	stats, err := st.ProofStats(ctx)
	if err != nil {
		return err
	}
	played := map[string]int64{}
	for _, s := range stats {
		played[s.Device] = s.Played
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tRECORDS\tPLAYED\tLAST SEQ\tCHAIN VERIFIED")
	failed, empty := 0, 0
	for _, r := range results {
		ok := "yes"
		switch {
		case !r.OK():
			ok = "NO"
			failed++
		case r.Records == 0:
			// Nothing to verify is not a verified chain.
			ok = "no records"
			empty++
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\n", r.Device, r.Records, played[r.Device], r.LastSeq, ok)
		if len(r.Epochs) > 1 {
			for _, e := range r.Epochs {
				fmt.Fprintf(tw, "  epoch %d\t%d\t\t%d\t%s\n", e.Epoch, e.Records, e.LastSeq, epochNote(e))
			}
		}
	}
	tw.Flush()
	for _, r := range results {
		for _, p := range r.Problems {
			fmt.Fprintf(env.Stdout, "FAIL %s\n", p)
		}
	}
	if failed > 0 {
		fmt.Fprintf(env.Stderr, "%d device(s) failed verification\n", failed)
		return errVerifyFailed
	}
	if *device != "" && empty > 0 {
		return fmt.Errorf("%s: no records, nothing verified", *device)
	}
	if empty > 0 {
		fmt.Fprintf(env.Stderr, "%d device(s) have no records and were not verified\n", empty)
	}
	return nil
}

// epochNote says which key signed an epoch's records, whether it is
// still in use, and how the epoch was opened.
func epochNote(e report.EpochResult) string {
	note := "key (none on record)"
	if e.Key != nil {
		note = "key " + protocol.KeyID(ed25519.PublicKey(e.Key))
	}
	if e.RetiredAt != 0 {
		note += fmt.Sprintf(", retired %s (%s)", time.Unix(e.RetiredAt, 0).UTC().Format(time.DateTime), e.RetiredWhy)
	} else if e.Key != nil {
		note += ", in use"
	}
	switch {
	case e.Link != nil && len(e.Link.Signer) == 0:
		note += fmt.Sprintf("; opened by an unsigned statement after seq %d", e.Link.OldSeq)
	case e.Link != nil:
		note += fmt.Sprintf("; opened by a statement of content key %s after seq %d", protocol.KeyID(ed25519.PublicKey(e.Link.Signer)), e.Link.OldSeq)
	}
	return note
}

func cmdFindings(ctx context.Context, args []string, env Env) error {
	fs, data := newFlags("findings", env)
	device := fs.String("device", "", "only this device")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	st, err := openExistingStore(ctx, *data)
	if err != nil {
		return err
	}
	defer st.Close()
	if *device != "" {
		if err := checkDevice(ctx, st, *device); err != nil {
			return err
		}
	}
	fsx, err := st.Findings(ctx, *device)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tDEVICE\tSEQ\tKIND\tDETAIL")
	for _, f := range fsx {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", time.Unix(f.At, 0).Format(time.DateTime), f.Device, f.Seq, f.Kind, f.Detail)
	}
	return tw.Flush()
}
