// Package adminlog is the office's audit trail: every office action —
// logins, failed logins, user and content changes, approvals, alerts — as
// an append-only, hash-chained log whose entries are each signed with the
// controller's admin-log key (Ed25519). Deleting, editing, inserting or
// reordering entries breaks the chain or a signature, and Verify names the
// first entry that does.
//
// The bytes hashed and signed are specified in Canonical and in
// docs/users-and-admin-log.md, so that an auditor can check an export
// without Go.
package adminlog

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/guardcast/guardcast/internal/atomicfile"
	"github.com/guardcast/guardcast/internal/clock"
	"github.com/guardcast/guardcast/internal/keyfile"
)

// Entry is one office action.
type Entry struct {
	Seq    uint64          `json:"seq"`    // 1, 2, 3 … gap-free
	AtNS   int64           `json:"at_ns"`  // controller clock, unix ns
	Actor  string          `json:"actor"`  // user name, "local-admin", or "" for anonymous (failed login)
	Action string          `json:"action"` // e.g. "login", "login_failed", "user.add", "campaign.create", "change.approve", "alert.push"
	Target string          `json:"target"` // what it acted on (campaign name, change id, user …)
	Detail json.RawMessage `json:"detail"` // canonical JSON object (keys sorted), never a password or token
	Prev   string          `json:"prev"`   // hex sha256 of the previous entry; 64 zeros for seq 1
	Hash   string          `json:"hash"`   // hex sha256 of Canonical(entry)
	Sig    string          `json:"sig"`    // base64 Ed25519 over SigMessage(hash)
}

// At is the entry's time.
func (e Entry) At() time.Time { return time.Unix(0, e.AtNS).UTC() }

// Domain separators of the hashed and the signed bytes.
const (
	CanonicalPrefix = "guardcast-adminlog-v1\n"
	SigPrefix       = "guardcast-adminlog-sig-v1\n"
)

// ZeroHash is the Prev of the first entry.
var ZeroHash = strings.Repeat("0", 64)

// Limits on an entry's text fields; longer values are cut (on a character
// boundary) rather than refused, since a failed login must still be logged
// whatever name was typed.
const (
	MaxActor  = 128
	MaxAction = 64
	MaxTarget = 512
)

// KeyFile is the admin-log signing key in the data directory; PubFile its
// public half (base64) for auditors.
const (
	KeyFile = "adminlog.key"
	PubFile = "adminlog.pub"
)

