package report

import "testing"

func TestDescribe(t *testing.T) {
	for _, tt := range []struct {
		published, adopted uint64
		state              string
		behind             bool
	}{
		{0, 0, "nothing published yet", false},
		{7, 7, "version 7 verified and playing", false},
		{7, 6, "version 6 playing, 7 published", true},
		{7, 0, "version 7 published, not acknowledged", true},
	} {
		v := VersionState{Published: tt.published, Adopted: tt.adopted}
		v.Describe()
		if v.State != tt.state || v.Behind != tt.behind {
			t.Errorf("%d/%d: %q behind=%v", tt.published, tt.adopted, v.State, v.Behind)
		}
	}
}
