package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/guardcast/guardcast/controller/internal/alert"
	"github.com/guardcast/guardcast/controller/internal/org"
	"github.com/guardcast/guardcast/controller/internal/report"
	"github.com/guardcast/guardcast/controller/internal/store"
	"github.com/guardcast/guardcast/internal/protocol"
)

// plantTree creates town → village → unit → sites site-0..site-(n-1)
// (Asia/Shanghai), with a first responsible person on every site but the
// last, whose calls go to the unit's liaison.

// client bounds every API request a test makes: a controller that stops
// answering fails the test instead of hanging it.
var client = &http.Client{Timeout: 30 * time.Second}

func plantTree(t testing.TB, dir string, sites int) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	nodes := []org.Node{
		{ID: "town", Kind: org.KindTown, Name: "Town", TZ: "Asia/Shanghai"},
		{ID: "east", Kind: org.KindVillage, Name: "East village", Parent: "town"},
		{ID: "bank", Kind: org.KindUnit, Name: "Bank", Parent: "east"},
	}
	for i := range sites {
		nodes = append(nodes, org.Node{ID: fmt.Sprintf("site-%d", i), Kind: org.KindSite, Name: fmt.Sprintf("Branch %d", i), Parent: "bank"})
	}
	if err := st.AddNodes(ctx, nodes); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddPerson(ctx, org.Person{Node: "bank", Role: org.RoleLiaison, Name: "Liu", Phone: "139 0000 0000"}); err != nil {
		t.Fatal(err)
	}
	for i := range sites - 1 {
		if _, err := st.AddPerson(ctx, org.Person{Node: fmt.Sprintf("site-%d", i), Role: org.RoleFirstResponsible,
			Name: fmt.Sprintf("Manager %d", i), Phone: fmt.Sprintf("138 0000 %04d", i)}); err != nil {
			t.Fatal(err)
		}
	}
}

// adminToken is the local admin's API token, which serve wrote.
func (c *controller) adminToken(t testing.TB) string {
	t.Helper()
	tok, err := ReadAdminToken(c.dir)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func apiDo(t testing.TB, c *controller, method, path string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, "http://"+c.ep.HTTPAddr+path, rd)
	req.Header.Set("Authorization", "Bearer "+c.adminToken(t))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v\n%s", method, path, err, b)
		}
	}
	if resp.StatusCode >= 300 && out != nil {
		t.Logf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode
}