// LoadOrCreateKey reads DIR/adminlog.key (PKCS#8 PEM, mode 0600), creating
// it — and DIR/adminlog.pub — on first use.
func LoadOrCreateKey(dataDir string) (ed25519.PrivateKey, error) {
	priv, created, err := keyfile.LoadOrCreate(filepath.Join(dataDir, KeyFile), "admin log key")
	if err != nil || !created {
		return priv, err
	}
	pub := priv.Public().(ed25519.PublicKey)
	if err := atomicfile.Write(filepath.Join(dataDir, PubFile), []byte(base64.StdEncoding.EncodeToString(pub)+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("write admin log public key: %w", err)
	}
	return priv, nil
}

// Filter selects entries. Zero fields select everything.
type Filter struct {
	Since    time.Time // at or after
	Until    time.Time // before
	Actor    string
	Action   string
	AfterSeq uint64 // only entries with a greater Seq
	// Limit > 0 keeps the latest Limit matching entries (still returned
	// in ascending Seq).
	Limit int
}

// Store keeps the entries.
type Store interface {
	// AppendAdminLog, in one transaction that excludes other writers
	// (other processes included), reads the last entry (ok false when the
	// log is empty), calls next for the entry that follows it and inserts
	// that.
	AppendAdminLog(ctx context.Context, next func(last Entry, ok bool) (Entry, error)) (Entry, error)
	// AdminLog returns the entries f selects in ascending Seq.
	AdminLog(ctx context.Context, f Filter) ([]Entry, error)
}

// Log appends to and reads the admin log.
type Log struct {
	st  Store
	key ed25519.PrivateKey
	clk clock.Clock
	mu  sync.Mutex
}

// New returns a log over st signing with key.
func New(st Store, key ed25519.PrivateKey, clk clock.Clock) *Log {
	return &Log{st: st, key: key, clk: clk}
}

// PublicKey is what verifies the log's signatures.
func (l *Log) PublicKey() ed25519.PublicKey { return l.key.Public().(ed25519.PublicKey) }

// Append records an action. detail is marshalled to a JSON object (nil is
// {}); numbers in it must be integers, and no key may name a secret
// ("password", "secret", "token", …): the log is read by auditors.
func (l *Log) Append(ctx context.Context, actor, action, target string, detail any) (Entry, error) {
	d, err := detailJSON(detail)
	if err != nil {
		return Entry{}, fmt.Errorf("admin log %s: %w", action, err)
	}
	if action == "" {
		return Entry{}, fmt.Errorf("admin log: no action")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e, err := l.st.AppendAdminLog(ctx, func(last Entry, ok bool) (Entry, error) {
		e := Entry{
			Seq: 1, Prev: ZeroHash,
			AtNS:   l.clk.Now().UnixNano(),
			Actor:  clean(actor, MaxActor),
			Action: clean(action, MaxAction),
			Target: clean(target, MaxTarget),
			Detail: d,
		}
		if ok {
			e.Seq, e.Prev = last.Seq+1, last.Hash
		}
		Seal(&e, l.key)
		return e, nil
	})
	if err != nil {
		return Entry{}, fmt.Errorf("admin log %s: %w", action, err)
	}
	return e, nil
}

// Seal sets e's Hash from its other fields and signs it.
func Seal(e *Entry, key ed25519.PrivateKey) {
	e.Hash = HashOf(*e)
	e.Sig = base64.StdEncoding.EncodeToString(ed25519.Sign(key, SigMessage(e.Hash)))
}

// Entries returns the entries f selects, in ascending Seq.
func (l *Log) Entries(ctx context.Context, f Filter) ([]Entry, error) {
	es, err := l.st.AdminLog(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("admin log: %w", err)
	}
	return es, nil
}

// Verify reads the whole log and checks it against this log's key.
func (l *Log) Verify(ctx context.Context) ([]Entry, []Problem, error) {
	es, err := l.Entries(ctx, Filter{})
	if err != nil {
		return nil, nil, err
	}
	return es, Verify(es, l.PublicKey()), nil
}

// clean makes s valid UTF-8 and at most max bytes.
func clean(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= max {
		return s
	}
	s = s[:max]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// Canonical returns the bytes an entry's Hash is the SHA-256 of:
//
//	"guardcast-adminlog-v1\n"
//	then for each field, in this order — seq, at_ns, actor, action,
//	target, prev, detail — its UTF-8 bytes B written as
//	    len(B) in decimal ASCII, ":", B, "\n"
//
// where seq and at_ns are decimal integers (at_ns may have a leading "-"),
// prev is the lower-case hex of the previous hash, and detail is the
// canonical JSON of the Detail value (CanonicalJSON): in Python,
// json.dumps(detail, sort_keys=True, separators=(",", ":"),
// ensure_ascii=True). Detail that does not parse is taken as is (and will
// not match).
func Canonical(e Entry) []byte {
	d, err := CanonicalJSON(e.Detail)
	if err != nil {
		d = e.Detail
	}
	var b []byte
	b = append(b, CanonicalPrefix...)
	for _, f := range [][]byte{
		strconv.AppendUint(nil, e.Seq, 10),
		strconv.AppendInt(nil, e.AtNS, 10),
		[]byte(e.Actor), []byte(e.Action), []byte(e.Target), []byte(e.Prev), d,
	} {
		b = strconv.AppendInt(b, int64(len(f)), 10)
		b = append(b, ':')
		b = append(b, f...)
		b = append(b, '\n')
	}
	return b
}

// HashOf is the lower-case hex SHA-256 of Canonical(e).
func HashOf(e Entry) string {
	h := sha256.Sum256(Canonical(e))
	return hex.EncodeToString(h[:])
}

// SigMessage is what an entry's signature is over: "guardcast-adminlog-sig-v1\n"
// followed by the 64 ASCII hex digits of its hash (no newline after).
func SigMessage(hash string) []byte { return []byte(SigPrefix + hash) }
