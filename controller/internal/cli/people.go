package cli

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/guardcast/guardcast/controller/internal/adminlog"
	"github.com/guardcast/guardcast/controller/internal/auth"
	"github.com/guardcast/guardcast/controller/internal/office"
	"github.com/guardcast/guardcast/controller/internal/store"
	"github.com/guardcast/guardcast/internal/clock"
)

// readPassword reads one line from standard input: the password is never
// a flag (it would show in ps and shell history).
func readPassword(env Env, prompt string) (string, error) {
	fmt.Fprint(env.Stderr, prompt)
	in := env.Stdin
	if in == nil {
		in = os.Stdin
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", usagef("give the password on standard input (one line)")
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func cmdUserAdd(ctx context.Context, args []string, env Env) error {
	fs, data := newFlags("user add", env)
	var roles itemList
	fs.Var(&roles, "role", "admin, editor, approver, alert_issuer, supervisor, auditor or responsible; repeat")
	node := fs.String("node", "", "the org node a responsible person answers for")
	display := fs.String("display", "", "name as shown (may be Chinese)")
	lang := fs.String("lang", "", "zh (default) or en")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || len(roles) == 0 {
		return usagef("want: user add NAME --role ROLE [--role ROLE]... (password on standard input)")
	}
	pw, err := readPassword(env, "password for "+pos[0]+": ")
	if err != nil {
		return err
	}
	var u auth.User
	if err := callOffice(ctx, env, *data, "user add", "user.add", office.UserRequest{Name: pos[0], Roles: roles, Node: *node, Display: *display, Lang: *lang, Password: pw}, &u); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "user %s added with roles %s\n", u.Name, joinRoles(u.Roles))
	return nil
}

func joinRoles(rs []auth.Role) string {
	var s []string
	for _, r := range rs {
		s = append(s, string(r))
	}
	return strings.Join(s, ",")
}

func cmdUserList(ctx context.Context, args []string, env Env) error {
	fs, data := newFlags("user list", env)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	var us []auth.User
	if err := callOffice(ctx, env, *data, "user list", "user.list", office.Empty{}, &us); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env, us)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tNAME\tROLES\tNODE\tLANG\tSTATE")
	for _, u := range us {
		state := "active"
		if u.Disabled {
			state = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.Name, dash(u.Display), joinRoles(u.Roles), dash(u.Node), dash(u.Lang), state)
	}
	return tw.Flush()
}

func cmdUserEdit(ctx context.Context, args []string, env Env) error {
	fs, data := newFlags("user edit", env)
	var roles itemList
	fs.Var(&roles, "role", "the user's roles from now on; repeat")
	node := fs.String("node", "", "org node")
	display := fs.String("display", "", "name as shown")
	lang := fs.String("lang", "", "zh or en")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want: user edit NAME [--role R]... [--node ID] [--display N] [--lang zh|en]")
	}
	q := office.UserEditRequest{Name: pos[0]}
	if len(roles) > 0 {
		r := []string(roles)
		q.Roles = &r
	}
	if flagSet(fs, "node") {
		q.Node = node
	}
	if flagSet(fs, "display") {
		q.Display = display
	}
	if flagSet(fs, "lang") {
		q.Lang = lang
	}
	var u auth.User
	if err := callOffice(ctx, env, *data, "user edit", "user.edit", q, &u); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "user %s: roles %s, node %s\n", u.Name, joinRoles(u.Roles), dash(u.Node))
	return nil
}

func userSimple(cmd, op string) func(context.Context, []string, Env) error {
	return func(ctx context.Context, args []string, env Env) error {
		fs, data := newFlags(cmd, env)
		pos, err := parse(fs, args)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usagef("want: %s NAME", cmd)
		}
		c, err := connect(ctx, env, *data, cmd)
		if err != nil {
			return err
		}
		defer c.Close()
		var res office.OK
		if err := c.call(ctx, op, office.UserRef{Name: pos[0]}, &res); err != nil {
			return err
		}
		fmt.Fprintln(env.Stdout, res.Message)
		return nil
	}
}

func cmdUserPassword(ctx context.Context, args []string, env Env) error {
	fs, data := newFlags("user password", env)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usagef("want: user password [NAME] (the new password on standard input)")
	}
	q := office.PasswordRequest{}
	if len(pos) == 1 {
		q.Name = pos[0]
	}
	if q.Password, err = readPassword(env, "new password: "); err != nil {
		return err
	}
	var res office.OK
	if err := callOffice(ctx, env, *data, "user password", "user.password", q, &res); err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, res.Message)
	return nil
}