// TestAlertSignedFor: an alert pushed through the API reaches every
// device under the town, each signs for it (received + first play), the
// roll-up counts them per site, unit, village and town, a silent device is
// a laggard listed with the people to call, the new version is acknowledged
// as adopted, and the alert leaves the documents by itself when it expires.
func TestAlertSignedFor(t *testing.T) {
	dir := t.TempDir()
	plantTree(t, dir, 3)
	c := startController(t, dir, Config{})
	defer c.stop(t)
	agents := fleetAt(t, c, 6, "dev", func(i int) string { return fmt.Sprintf("site-%d", i%3) })
	defer func() {
		for _, a := range agents {
			a.close()
		}
	}()
	silent := agents[5] // on site-2, which has no people of its own
	silent.silent.Store(true)

	var res struct {
		Alert      protocol.Alert `json:"alert"`
		Recipients int            `json:"recipients"`
	}
	if code := apiDo(t, c, "POST", "/api/alerts", alert.Request{To: []string{"town"}, Text: "Police: 'safe account' calls are fraud. Call 96110.",
		Expires: "3s"}, &res); code != http.StatusCreated {
		t.Fatalf("push: %d", code)
	}
	if res.Recipients != 6 || !strings.HasPrefix(res.Alert.ID, "a-") {
		t.Fatalf("push answered %+v", res)
	}
	id := res.Alert.ID
	var st alert.Status
	deadline := time.Now().Add(20 * time.Second)
	for {
		apiDo(t, c, "GET", "/api/alerts/"+id, nil, &st)
		if st.Total.Signed == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("signed for by %d of 6 after 20 s: %+v", st.Total.Signed, st.Total)
		}
		time.Sleep(20 * time.Millisecond)
	}
	roll := map[string]alert.Rollup{}
	for _, r := range st.Rollup {
		roll[r.Node] = r
	}
	for node, want := range map[string][2]int{"town": {6, 5}, "east": {6, 5}, "bank": {6, 5}, "site-0": {2, 2}, "site-2": {2, 1}} {
		if r := roll[node]; r.Devices != want[0] || r.Signed != want[1] {
			t.Errorf("%s: %d devices, %d signed; want %v", node, r.Devices, r.Signed, want)
		}
	}
	if st.Total.SlowestMS < 0 || st.Total.SlowestMS > 10000 {
		t.Errorf("slowest %d ms", st.Total.SlowestMS)
	}
	var lag []alert.Laggard
	apiDo(t, c, "GET", "/api/alerts/"+id+"/laggards", nil, &lag)
	if len(lag) != 1 || lag[0].Device != silent.cfg.Device || lag[0].Holder != "bank" || lag[0].People[0].Name != "Liu" ||
		lag[0].Missing != "received and first play" {
		t.Errorf("laggards %+v", lag)
	}

	// Versions: everyone but the silent device acknowledged what it holds.
	var vl []report.VersionLaggard
	deadline = time.Now().Add(10 * time.Second)
	for {
		apiDo(t, c, "GET", "/api/versions/laggards", nil, &vl)
		if len(vl) == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(vl) != 1 || vl[0].Device != silent.cfg.Device || vl[0].Holder != "bank" {
		t.Errorf("version laggards %+v", vl)
	}

	// The alert expires by itself: each device gets a newer document without it.
	for _, a := range agents[:2] {
		deadline := time.Now().Add(15 * time.Second)
		for {
			var d *protocol.DesiredState
			select {
			case d = <-a.docCh:
			case <-time.After(time.Until(deadline)):
				t.Fatalf("%s: no document without the alert after it expired", a.cfg.Device)
			}
			if len(d.Alerts) == 0 && d.Version > 1 {
				break
			}
		}
	}
}

