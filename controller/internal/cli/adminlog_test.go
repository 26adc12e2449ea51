package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/guardcast/guardcast/controller/internal/store"
)

// TestAdminlogVerifyNamesTheBrokenEntry: office actions land in the admin
// log; editing one entry or deleting one is found and named by `adminlog
// verify`, which exits non-zero.
func TestAdminlogVerifyNamesTheBrokenEntry(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"org", "add", "--id", "town", "--kind", "town", "--name", "城关镇", "--tz", "Asia/Shanghai"},
		{"org", "add", "--id", "v1", "--kind", "village", "--name", "东村", "--parent", "town"},
		{"org", "add", "--id", "v2", "--kind", "village", "--name", "西村", "--parent", "town"},
		{"org", "add", "--id", "v3", "--kind", "village", "--name", "南村", "--parent", "town"},
	} {
		if code, _, errs := run(t, dir, args...); code != 0 {
			t.Fatalf("%v: %s", args, errs)
		}
	}
	code, out, errs := run(t, dir, "adminlog", "verify")
	if code != 0 || !strings.Contains(out, "admin log verified: 4 entries") {
		t.Fatalf("clean log: exit %d\n%s%s", code, out, errs)
	}
	if code, out, _ := run(t, dir, "adminlog", "export"); code != 0 || strings.Count(out, "\n") != 5 || !strings.Contains(out, `"action":"org.add"`) {
		t.Fatalf("export: %d\n%s", code, out)
	}
	st, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// Edit: someone rewrites who did it.
	if err := st.Exec(context.Background(), `UPDATE admin_log SET actor = 'nobody' WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	code, out, _ = run(t, dir, "adminlog", "verify")
	if code == 0 || !strings.Contains(out, "first broken entry is seq 2") {
		t.Fatalf("edited entry: exit %d\n%s", code, out)
	}
	if err := st.Exec(context.Background(), `UPDATE admin_log SET actor = 'local-admin' WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := run(t, dir, "adminlog", "verify"); code != 0 {
		t.Fatalf("restored entry: exit %d\n%s", code, out)
	}
	// Delete: an entry in the middle disappears.
	if err := st.Exec(context.Background(), `DELETE FROM admin_log WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	code, out, _ = run(t, dir, "adminlog", "verify")
	if code == 0 || !strings.Contains(out, "seq 4") {
		t.Fatalf("deleted entry: exit %d\n%s", code, out)
	}
	// No store there: an error, not an empty success.
	if code, _, errs := run(t, t.TempDir(), "adminlog", "verify"); code == 0 || !strings.Contains(errs, "guardcast.db") {
		t.Fatalf("empty dir: exit %d %s", code, errs)
	}
}
