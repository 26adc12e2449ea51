// Package protocol is the MQTT contract between guardcast-controller and
// guardcast-agent: topic names, message types with a version field and
// Validate, the exact bytes that are signed and hashed (pinned by the
// known answers in testdata/vectors.json), and the capability version
// that lets it evolve without breaking deployed agents (capability.go).
//
// It imports no MQTT library: both sides, and the broker's ACL, agree on
// the wire through this package alone. docs/protocol.md describes the same
// contract for people.
package protocol