// TestAPIStrictAndOrg exercises the editing API over real HTTP: strict
// bodies, the tree, moves, tags and campaigns.
func TestAPIStrictAndOrg(t *testing.T) {
	c := startController(t, t.TempDir(), Config{})
	defer c.stop(t)
	type call struct {
		method, path string
		body         any
		want         int
	}
	for _, k := range []call{
		{"POST", "/api/org/nodes", map[string]any{"id": "town", "kind": "town", "name": "Town", "tz": "Asia/Shanghai"}, 201},
		{"POST", "/api/org/nodes", map[string]any{"id": "town", "kind": "town", "name": "Again"}, 409},
		{"POST", "/api/org/nodes", map[string]any{"id": "x", "kind": "town", "name": "X", "colour": "red"}, 400},
		{"POST", "/api/org/nodes", map[string]any{"id": "s1", "kind": "site", "name": "S", "parent": "town", "quiet": []string{"daily,22:00-07:00"}}, 201},
		{"POST", "/api/org/nodes", map[string]any{"id": "s2", "kind": "site", "name": "S"}, 400}, // no zone anywhere
		{"PATCH", "/api/org/nodes/town", map[string]any{"tz": ""}, 400},                          // s1 would lose its zone
		{"PATCH", "/api/org/nodes/s1", map[string]any{"tz": "Europe/Berlin", "quiet": []string{"inherit"}}, 200},
		{"PATCH", "/api/org/nodes/ghost", map[string]any{"name": "x"}, 404},
		{"POST", "/api/org/nodes/s1/people", map[string]any{"role": "presenter", "name": "Zhao", "phone": "138 0000 0000"}, 201},
		{"POST", "/api/org/nodes/s1/people", map[string]any{"role": "boss", "name": "Zhao", "phone": "1"}, 400},
		{"POST", "/api/devices/ghost/move", map[string]any{"to": "s1"}, 404},
		{"POST", "/api/campaigns", map[string]any{"name": "c", "targets": []string{"node:town"}, "output": "led", "playlists": []string{"none"}}, 400}, // no such (approved) playlist
		{"POST", "/api/campaigns", map[string]any{"name": "c", "targets": []string{"planet:mars"}, "output": "led", "playlists": []string{"p"}}, 400},
		{"POST", "/api/alerts", map[string]any{"to": []string{"town"}}, 400}, // no text
		{"POST", "/api/alerts", map[string]any{"to": []string{"ghost"}, "text": "x"}, 400},
		{"POST", "/api/alerts", map[string]any{"to": []string{"town"}, "text": "x", "priority": 9}, 400},
		{"GET", "/api/alerts/a-19990101-0001", nil, 404},
	} {
		var out json.RawMessage
		if got := apiDo(t, c, k.method, k.path, k.body, &out); got != k.want {
			t.Errorf("%s %s %v: %d, want %d", k.method, k.path, k.body, got, k.want)
		}
	}
	// The refusal names the unknown field.
	req, _ := http.NewRequest("POST", "http://"+c.ep.HTTPAddr+"/api/org/nodes", strings.NewReader(`{"id":"y","kind":"town","name":"Y","color":1}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.adminToken(t))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `unknown field \"color\"`) {
		t.Errorf("unknown field refusal: %s", b)
	}
	enroll(t, c.dir, "dev-1")
	if got := apiDo(t, c, "POST", "/api/devices/dev-1/move", map[string]any{"to": "s1"}, nil); got != 200 {
		t.Errorf("move: %d", got)
	}
	var tags struct{ Tags []string }
	if got := apiDo(t, c, "POST", "/api/devices/dev-1/tags", map[string]any{"add": []string{"atm", "lobby"}, "remove": []string{"lobby"}}, &tags); got != 200 ||
		strings.Join(tags.Tags, ",") != "atm" {
		t.Errorf("tags: %d %v", got, tags)
	}
	for path, want := range map[string]int{
		"/api/devices/dev-1/preview":                                                   200,
		"/api/devices/dev-1/preview?from=2026-12-01T00:00:00Z":                         200,
		"/api/devices/dev-1/preview?from=yesterday":                                    400,
		"/api/devices/dev-1/preview?output=radio":                                      400,
		"/api/devices/ghost/preview":                                                   404,
		"/api/devices/dev-1/preview?from=2026-12-01T00:00:00Z&to=2027-02-01T00:00:00Z": 400,
		"/api/quota-misses":                                                            200,
		"/api/versions":                                                                200,
		"/api/campaigns":                                                               200,
		"/api/alerts":                                                                  200,
	} {
		var out json.RawMessage
		if got := apiDo(t, c, "GET", path, nil, &out); got != want {
			t.Errorf("GET %s: %d, want %d", path, got, want)
		}
	}
	var tree struct {
		Roots []struct {
			ID       string `json:"id"`
			Children []struct {
				ID          string `json:"id"`
				EffectiveTZ string `json:"effective_tz"`
				People      []org.Person
				Devices     []struct{ ID string }
			}
		}
	}
	apiDo(t, c, "GET", "/api/org", nil, &tree)
	if len(tree.Roots) != 1 || len(tree.Roots[0].Children) != 1 {
		t.Fatalf("tree %+v", tree)
	}
	s1 := tree.Roots[0].Children[0]
	if s1.EffectiveTZ != "Europe/Berlin" || len(s1.People) != 1 || len(s1.Devices) != 1 || s1.Devices[0].ID != "dev-1" {
		t.Errorf("site %+v", s1)
	}
}

// BenchmarkAlertPush1000 is the "signed for" figure: 1,000 simulated agents
// on 100 sites, connected over TCP to the embedded broker of a real
// controller. Each round POSTs an alert to the town and waits for the last
// first-play acknowledgement to be stored; latency runs from just before
// the POST to the controller's receive time of the last ack. The alert is
// then cancelled and the fleet left to settle, so every round pushes into
// a fleet with no alert in force. Reports p50/p99 over the rounds (at
// least 5).
//
//	go test -run '^$' -bench AlertPush1000 -benchtime 10x ./controller/internal/serve/
func BenchmarkAlertPush1000(b *testing.B) {
	const agents, sites = 1000, 100
	dir := b.TempDir()
	plantTree(b, dir, sites)
	type round struct {
		id   string
		devs map[string]bool
		last int64
		done chan struct{}
	}
	var mu sync.Mutex
	var cur *round
	onAcks := func(rows []store.AckRow) {
		mu.Lock()
		defer mu.Unlock()
		if cur == nil {
			return
		}
		for _, r := range rows {
			if r.Event != protocol.AckFirstPlay || r.Alert != cur.id || cur.devs[r.Device] {
				continue
			}
			cur.devs[r.Device] = true
			cur.last = max(cur.last, r.ReceivedMS)
			if len(cur.devs) == agents {
				close(cur.done)
			}
		}
	}
	c := startController(b, dir, Config{AcksCommitted: onAcks})
	defer c.stop(b)
	fl := fleetAt(b, c, agents, "atm", func(i int) string { return fmt.Sprintf("site-%d", i%sites) })
	defer func() {
		for _, a := range fl {
			a.close()
		}
	}()
	rounds := max(b.N, 5)
	var lat []time.Duration
	b.ResetTimer()

	for i := 0; i < rounds; i++ {
		r := &round{devs: map[string]bool{}, done: make(chan struct{})}
		mu.Lock()
		cur = r
		mu.Unlock()
		start := time.Now()
		var res struct{ Alert protocol.Alert }
		mu.Lock() // the id must be set before acks for it can be counted
		if code := apiDo(b, c, "POST", "/api/alerts", alert.Request{To: []string{"town"}, Text: fmt.Sprintf("Warning %d: hang up on 'police' asking for transfers.", i),
			Expires: "1h"}, &res); code != http.StatusCreated {
			mu.Unlock()
			b.Fatalf("push: %d", code)
		}
		// Acks committed while the answer was on its way wait in onAcks
		// for the lock, so none is missed.
		r.id = res.Alert.ID
		mu.Unlock()
		select {
		case <-r.done:
		case <-time.After(60 * time.Second):
			mu.Lock()
			n := len(r.devs)
			mu.Unlock()
			b.Fatalf("round %d: %d of %d signed for after 60 s", i, n, agents)
		}
		lat = append(lat, time.UnixMilli(r.last).Sub(start))
		var delivered int64
		for _, a := range fl {
			delivered = max(delivered, a.alertAt.Load())
		}
		b.Logf("round %d: documents delivered to all after %v, all signed for after %v", i, time.Unix(0, delivered).Sub(start), lat[len(lat)-1])
		// Withdraw it and let every device settle, so each round pushes
		// into a fleet with no alert in force.
		b.StopTimer()
		if code := apiDo(b, c, "POST", "/api/alerts/"+r.id+"/cancel", nil, nil); code != http.StatusOK {
			b.Fatalf("cancel: %d", code)
		}
		deadline := time.Now().Add(60 * time.Second)
		for _, a := range fl {
			for a.inForce.Load() != 0 {
				if time.Now().After(deadline) {
					b.Fatalf("%s still holds an alert 60 s after the cancel", a.cfg.Device)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		time.Sleep(200 * time.Millisecond) // the adopted acks of the cancel
		b.StartTimer()
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	b.ReportMetric(float64(pct(0.5).Milliseconds()), "p50-ms")
	b.ReportMetric(float64(pct(0.99).Milliseconds()), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Milliseconds()), "max-ms")
	b.Logf("%d rounds to %d agents: p50 %v p99 %v (all %v)", rounds, agents, pct(0.5), pct(0.99), lat)
}
