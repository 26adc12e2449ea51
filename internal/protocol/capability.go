package protocol

// CapabilityVersion is what this build of the protocol understands, as
// one number that only grows (tailscale's tailcfg.CapabilityVersion is
// the model). An agent announces it in Hello and Status; the controller
// records it per device and encodes each device's desired state for it
// (DesiredState.ForCapability). It is separate from Version, the "v" of
// the wire format: additive changes bump CapabilityVersion only; an
// incompatible change gets new topic and signature-domain names
// ("gc/v2", "guardcast/desired/v2"), so an older agent cannot even
// verify what it would misread.
//
// The log — add a line for each bump, and say what a controller must
// leave out of, or change in, documents for devices below it:
//
//	1: the base protocol (docs/protocol.md as first deployed). Agents
//	   decode documents strictly and insist on "v": 1. A Hello or Status
//	   without "capability" is from such an agent.
//	2: Hello and Status carry "capability". Agents ignore fields they do
//	   not know in a correctly signed desired state and accept any "v" ≥ 1
//	   there; a document's "v" is the capability it was encoded for.
//	   Playlists, schedule entries and alerts may carry "by" (who authored
//	   and who approved them), which agents ignore and capability 1 never
//	   sees.
const CapabilityVersion = 2

// DocCapability is the capability a document for a device reporting c is
// encoded for: c clamped to 1..CapabilityVersion (0, "not reported", is 1).
func DocCapability(c int) int {
	return max(1, min(c, CapabilityVersion))
}

// ForCapability returns d as a device of capability c must receive it:
// without the fields that capability does not know, and with "v" set to
// the capability it is encoded for (DocCapability(c)). d is not changed;
// the copy shares d's slices.
//
// A field an older agent may safely ignore can stay in documents for
// every capability ≥ 2 (those agents skip what they do not know); only
// capability-1 agents, which refuse unknown fields, must never see it.
// A field an agent must understand to behave correctly (a new restriction,
// a new kind of content) is left out below the capability that added it,
// with whatever fallback older agents need — as Playlists stayed beside
// Schedule for agents that predate schedules.
func (d *DesiredState) ForCapability(c int) *DesiredState {
	out := *d
	out.V = DocCapability(c)
	// When capability k adds field F, clear it here for out.V < k and
	// register it in desiredFieldsSince (capability_test.go checks both).
	if out.V < 2 {
		out.Schedule, out.Alerts = withoutProvenance(out.Schedule, out.Alerts)
		if out.Playlists != nil {
			out.Playlists = append([]Playlist(nil), out.Playlists...)
			for i := range out.Playlists {
				out.Playlists[i].By = nil
			}
		}
	}
	return &out
}

// withoutProvenance returns copies of s and as without "by", sharing
// everything else (d itself is never changed).
func withoutProvenance(s *Schedule, as []Alert) (*Schedule, []Alert) {
	if s != nil {
		cs := *s
		cs.Outputs = make([]OutputPlan, len(s.Outputs))
		for i, o := range s.Outputs {
			o.Entries = append([]Entry(nil), o.Entries...)
			for j := range o.Entries {
				o.Entries[j].By = nil
			}
			cs.Outputs[i] = o
		}
		s = &cs
	}
	if as != nil {
		as = append([]Alert(nil), as...)
		for i := range as {
			as[i].By = nil
		}
	}
	return s, as
}
