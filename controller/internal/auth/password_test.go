package auth

import (
	"encoding/base64"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"
)

func TestHashPassword(t *testing.T) {
	h, err := HashPassword("correct horse battery", DefaultHash)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`).MatchString(h) {
		t.Fatalf("hash %q", h)
	}
	h2, _ := HashPassword("correct horse battery", DefaultHash)
	if h == h2 {
		t.Error("same salt twice")
	}
	ok, stale, err := VerifyPassword(h, "correct horse battery", DefaultHash)
	if !ok || stale || err != nil {
		t.Errorf("right password: %v %v %v", ok, stale, err)
	}
	if ok, _, _ := VerifyPassword(h, "correct horse batterY", DefaultHash); ok {
		t.Error("wrong password accepted")
	}
	if _, stale, _ := VerifyPassword(h, "x", CheapHash); !stale {
		t.Error("not stale under other parameters")
	}
}

// A known answer from the reference implementation's CLI (the vector
// x/crypto/argon2 tests with): argon2id of "password", salt "somesalt",
// t=2, m=64 KiB, p=1, 24 bytes — in the PHC encoding this package reads.
func TestVerifyKnownAnswer(t *testing.T) {
	key, _ := hex.DecodeString("068d62b26455936aa6ebe60060b0a65870dbfa3ddf8d41f7")
	p := HashParams{MemoryKiB: 64, Time: 2, Threads: 1}
	enc := encodeHash(p, []byte("somesalt"), key)
	if want := "$argon2id$v=19$m=64,t=2,p=1$c29tZXNhbHQ$Bo1ismRVk2qm6+YAYLCmWHDb+j3fjUH3"; enc != want {
		t.Errorf("encoding %q, want %q", enc, want)
	}
	if ok, _, err := VerifyPassword(enc, "password", p); !ok || err != nil {
		t.Errorf("known answer does not verify: %v %v", ok, err)
	}
	if ok, _, _ := VerifyPassword(enc, "passwort", p); ok {
		t.Error("wrong password verifies")
	}
}

func TestVerifyRefusesBadHashes(t *testing.T) {
	good, _ := HashPassword("correct horse battery", CheapHash)
	parts := strings.Split(good, "$")
	salt, key := parts[4], parts[5]
	for _, bad := range []string{
		"",
		"plain",
		"$argon2i$v=19$m=8,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=16$m=8,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=8,t=0,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=4000000,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=8,t=1,p=1$" + salt + "$" + "!!",
		"$argon2id$v=19$m=8,t=1,p=1$" + base64.RawStdEncoding.EncodeToString([]byte("s")) + "$" + key,
		good + "$",
	} {
		if ok, _, err := VerifyPassword(bad, "correct horse battery", CheapHash); ok || err == nil {
			t.Errorf("VerifyPassword(%q) = %v, %v", bad, ok, err)
		}
	}
}
