package adminlog

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
)

// Problem is something wrong with the log, at entry Seq.
type Problem struct {
	Seq uint64 `json:"seq"`
	// Rule broken: RuleHash, RuleChain, RuleGap, RuleSignature,
	// RuleDuplicate or RuleOrder.
	Rule   string `json:"rule"`
	Detail string `json:"detail"`
}

func (p Problem) String() string { return fmt.Sprintf("seq %d: %s: %s", p.Seq, p.Rule, p.Detail) }

// The rules Verify checks.
const (
	// RuleHash: the entry's fields do not hash to its Hash — it was edited.
	RuleHash = "hash_mismatch"
	// RuleChain: the entry's Prev is not the previous entry's Hash — the
	// previous entry was replaced or re-hashed.
	RuleChain = "broken_chain"
	// RuleGap: entries before this one are missing (deleted).
	RuleGap = "gap"
	// RuleSignature: the signature over Hash does not verify — the entry
	// was forged or re-hashed without the key.
	RuleSignature = "bad_signature"
	// RuleDuplicate: a Seq or Hash seen earlier in the log.
	RuleDuplicate = "duplicate"
	// RuleOrder: the entry is out of Seq order.
	RuleOrder = "out_of_order"
)

// Verify checks a whole log, in the order given, from Seq 1, against the
// public key. It is pure. Problems are in the order of the entries they
// concern, so the first one names the first broken entry; an entry's own
// hash and signature come before its place in the chain. A log cut short
// at its end cannot be told from a shorter one by the chain alone:
// compare the last Seq and Hash with a copy kept elsewhere.
func Verify(entries []Entry, pub ed25519.PublicKey) []Problem {
	var out []Problem
	add := func(e Entry, rule, format string, args ...any) {
		out = append(out, Problem{Seq: e.Seq, Rule: rule, Detail: fmt.Sprintf(format, args...)})
	}
	bySeq := make(map[uint64]int, len(entries)) // first index of each Seq
	for i, e := range entries {
		if _, ok := bySeq[e.Seq]; !ok {
			bySeq[e.Seq] = i
		}
	}
	seenHash := map[string]uint64{}
	var expect uint64 = 1 // the Seq that should come next
	for i, e := range entries {
		if got := HashOf(e); got != e.Hash {
			add(e, RuleHash, "fields hash to %s, entry says %s", got, e.Hash)
		}
		if sig, err := base64.StdEncoding.DecodeString(e.Sig); err != nil || len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, SigMessage(e.Hash), sig) {
			add(e, RuleSignature, "signature does not verify with the admin log key")
		}
		first := bySeq[e.Seq] == i
		switch {
		case !first:
			add(e, RuleDuplicate, "seq %d appears again (first at position %d)", e.Seq, bySeq[e.Seq]+1)
		case e.Seq < expect:
			add(e, RuleOrder, "seq %d comes after seq %d", e.Seq, expect-1)
		case e.Seq > expect:
			if j, ok := bySeq[expect]; ok && j > i {
				add(e, RuleOrder, "seq %d comes before seq %d", e.Seq, expect)
			} else if e.Seq == expect+1 {
				add(e, RuleGap, "seq %d is missing", expect)
			} else {
				add(e, RuleGap, "seq %d to %d are missing", expect, e.Seq-1)
			}
		}
		if prior, ok := seenHash[e.Hash]; ok && first {
			add(e, RuleDuplicate, "same hash as seq %d", prior)
		} else if !ok {
			seenHash[e.Hash] = e.Seq
		}
		if first {
			// The link to the previous Seq, wherever it is in the input; a
			// missing one was reported as a gap.
			if e.Seq == 1 {
				if e.Prev != ZeroHash {
					add(e, RuleChain, "first entry's prev is %s, not zeros", e.Prev)
				}
			} else if j, ok := bySeq[e.Seq-1]; ok && entries[j].Hash != e.Prev {
				add(e, RuleChain, "prev is %s but seq %d has hash %s", e.Prev, e.Seq-1, entries[j].Hash)
			}
		}
		if first && e.Seq >= expect {
			expect = e.Seq + 1
		}
	}
	return out
}
