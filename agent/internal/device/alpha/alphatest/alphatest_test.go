package alphatest_test

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/guardcast/guardcast/agent/internal/device/alpha"
	"github.com/guardcast/guardcast/agent/internal/device/alpha/alphatest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func pkt(addr string, cmds ...alpha.Command) []byte {
	return alpha.Encode(alpha.Packet{Sync: 5, Type: alpha.TypeAll, Address: addr, Commands: cmds})
}

// ask writes b and reads one answer (or nothing within a short wait).
func ask(t *testing.T, c net.Conn, b []byte) (alpha.Packet, bool) {
	t.Helper()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	var got []byte
	buf := make([]byte, 4096)
	for !bytes.Contains(got, []byte{alpha.EOT}) {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			return alpha.Packet{}, false
		}
	}
	p, err := alpha.Decode(got[bytes.IndexByte(got, alpha.SOH):])
	if err != nil {
		t.Fatalf("fake answered garbage %q: %v", got, err)
	}
	return p, true
}

// send writes b; on a net.Pipe it returns once the fake has read it.
func send(t *testing.T, c net.Conn, b []byte) {
	t.Helper()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

func TestFakeSign(t *testing.T) {
	fake := alphatest.New(alphatest.Options{Address: "07"})
	host, sign := net.Pipe()
	fake.Attach(sign)
	defer fake.Close()
	defer host.Close()

	// Writes and reads of TEXT, addressed by broadcast, own address and wildcard.
	send(t, host, pkt("00", alpha.TextFile('A', alpha.PosFill, alpha.ModeHold, []byte("HI"))))
	p, ok := ask(t, host, pkt("0?", alpha.ReadTextFile('A')))
	if !ok || p.Type != alpha.TypeResponse || string(p.Commands[0].Data) != "A\x1b0bHI" {
		t.Fatalf("read TEXT answer %+v %v", p, ok)
	}
	if _, ok := ask(t, host, pkt("08", alpha.ReadTextFile('A'))); ok {
		t.Fatal("answered a read for another sign")
	}
	// Memory: factory table, then a configuration with a picture.
	p, _ = ask(t, host, pkt("07", alpha.ReadMemory()))
	if string(p.Commands[0].Data) != "$AAU0100FF00" {
		t.Fatalf("factory memory %q", p.Commands[0].Data)
	}
	pic := alpha.Picture{Label: 'B', Rows: [][]byte{[]byte("101"), []byte("010")}}
	dots, _ := alpha.WriteDots(pic)
	send(t, host, pkt("00", dots)) // not allocated yet: refused
	send(t, host, pkt("00", alpha.SetMemory([]alpha.MemEntry{
		{Label: 'A', Type: alpha.FileText, Size: 64, Q: alpha.AlwaysOn},
		{Label: 'B', Type: alpha.FileDots, Size: 0x0203, Q: alpha.DotsTri},
	})))
	send(t, host, pkt("00", dots))
	send(t, host, pkt("00", alpha.TextFile('A', alpha.PosFill, alpha.ModeHold, []byte("HI"))))
	p, _ = ask(t, host, pkt("00", alpha.ReadDots('B')))
	if got, err := alpha.ParseDots(p.Commands[0].Data); err != nil || string(bytes.Join(got.Rows, nil)) != "101010" {
		t.Fatalf("read DOTS %q %v", p.Commands[0].Data, err)
	}
	// Corrupted answers.
	fake.SetCorrupt(alphatest.CorruptContent)
	p, _ = ask(t, host, pkt("00", alpha.ReadTextFile('A')))
	if string(p.Commands[0].Data) != "A\x1b0bHH" {
		t.Fatal("content not corrupted")
	}
	fake.SetCorrupt(alphatest.CorruptChecksum)
	host.Write(pkt("00", alpha.ReadTextFile('A')))
	host.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	buf := make([]byte, 256)
	n, _ := host.Read(buf)
	if _, err := alpha.Decode(buf[bytes.IndexByte(buf[:n], alpha.SOH):n]); err == nil {
		t.Fatal("checksum not corrupted")
	}
	fake.SetCorrupt(alphatest.CorruptNone)
	fake.SetSilent(true)
	if _, ok := ask(t, host, pkt("00", alpha.ReadTextFile('A'))); ok {
		t.Fatal("a silent sign answered")
	}

	// Bad transmissions are recorded: short sync, bad checksum.
	send(t, host, []byte("\x00\x00\x01Z00\x02BA\x030088\x04"))
	send(t, host, []byte("\x00\x00\x00\x00\x00\x01Z00\x02BA\x030089\x04"))
	fake.SetSilent(false)
	if _, ok := ask(t, host, pkt("00", alpha.ReadTextFile('A'))); !ok { // the fake has handled all before
		t.Fatal("no answer")
	}
	errs := fake.Errors()
	var all []string
	for _, e := range errs {
		all = append(all, e.Error())
	}
	joined := strings.Join(all, "\n")
	for _, want := range []string{"no such DOTS file", "2 sync NULs", "checksum"} {
		if !strings.Contains(joined, want) {
			t.Errorf("fake errors %q lack %q", joined, want)
		}
	}
}
