// Package firmwareprofiles holds the firmware profiles GuardCast ships: one
// YAML file per hardware model, embedded in both binaries and read with
// internal/profile (profile.Load(firmwareprofiles.FS, overrideDir)).
// docs/hardware.md explains each field and how to add a model.
package firmwareprofiles

import "embed"

// FS holds every *.yaml in this directory, at its root.
//
//go:embed *.yaml
var FS embed.FS