func cmdTokenAdd(ctx context.Context, args []string, env Env) error {
	fs, data := newFlags("user token add", env)
	label := fs.String("label", "", "what the token is for (cli, front-desk-pc)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *label == "" {
		return usagef("want: user token add NAME --label LABEL")
	}
	var t office.Token
	if err := callOffice(ctx, env, *data, "user token add", "token.add", office.TokenRequest{User: pos[0], Label: *label}, &t); err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, t.Token)
	fmt.Fprintf(env.Stderr, "token %s for %s: shown only now; use it as %s=… or \"Authorization: Bearer …\"\n", t.Label, t.User, envToken)
	return nil
}

func cmdTokenRevoke(ctx context.Context, args []string, env Env) error {
	fs, data := newFlags("user token revoke", env)
	label := fs.String("label", "", "the token's label")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *label == "" {
		return usagef("want: user token revoke NAME --label LABEL")
	}
	var res office.OK
	if err := callOffice(ctx, env, *data, "user token revoke", "token.revoke", office.TokenRequest{User: pos[0], Label: *label}, &res); err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, res.Message)
	return nil
}

func cmdTokenList(ctx context.Context, args []string, env Env) error {
	fs, data := newFlags("user token list", env)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want: user token list NAME")
	}
	var ts []auth.TokenInfo
	if err := callOffice(ctx, env, *data, "user token list", "token.list", office.UserRef{Name: pos[0]}, &ts); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LABEL\tPREFIX\tCREATED\tLAST USED")
	for _, t := range ts {
		last := "-"
		if !t.LastUsed.IsZero() {
			last = t.LastUsed.Local().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Label, t.Prefix, t.CreatedAt.Local().Format(time.DateTime), last)
	}
	return tw.Flush()
}

func cmdChangeList(ctx context.Context, args []string, env Env) error {
	fs, data := newFlags("change list", env)
	all := fs.Bool("all", false, "decided changes too")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	var chs []office.ChangeView
	if err := callOffice(ctx, env, *data, "change list", "change.list", office.ChangeQuery{All: *all}, &chs); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env, chs)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHANGE\tSTATE\tKIND\tAUTHOR\tCREATED\tDECIDED BY\tSUMMARY")
	for _, ch := range chs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", ch.ID, ch.State, ch.Kind, ch.Author,
			time.UnixMilli(ch.CreatedMS).Local().Format(time.DateTime), dash(ch.DecidedBy), ch.Summary)
	}
	return tw.Flush()
}

func changeID(pos []string, cmd string) (int64, error) {
	if len(pos) != 1 {
		return 0, usagef("want: %s ID", cmd)
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || id <= 0 {
		return 0, usagef("change ID %q: want a number from `change list`", pos[0])
	}
	return id, nil
}

func cmdChangeShow(ctx context.Context, args []string, env Env) error {
	fs, data := newFlags("change show", env)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	id, err := changeID(pos, "change show")
	if err != nil {
		return err
	}
	var ch office.ChangeView
	if err := callOffice(ctx, env, *data, "change show", "change.show", office.ChangeRef{ID: id}, &ch); err != nil {
		return err
	}
	return printJSON(env, ch)
}

func cmdChangeApprove(ctx context.Context, args []string, env Env) error {
	fs, data := newFlags("change approve", env)
	all := fs.Bool("all", false, "approve every pending change not authored by you")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	var ids []int64
	if !*all {
		id, err := changeID(pos, "change approve")
		if err != nil {
			return err
		}
		ids = append(ids, id)
	} else if len(pos) > 0 {
		return usagef("--all takes no IDs")
	}
	c, err := connect(ctx, env, *data, "change approve")
	if err != nil {
		return err
	}
	defer c.Close()
	if *all {
		var me office.Actor
		if err := c.call(ctx, "user.me", office.Empty{}, &me); err != nil {
			return err
		}
		var chs []office.ChangeView
		if err := c.call(ctx, "change.list", office.ChangeQuery{State: store.ChangePending}, &chs); err != nil {
			return err
		}
		// Oldest first: a playlist before the assignment that uses it.
		for i := len(chs) - 1; i >= 0; i-- {
			if chs[i].Author != me.Name {
				ids = append(ids, chs[i].ID)
			}
		}
	}
	var errs []error
	for _, id := range ids {
		var ch office.ChangeView
		if err := c.call(ctx, "change.approve", office.ChangeRef{ID: id}, &ch); err != nil {
			fmt.Fprintf(env.Stderr, "change %d: %v\n", id, err)
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(env.Stdout, "change %d approved (%s by %s): %s\n", ch.ID, ch.Kind, ch.Author, ch.Summary)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%d of %d change(s) not approved", len(errs), len(ids))
	}
	return nil
}

func cmdChangeReject(ctx context.Context, args []string, env Env) error {
	fs, data := newFlags("change reject", env)
	reason := fs.String("reason", "", "why, for the author")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	id, err := changeID(pos, "change reject")
	if err != nil {
		return err
	}
	if *reason == "" {
		return usagef("--reason is required: say what the author should fix")
	}
	var ch office.ChangeView
	if err := callOffice(ctx, env, *data, "change reject", "change.reject", office.ChangeRef{ID: id, Reason: *reason}, &ch); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "change %d rejected: %s\n", ch.ID, ch.Note)
	return nil
}

func cmdChangeWithdraw(ctx context.Context, args []string, env Env) error {
	fs, data := newFlags("change withdraw", env)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	id, err := changeID(pos, "change withdraw")
	if err != nil {
		return err
	}
	if err := callOffice(ctx, env, *data, "change withdraw", "change.withdraw", office.ChangeRef{ID: id}, nil); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "change %d withdrawn\n", id)
	return nil
}

