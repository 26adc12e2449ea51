package store

import (
	"context"
	"errors"
	"testing"

	"github.com/guardcast/guardcast/controller/internal/adminlog"
)

func TestAppendAdminLog(t *testing.T) {
	st, dir := open(t)
	ctx := context.Background()
	next := func(e adminlog.Entry) func(adminlog.Entry, bool) (adminlog.Entry, error) {
		return func(last adminlog.Entry, ok bool) (adminlog.Entry, error) {
			if ok {
				e.Seq, e.Prev = last.Seq+1, last.Hash
			}
			return e, nil
		}
	}
	var sawEmpty bool
	if _, err := st.AppendAdminLog(ctx, func(last adminlog.Entry, ok bool) (adminlog.Entry, error) {
		sawEmpty = !ok
		return adminlog.Entry{Seq: 1, Action: "a", Detail: []byte(`{}`), Prev: adminlog.ZeroHash, Hash: "h1", Sig: "s"}, nil
	}); err != nil || !sawEmpty {
		t.Fatalf("first append: %v, empty=%v", err, sawEmpty)
	}
	boom := errors.New("boom")
	if _, err := st.AppendAdminLog(ctx, func(adminlog.Entry, bool) (adminlog.Entry, error) { return adminlog.Entry{}, boom }); !errors.Is(err, boom) {
		t.Errorf("builder error: %v", err)
	}
	if _, err := st.AppendAdminLog(ctx, next(adminlog.Entry{Action: "b", Detail: []byte(`{}`), Hash: "h1"})); err == nil {
		t.Error("a repeated hash was stored")
	}
	e, err := st.AppendAdminLog(ctx, next(adminlog.Entry{Actor: "王丽", Action: "b", Target: "x\ny", Detail: []byte(`{"k":"v"}`), Hash: "h2", Sig: "s2"}))
	if err != nil || e.Seq != 2 || e.Prev != "h1" {
		t.Fatalf("second append = %+v, %v", e, err)
	}
	st.Close()
	st2, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	es, err := st2.AdminLog(ctx, adminlog.Filter{})
	if err != nil || len(es) != 2 {
		t.Fatalf("AdminLog = %v, %v", es, err)
	}
	if got := es[1]; got.Actor != "王丽" || got.Target != "x\ny" || string(got.Detail) != `{"k":"v"}` || got.Sig != "s2" {
		t.Errorf("read back %+v", got)
	}
}
