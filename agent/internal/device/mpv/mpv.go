// Package mpv is the hall-TV output: one long-lived mpv per screen,
// driven over its JSON IPC socket, with the TV powered on (HDMI-CEC,
// package cec) before content.
//
// A play is proven by mpv itself: the file's `file-loaded` event and then
// its `end-file` with reason `eof`. An `end-file` with reason `error`
// (mpv's file_error, e.g. "loading failed") is a failed play with that
// reason. Images are shown for the item's DurationMS (mpv's
// image-display-duration, set per item). Videos play to their end; a
// video still running DurationMS+SlotGrace after it loaded is stopped
// there and reported as played with Reason "truncated …" (the slot the
// controller gave it is over; mpv did show it for the whole slot).
//
// If mpv dies it is restarted with exponential backoff; a play that was
// running fails with "player exited".
package mpv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/guardcast/guardcast/agent/internal/device/health"
	"github.com/guardcast/guardcast/agent/internal/output"
	"github.com/guardcast/guardcast/internal/protocol"
)

// Power switches the TV on and reads its power state (package cec).
type Power interface {
	On(ctx context.Context) error
	Status(ctx context.Context) (string, error)
}

// Opts configures a Dev.
type Opts struct {
	// Command is the mpv binary.
	Command string
	// Socket is the IPC socket path; empty: a fresh temp dir.
	Socket string
	// VO and AO are mpv's --vo and --ao ("drm" on a Pi console; tests use
	// "null"); empty AO leaves mpv's default.
	VO, AO string
	// ForceWindow is --force-window: "immediate" keeps a black screen
	// between items instead of the console.
	ForceWindow string
	// ExtraArgs are appended to mpv's command line (--drm-connector=…,
	// --hwdec=…).
	ExtraArgs []string
	// ImageDuration shows an image whose item has no DurationMS.
	ImageDuration time.Duration
	// SlotGrace is how long past DurationMS a video may run before it is
	// cut.
	SlotGrace time.Duration
	// StartTimeout bounds mpv's start (its socket answering) and a play's
	// wait for a restarting mpv.
	StartTimeout time.Duration
	// LoadTimeout bounds loadfile → file-loaded.
	LoadTimeout time.Duration
	// MinBackoff and MaxBackoff space restarts of an mpv that keeps dying.
	MinBackoff, MaxBackoff time.Duration
	// Power, if set, is switched on before each item; an item is not
	// played on a TV that stays off.
	Power Power
	// PowerStates are the Power.Status answers that count as on.
	PowerStates []string
	// Log reports restarts (the supervisor is long-lived); nil discards.
	Log *slog.Logger
}

// DefaultOpts are the options of a hall TV on a Raspberry Pi console.
var DefaultOpts = Opts{
	Command:       "mpv",
	VO:            "drm",
	ForceWindow:   "immediate",
	ImageDuration: 10 * time.Second,
	SlotGrace:     time.Second,
	StartTimeout:  10 * time.Second,
	LoadTimeout:   15 * time.Second,
	MinBackoff:    500 * time.Millisecond,
	MaxBackoff:    30 * time.Second,
	PowerStates:   []string{"on", "to-on"},
}

// ImageTolerance is how much sooner than its slot an image may end and
// still count as shown for the slot (mpv's timer and the IPC round trip).
const ImageTolerance = 250 * time.Millisecond

// Stats describes the last play.
type Stats struct {
	Loaded   time.Duration // Play → file-loaded
	EntryID  int64         // mpv's playlist_entry_id
	Restarts int           // mpv restarts since Open
}

// Dev is one screen and its mpv.
type Dev struct {
	o      Opts
	log    *slog.Logger
	sock   string
	tmpDir string

	cancel context.CancelFunc
	wg     sync.WaitGroup

	playMu sync.Mutex

	mu       sync.Mutex
	cur      *conn
	up       chan struct{} // closed when cur is set; replaced when mpv dies
	pid      int
	restarts int
	lastErr  string
	checked  time.Time
	power    string
	powerErr string
	last     Stats
}

var (
	_ output.Output   = (*Dev)(nil)
	_ health.Reporter = (*Dev)(nil)
)

