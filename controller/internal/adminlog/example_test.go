package adminlog_test

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"

	"github.com/guardcast/guardcast/controller/internal/adminlog"
)

// The bytes an entry's hash covers: a domain line, then each field as
// length:bytes and a newline.
func ExampleCanonical() {
	e := adminlog.Entry{
		Seq: 1, AtNS: 1700000000000000000,
		Actor: "alice", Action: "user.add", Target: "bob",
		Detail: json.RawMessage(`{"roles": ["editor"], "display": "李波"}`),
		Prev:   adminlog.ZeroHash,
	}
	fmt.Printf("%s", adminlog.Canonical(e))
	// Output:
	// guardcast-adminlog-v1
	// 1:1
	// 19:1700000000000000000
	// 5:alice
	// 8:user.add
	// 3:bob
	// 64:0000000000000000000000000000000000000000000000000000000000000000
	// 45:{"display":"\u674e\u6ce2","roles":["editor"]}
}

// Verify names the first entry that is wrong.
func ExampleVerify() {
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	var log []adminlog.Entry
	prev := adminlog.ZeroHash
	for i, action := range []string{"login", "campaign.create", "change.approve"} {
		e := adminlog.Entry{Seq: uint64(i + 1), AtNS: int64(i), Actor: "alice", Action: action, Detail: json.RawMessage(`{}`), Prev: prev}
		adminlog.Seal(&e, key)
		log, prev = append(log, e), e.Hash
	}
	log[1].Actor = "mallory"
	for _, p := range adminlog.Verify(log, key.Public().(ed25519.PublicKey)) {
		fmt.Println(p.Seq, p.Rule)
	}
	// Output:
	// 2 hash_mismatch
}
