package output

import "fmt"

// The words a Result.Reason starts with, kept in one place so that every
// driver says the same thing the same way (a later change may turn them
// into typed values). A played Result may carry a note:
//
//	truncated: …   it played, but less of it than the item asked for
//	unconfirmed: … it was sent, but the hardware could not vouch for it
//
// A failed Result carries the reason it failed.
const (
	NoteTruncated   = "truncated"
	NoteUnconfirmed = "unconfirmed"

	// ReasonStalled fails a play that ran past its deadline (the item's
	// duration plus the profile's play margin); the player is restarted.
	ReasonStalled = "player stalled"
	// ReasonTooShort fails a play that claimed to be over sooner than the
	// item could have played: a sink that does not keep time, a player
	// that skipped it.
	ReasonTooShort = "too short"
	// These prefix the failure to open an output's hardware, by output
	// ("sign_silent: dial sign 127.0.0.1:9: connection refused").
	ReasonSignSilent   = "sign_silent"
	ReasonTVAbsent     = "tv_unavailable"
	ReasonAudioAbsent  = "audio_unavailable"
	ReasonPrinterGone  = "printer_unavailable"
	ReasonOutputAbsent = "output_unavailable"
)

// Note is a reason in the shared form: "word: detail".
func Note(word, format string, args ...any) string {
	return word + ": " + fmt.Sprintf(format, args...)
}