// Open starts mpv and the goroutine that keeps it running. Close stops
// both. Open returns once mpv answers on its socket, or an error if it
// did not within StartTimeout.
func Open(o Opts) (*Dev, error) {
	o = fill(o)
	d := &Dev{o: o, log: o.Log, sock: o.Socket, up: make(chan struct{})}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.sock == "" {
		dir, err := os.MkdirTemp("", "guardcast-mpv-")
		if err != nil {
			return nil, fmt.Errorf("mpv: socket dir: %w", err)
		}
		d.tmpDir, d.sock = dir, filepath.Join(dir, "ipc.sock")
	}
	if _, err := exec.LookPath(o.Command); err != nil {
		d.cleanup()
		return nil, fmt.Errorf("mpv: %q not found (apt-get install mpv): %w", o.Command, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	first := make(chan error, 1)
	d.wg.Add(1)
	go d.supervise(ctx, first)
	if err := <-first; err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

func fill(o Opts) Opts {
	def := DefaultOpts
	if o.Command == "" {
		o.Command = def.Command
	}
	if o.VO == "" {
		o.VO = def.VO
	}
	if o.ForceWindow == "" {
		o.ForceWindow = def.ForceWindow
	}
	for _, p := range []struct{ v, d *time.Duration }{
		{&o.ImageDuration, &def.ImageDuration}, {&o.SlotGrace, &def.SlotGrace},
		{&o.StartTimeout, &def.StartTimeout}, {&o.LoadTimeout, &def.LoadTimeout},
		{&o.MinBackoff, &def.MinBackoff}, {&o.MaxBackoff, &def.MaxBackoff},
	} {
		if *p.v <= 0 {
			*p.v = *p.d
		}
	}
	if len(o.PowerStates) == 0 {
		o.PowerStates = def.PowerStates
	}
	return o
}

// Args returns mpv's command line for o and socket (without the binary).
func Args(o Opts, socket string) []string {
	o = fill(o)
	args := []string{"--idle=yes", "--input-ipc-server=" + socket, "--no-terminal",
		"--force-window=" + o.ForceWindow, "--vo=" + o.VO, "--keep-open=no"}
	if o.AO != "" {
		args = append(args, "--ao="+o.AO)
	}
	return append(args, o.ExtraArgs...)
}

// Close stops mpv and waits for the supervisor.
func (d *Dev) Close() error {
	if d.cancel != nil {
		d.cancel()
	}
	d.wg.Wait()
	d.cleanup()
	return nil
}

func (d *Dev) cleanup() {
	if d.tmpDir != "" {
		_ = os.RemoveAll(d.tmpDir)
	}
}

// supervise runs mpv, restarting it with backoff, until ctx ends. The
// first start's outcome goes to first.
func (d *Dev) supervise(ctx context.Context, first chan<- error) {
	defer d.wg.Done()
	backoff := d.o.MinBackoff
	for n := 0; ; n++ {
		began := time.Now()
		err := d.runOnce(ctx, first)
		first = nil
		if ctx.Err() != nil {
			return
		}
		d.setErr(fmt.Sprintf("mpv exited: %v", err))
		if time.Since(began) > 10*d.o.MaxBackoff {
			backoff = d.o.MinBackoff // it ran fine for a long while
		}
		d.log.Warn("mpv exited, restarting", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, d.o.MaxBackoff)
		d.mu.Lock()
		d.restarts++
		d.mu.Unlock()
	}
}

// runOnce starts one mpv, serves its socket until it exits or ctx ends,
// and returns why it ended.
func (d *Dev) runOnce(ctx context.Context, first chan<- error) error {
	report := func(err error) {
		if first != nil {
			first <- err
		}
	}
	_ = os.Remove(d.sock)
	cmd := exec.Command(d.o.Command, Args(d.o, d.sock)...)
	var stderr strings.Builder
	cmd.Stderr = &limitWriter{w: &stderr, n: 4096}
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		err = fmt.Errorf("mpv: start: %w", err)
		report(err)
		return err
	}
	exited := make(chan struct{}) // closed once mpv is reaped; then werr is set
	var werr error
	go func() { werr = cmd.Wait(); close(exited) }() // owned: waited on every path below
	why := func(err error) error {
		if s := strings.TrimSpace(stderr.String()); s != "" {
			return fmt.Errorf("%w: %s", err, lastLine(s))
		}
		return err
	}

	nc, err := dial(ctx, d.sock, d.o.StartTimeout, exited)
	if err != nil {
		_ = cmd.Process.Kill()
		<-exited
		if werr != nil {
			err = fmt.Errorf("%w (mpv: %v)", err, werr)
		}
		err = why(fmt.Errorf("mpv: %w", err))
		report(err)
		return err
	}
	c := newConn(nc)
	readDone := make(chan struct{})
	go func() { c.read(); close(readDone) }() // owned: waited below
	d.mu.Lock()
	d.cur, d.pid = c, cmd.Process.Pid
	d.checked = time.Now() // LastError stays: it says why mpv had to restart
	close(d.up)
	d.mu.Unlock()
	report(nil)

	select {
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-exited
	case <-exited:
	}
	exitErr := werr
	_ = nc.Close()
	<-readDone
	d.mu.Lock()
	d.cur, d.pid, d.up = nil, 0, make(chan struct{})
	d.mu.Unlock()
	if exitErr == nil {
		exitErr = errors.New("exit status 0")
	}
	return why(exitErr)
}

// dial waits for mpv's socket to answer.
func dial(ctx context.Context, sock string, timeout time.Duration, exited <-chan struct{}) (net.Conn, error) {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.Dial("unix", sock)
		if err == nil {
			return c, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("IPC socket %s did not answer in %v: %w", sock, timeout, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-exited:
			return nil, errors.New("exited before opening its IPC socket")
		case <-time.After(20 * time.Millisecond): // mpv creates the socket soon after start
		}
	}
}

type limitWriter struct {
	mu sync.Mutex
	w  *strings.Builder
	n  int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := l.n - l.w.Len(); room > 0 {
		l.w.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func lastLine(s string) string {
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

func (d *Dev) setErr(s string) {
	d.mu.Lock()
	d.lastErr, d.checked = s, time.Now()
	d.mu.Unlock()
}

// Kind returns protocol.OutputTV.
func (d *Dev) Kind() string { return protocol.OutputTV }

// PID returns the running mpv's process id, 0 while it is down.
func (d *Dev) PID() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.pid
}

// Last returns the statistics of the last play.
func (d *Dev) Last() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.last
	s.Restarts = d.restarts
	return s
}

// PowerState is the TV's last reported power state ("" without Power).
func (d *Dev) PowerState() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.power
}

// Health is OK while mpv runs and, with Power, the TV reports itself on.
// LastError keeps the last failure: mpv's exit, a file it could not load,
// or the TV's power state.
func (d *Dev) Health() health.Health {
	d.mu.Lock()
	defer d.mu.Unlock()
	ok := d.cur != nil
	if d.o.Power != nil && (d.powerErr != "" || !d.isOn(d.power)) {
		ok = false
	}
	return health.Health{OK: ok, LastError: d.lastErr, Checked: d.checked}
}

func (d *Dev) isOn(state string) bool {
	for _, s := range d.o.PowerStates {
		if state == s {
			return true
		}
	}
	return false
}

// conn waits (up to StartTimeout) for a running mpv.
func (d *Dev) conn(ctx context.Context) (*conn, error) {
	t := time.NewTimer(d.o.StartTimeout)
	defer t.Stop()
	for {
		d.mu.Lock()
		c, up := d.cur, d.up
		d.mu.Unlock()
		var wait <-chan struct{} = up
		if c != nil {
			select {
			case <-c.done:
				// mpv is gone and the supervisor has not noticed yet:
				// look again shortly (it does within milliseconds).
				tick := make(chan struct{})
				time.AfterFunc(10*time.Millisecond, func() { close(tick) })
				wait = tick
			default:
				return c, nil
			}
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
			d.mu.Lock()
			defer d.mu.Unlock()
			return nil, fmt.Errorf("mpv not running: %s", d.lastErr)
		}
	}
}

// powerOn switches the TV on and returns why it is not on ("" if on).
func (d *Dev) powerOn(ctx context.Context) string {
	p := d.o.Power
	if p == nil {
		return ""
	}
	state, err := "", p.On(ctx)
	if err == nil {
		state, err = p.Status(ctx)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.power, d.powerErr = state, ""
	d.checked = time.Now()
	switch {
	case err != nil:
		d.powerErr = err.Error()
		d.lastErr = "TV power: " + err.Error()
		return "TV off: " + err.Error()
	case !d.isOn(state):
		d.lastErr = "TV power state " + state
		return "TV off (power state " + state + ")"
	}
	return ""
}

// Play shows the item at path: the TV on, then mpv's proof of the play.
func (d *Dev) Play(ctx context.Context, it protocol.Item, path string) (output.Result, error) {
	d.playMu.Lock()
	defer d.playMu.Unlock()
	t0 := time.Now()
	res := output.Result{Start: t0}
	finish := func(played bool, reason string, st Stats) (output.Result, error) {
		res.Played, res.Reason = played, reason
		res.End = time.Now()
		res.Mono = res.End.Sub(t0)
		d.mu.Lock()
		d.last = st
		if !played && reason != "interrupted" {
			d.lastErr = reason
		}
		d.checked = res.End
		d.mu.Unlock()
		return res, nil
	}
	switch it.Kind {
	case "", "video", "image":
	case "text":
		slide, err := renderSlide(path, os.TempDir())
		if err != nil {
			return finish(false, "text slide: "+err.Error(), Stats{})
		}
		defer os.Remove(slide)
		it.Kind, path = "image", slide
	default:
		return finish(false, fmt.Sprintf("a %q item cannot play on a TV", it.Kind), Stats{})
	}
	if why := d.powerOn(ctx); why != "" {
		return finish(false, why, Stats{})
	}
	c, err := d.conn(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return finish(false, "interrupted", Stats{})
		}
		return finish(false, err.Error(), Stats{})
	}
	played, reason, st := d.play(ctx, c, it, path, t0)
	return finish(played, reason, st)
}

func (d *Dev) play(ctx context.Context, c *conn, it protocol.Item, path string, t0 time.Time) (bool, string, Stats) {
	var st Stats
	events := make(chan Message, 256)
	c.subscribe(events)
	defer c.subscribe(nil)

	slot := time.Duration(it.DurationMS) * time.Millisecond
	if it.Kind == "image" {
		if slot <= 0 {
			slot = d.o.ImageDuration
		}
		if r := call(ctx, c, "set_property", "image-display-duration", slot.Seconds()); r != "" {
			return false, "mpv: set image-display-duration: " + r, st
		}
	}
	reply, err := c.command("loadfile", path, "replace")
	if err != nil {
		return false, err.Error(), st
	}
	var m Message
	select {
	case m2, ok := <-reply:
		if !ok {
			return false, errGone.Error(), st
		}
		m = m2
	case <-ctx.Done():
		stop(c)
		return false, "interrupted", st
	}
	if m.Error != "success" {
		return false, "mpv: loadfile: " + m.Error, st
	}
	st.EntryID = entryID(m.Data)

	loadT := time.NewTimer(d.o.LoadTimeout)
	defer loadT.Stop()
	var (
		started, loaded bool
		loadedAt        time.Time
		slotEnd         <-chan time.Time
		truncated       bool
	)
	for {
		select {
		case <-ctx.Done():
			stop(c)
			return false, "interrupted", st
		case <-c.done:
			return false, errGone.Error(), st
		case <-loadT.C:
			if !loaded {
				stop(c)
				return false, fmt.Sprintf("mpv did not load the file in %v", d.o.LoadTimeout), st
			}
		case <-slotEnd:
			// The slot is over and the video is still running: cut it.
			truncated = true
			slotEnd = nil
			stop(c)
		case m := <-events:
			switch {
			case m.Event == "start-file" && (st.EntryID == 0 || m.PlaylistEntryID == st.EntryID):
				started = true
				st.EntryID = m.PlaylistEntryID
			case m.Event == "file-loaded" && started && !loaded:
				loaded, loadedAt = true, time.Now()
				st.Loaded = time.Since(t0)
				if it.Kind != "image" && slot > 0 {
					slotEnd = time.After(slot + d.o.SlotGrace)
				}
			case m.Event == "end-file" && started && m.PlaylistEntryID == st.EntryID:
				// An image's eof is mpv's image-display-duration running out:
				// it must have taken the slot.
				if shown := time.Since(loadedAt); it.Kind == "image" && loaded && m.Reason == "eof" && shown < slot-ImageTolerance {
					return false, output.Note(output.ReasonTooShort, "image shown %v of its %v slot", shown.Round(time.Millisecond), slot), st
				}
				return endFile(m, loaded, truncated, slot, st)
			}
		}
	}
}

func endFile(m Message, loaded, truncated bool, slot time.Duration, st Stats) (bool, string, Stats) {
	switch {
	case truncated && m.Reason == "stop":
		return true, output.Note(output.NoteTruncated, "the %v slot ended before the video", slot), st
	case m.Reason == "eof" && loaded:
		return true, "", st
	case m.Reason == "error":
		why := m.FileError
		if why == "" {
			why = "error"
		}
		return false, "mpv: " + why, st
	case m.Reason == "eof":
		return false, "mpv: end of file before it loaded", st
	default:
		return false, "mpv: playback ended: " + m.Reason, st
	}
}

// call runs a command and returns "" on success or why not.
func call(ctx context.Context, c *conn, args ...any) string {
	reply, err := c.command(args...)
	if err != nil {
		return err.Error()
	}
	select {
	case m, ok := <-reply:
		if !ok {
			return errGone.Error()
		}
		if m.Error != "success" {
			return m.Error
		}
		return ""
	case <-ctx.Done():
		return "interrupted"
	}
}

// stop tells mpv to stop the current file; the reply is not awaited (the
// play is over either way, and a later play ignores the old file's
// end-file by its playlist entry id).
func stop(c *conn) {
	_, _ = c.command("stop")
}