func cmdSettings(ctx context.Context, args []string, env Env) error {
	fs, data := newFlags("settings", env)
	two := fs.String("two-person-alerts", "", "on: urgent alerts need an approver too; off: an alert issuer pushes in one step")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	c, err := connect(ctx, env, *data, "settings")
	if err != nil {
		return err
	}
	defer c.Close()
	var s office.Settings
	switch *two {
	case "":
		err = c.call(ctx, "settings.get", office.Empty{}, &s)
	case "on", "off":
		on := *two == "on"
		err = c.call(ctx, "settings.set", office.Settings{TwoPersonAlerts: &on}, &s)
	default:
		return usagef("--two-person-alerts: want on or off")
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "two-person alerts: %v\n", *s.TwoPersonAlerts)
	return nil
}

// cmdAdminlogVerify re-checks the admin log's chain and signatures from
// the database; it needs no running controller and changes nothing.
func cmdAdminlogVerify(ctx context.Context, args []string, env Env) error {
	fs, data := newFlags("adminlog verify", env)
	if err := noArgs(fs, args); err != nil {
		return err
	}
	lg, done, err := openAdminLog(ctx, *data)
	if err != nil {
		return err
	}
	defer done()
	entries, problems, err := lg.Verify(ctx)
	if err != nil {
		return err
	}
	for _, p := range problems {
		fmt.Fprintln(env.Stdout, "BROKEN", p.String())
	}
	if len(problems) > 0 {
		fmt.Fprintf(env.Stdout, "admin log: %d entries, %d problem(s); the first broken entry is seq %d\n", len(entries), len(problems), problems[0].Seq)
		return errVerifyFailed
	}
	last := "none"
	if len(entries) > 0 {
		last = entries[len(entries)-1].At().Local().Format(time.DateTime)
	}
	fmt.Fprintf(env.Stdout, "admin log verified: %d entries, chain and signatures intact (key %x…, last entry %s)\n", len(entries), lg.PublicKey()[:8], last)
	return nil
}

// cmdAdminlogExport writes the admin log as JSON lines, with the public
// key to check it by on the first line's "public_key" field.
func cmdAdminlogExport(ctx context.Context, args []string, env Env) error {
	fs, data := newFlags("adminlog export", env)
	if err := noArgs(fs, args); err != nil {
		return err
	}
	lg, done, err := openAdminLog(ctx, *data)
	if err != nil {
		return err
	}
	defer done()
	es, err := lg.Entries(ctx, adminlog.Filter{})
	if err != nil {
		return err
	}
	enc := json.NewEncoder(env.Stdout)
	if err := enc.Encode(map[string]string{"public_key": base64.StdEncoding.EncodeToString(lg.PublicKey())}); err != nil {
		return err
	}
	for _, e := range es {
		if err := enc.Encode(e); err != nil {
			return err
		}
	}
	return nil
}

// openAdminLog opens an existing data directory's admin log to read.
func openAdminLog(ctx context.Context, dir string) (*adminlog.Log, func(), error) {
	st, err := openExistingStore(ctx, dir)
	if err != nil {
		return nil, nil, err
	}
	key, err := existingLogKey(dir)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return adminlog.New(st, key, clock.Real{}), func() { st.Close() }, nil
}

// existingLogKey loads the admin log's key, refusing to make one: a new
// key would make every old entry look forged.
func existingLogKey(dir string) (ed25519.PrivateKey, error) {
	if _, err := os.Stat(filepath.Join(dir, adminlog.KeyFile)); err != nil {
		return nil, fmt.Errorf("no admin log key in %s (adminlog.key): %w", dir, err)
	}
	return adminlog.LoadOrCreateKey(dir)
}
