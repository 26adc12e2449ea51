package protocol

import (
	"errors"
	"fmt"
	"strings"
)

// Version is the protocol version carried in every message ("v").
const Version = 1

// Root is the first two levels of every GuardCast topic.
const Root = "gc/v1"

// Direction is the third-from-last level: what flows to a device (down) or
// from it (up).
const (
	Down = "down"
	Up   = "up"
)

// Downlink message names (controller → device).
const (
	TopicDesired = "desired" // retained, QoS 1: the signed desired state
	TopicReceipt = "receipt" // QoS 1: what the controller has committed
)

// Uplink message names (device → controller).
const (
	TopicHello  = "hello"  // QoS 1: key announcement / enrollment
	TopicProofs = "proofs" // QoS 1: a batch of proof records
	TopicStatus = "status" // retained, QoS 1: status, and the last will
	TopicAck    = "ack"    // QoS 1: "signed for" receipts of versions and alerts
)

// MaxDeviceIDLen bounds a device ID; it is also an MQTT username and client ID.
const MaxDeviceIDLen = 64

// ErrBadTopic is returned by ParseTopic for anything not a GuardCast device topic.
var ErrBadTopic = errors.New("not a guardcast device topic")

// ValidateDeviceID accepts lower-case letters, digits, '-', '_' and '.', starting
// with a letter or digit. Anything else (MQTT wildcards, '/', '$', path tricks,
// upper case that would alias on case-insensitive file systems) is refused.
func ValidateDeviceID(id string) error {
	if id == "" {
		return errors.New("device id is empty")
	}
	if len(id) > MaxDeviceIDLen {
		return fmt.Errorf("device id %.16q… is longer than %d bytes", id, MaxDeviceIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '-' || c == '_' || c == '.') && i > 0:
		default:
			return fmt.Errorf("device id %q: character %q at %d not allowed (use a-z, 0-9, and - _ . after the first)", id, c, i)
		}
	}
	if strings.Contains(id, "..") {
		return fmt.Errorf("device id %q: \"..\" not allowed", id)
	}
	return nil
}

// DeviceTopic builds gc/v1/dev/{id}/{dir}/{name}.
func DeviceTopic(id, dir, name string) string {
	return Root + "/dev/" + id + "/" + dir + "/" + name
}

// DownTopic is the topic a device subscribes to for name.
func DownTopic(id, name string) string { return DeviceTopic(id, Down, name) }

// UpTopic is the topic a device publishes name on.
func UpTopic(id, name string) string { return DeviceTopic(id, Up, name) }

// DownFilter is the one subscription filter a device needs: all its downlink topics.
func DownFilter(id string) string { return Root + "/dev/" + id + "/" + Down + "/+" }

// UpFilterAll matches one uplink message name from every device; the
// controller subscribes with it (e.g. UpFilterAll(TopicProofs)).
func UpFilterAll(name string) string { return Root + "/dev/+/" + Up + "/" + name }

// Topic is a parsed device topic.
type Topic struct {
	Device string
	Dir    string // Down or Up
	Name   string
}

// ParseTopic splits a concrete (wildcard-free) device topic. The device ID
// is validated, so a parsed topic is safe to use as a key or a file name.
func ParseTopic(s string) (Topic, error) {
	rest, ok := strings.CutPrefix(s, Root+"/dev/")
	if !ok {
		return Topic{}, fmt.Errorf("%w: %q", ErrBadTopic, s)
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 {
		return Topic{}, fmt.Errorf("%w: %q", ErrBadTopic, s)
	}
	t := Topic{Device: parts[0], Dir: parts[1], Name: parts[2]}
	if err := ValidateDeviceID(t.Device); err != nil {
		return Topic{}, fmt.Errorf("%w: %q: %v", ErrBadTopic, s, err)
	}
	switch {
	case t.Dir == Down && (t.Name == TopicDesired || t.Name == TopicReceipt):
	case t.Dir == Up && (t.Name == TopicHello || t.Name == TopicProofs || t.Name == TopicStatus || t.Name == TopicAck):
	default:
		return Topic{}, fmt.Errorf("%w: %q: unknown %s message %q", ErrBadTopic, s, t.Dir, t.Name)
	}
	return t, nil
}

// MayDevicePublish reports whether device id may publish to topic: only its
// own known uplink topics.
func MayDevicePublish(id, topic string) bool {
	t, err := ParseTopic(topic)
	return err == nil && t.Device == id && t.Dir == Up
}

// MayDeviceSubscribe reports whether device id may subscribe with filter:
// its own downlink topics, one by one or with DownFilter. Any other
// wildcard, a shared subscription or another device's topic is refused.
func MayDeviceSubscribe(id, filter string) bool {
	if filter == DownFilter(id) {
		return true
	}
	t, err := ParseTopic(filter)
	return err == nil && t.Device == id && t.Dir == Down
}
