package cli

import (
	"context"
	"fmt"
	"strconv"

	"github.com/guardcast/guardcast/controller/internal/office"
)

// retire commands take one positional name and call one office operation.
func retireCmd(cmd, op string, req func(name string) (any, error)) func(context.Context, []string, Env) error {
	return func(ctx context.Context, args []string, env Env) error {
		fs, data := newFlags(cmd, env)
		pos, err := parse(fs, args)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usagef("want: %s NAME", cmd)
		}
		q, err := req(pos[0])
		if err != nil {
			return err
		}
		c, err := connect(ctx, env, *data, cmd)
		if err != nil {
			return err
		}
		defer c.Close()
		var res office.OK
		if err := c.call(ctx, op, q, &res); err != nil {
			return err
		}
		fmt.Fprintln(env.Stdout, res.Message)
		return nil
	}
}

func personID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, usagef("person %q: want the number `org list --json` shows", s)
	}
	return id, nil
}

var (
	cmdOrgRetire    = retireCmd("org retire", "org.retire", func(n string) (any, error) { return office.NodeRef{ID: n}, nil })
	cmdPersonRetire = retireCmd("org person retire", "person.retire", func(n string) (any, error) {
		id, err := personID(n)
		return office.PersonRef{ID: id}, err
	})
	cmdDeviceRetire   = retireCmd("device retire", "device.retire", func(n string) (any, error) { return office.DeviceRef{ID: n}, nil })
	cmdMediaRetire    = retireCmd("media retire", "media.retire", func(n string) (any, error) { return office.MediaRef{Ref: n}, nil })
	cmdPlaylistRetire = retireCmd("playlist retire", "playlist.retire", func(n string) (any, error) { return office.NameRef{Name: n}, nil })
)

func cmdPersonEdit(ctx context.Context, args []string, env Env) error {
	fs, data := newFlags("org person edit", env)
	name := fs.String("name", "", "new name")
	phone := fs.String("phone", "", "new phone")
	role := fs.String("role", "", "new role")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want: org person edit ID [--name N] [--phone P] [--role R]")
	}
	id, err := personID(pos[0])
	if err != nil {
		return err
	}
	q := office.PersonEditRequest{ID: id}
	if flagSet(fs, "name") {
		q.Name = name
	}
	if flagSet(fs, "phone") {
		q.Phone = phone
	}
	if flagSet(fs, "role") {
		q.Role = role
	}
	var res office.OK
	if err := callOffice(ctx, env, *data, "org person edit", "person.edit", q, &res); err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, res.Message)
	return nil
}

func cmdPlaylistUnassign(ctx context.Context, args []string, env Env) error {
	fs, data := newFlags("playlist unassign", env)
	device := fs.String("device", "", "device ID")
	output := fs.String("output", "", "led, tv, audio or printer")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	if *device == "" || *output == "" {
		return usagef("--device and --output are required")
	}
	var res office.OK
	if err := callOffice(ctx, env, *data, "playlist unassign", "playlist.unassign", office.UnassignRequest{Device: *device, Output: *output}, &res); err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, res.Message)
	return nil
}
