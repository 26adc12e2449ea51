// Package plan evaluates a device's compiled schedule (protocol.Schedule)
// for one output: given the time, whether the clock is trusted and what
// the media cache holds, it says what plays next. The agent runs it for
// every output; the controller's `schedule preview` runs the very same
// code through Preview, so what an office previews is what a device
// plays. It is pure: no goroutines, no clock reads; time comes in as
// arguments.
//
// # Time
//
// Everything is evaluated in the schedule's IANA time zone (Schedule.TZ,
// loaded once in New) on local wall-clock time:
//
//   - An entry is active at t when the local day its daypart occurrence
//     starts on is within [From, Until) (Until exclusive; an entry without
//     dayparts uses t's local date), and t's local wall-clock time falls in
//     one of its dayparts. No dayparts means all day, every day.
//   - A daypart whose End is not after its Start crosses midnight and
//     belongs to the day it starts on: "mon 22:00–07:00" runs from Monday
//     22:00 into Tuesday 07:00, and is gated by Monday's date and weekday.
//     End "24:00" is the end of the day.
//   - DST: windows are wall-clock windows. A 02:00–03:00 window on a
//     spring-forward day does not occur at all; on a fall-back day a
//     01:00–02:00 window is active for both passes. A window that starts
//     in a skipped hour starts at the jump.
//   - Month ends and leap days come from calendar arithmetic on civil day
//     numbers (Jan 31 + 1 = Feb 1, 2028-02-29 exists, 2027-02-29 does not).
//   - Item validity (ValidFrom, ValidUntil) is by t's local date, with
//     ValidUntil exclusive like Until.
//
// # Choosing what plays
//
// Each Next, in order:
//
//  1. Quiet: inside one of the output's Quiet windows, or one of the
//     device's own (Options.Quiet: its firmware profile's quiet hours,
//     during which the driver would refuse to sound), nothing plays
//     (Pick.Wait runs to the end of the quiet stretch: windows that
//     overlap or touch are one). Quiet windows are honoured with
//     whatever clock the device has: silence is the safe side.
//  2. A queued trigger (Trigger) plays one item of its entry, if the entry
//     is active (its dates and dayparts gate triggers too) and has a
//     playable item. Triggers not served within TriggerTTL are dropped.
//     Trigger-bound entries never play by time and carry no quotas.
//  3. Clock not synchronised (Env.Synced false): the output's Safe items
//     loop (Pick.Safe). If the output has no Safe items, only date-free
//     entries (no From/Until, dayparts or item validity — legacy
//     playlists are such) play. Quotas are not measured while the clock
//     is untrusted.
//  4. Among active, time-bound entries with a playable item:
//     a. MinEvery: an entry is due when something as long as the longest
//     candidate item, started now, would end after its deadline (the
//     start of its last play in this window — or the window's start, or
//     the end of quiet hours, whichever is latest — plus MinEvery). Due
//     entries play earliest deadline first.
//     b. MinShare: an entry whose played time in the current window would
//     be below MinShare × the output time elapsed since the window began
//     (quiet time excluded) once the longest candidate, started now,
//     ended, plays; largest deficit first.
//     c. Otherwise the highest Priority plays, round-robin among entries
//     of equal priority (least recently picked first).
//     Within an entry, items play round-robin, skipping items that are
//     not cached or not valid today.
//  5. Nothing active: the Safe loop if there is one; otherwise Pick.Wait
//     runs to the next time something may become active (a daypart start
//     or local midnight), capped at MaxWait.
//
// Next commits its choice (round-robin cursors, consumed triggers): the
// caller is expected to attempt the pick. Played credits a play that
// really happened, with its real start and end; a failed play is not
// credited, so a quota it leaves unmet is reported.
//
// # Quota windows and misses
//
// A quota is measured per window: one occurrence of the daypart the entry
// is active in (for an entry without dayparts, the local day), starting
// no earlier than the evaluator's first Next. Misses reports, once per
// deadline or window, an entry whose MinEvery deadline passed without a
// play (one report per run of misses: the deadline moves only when the
// entry plays), an entry whose share cannot be met because the active
// entries together ask for more than the whole output, and, when a window
// closes, an entry whose share fell short by more than one item's length
// (the granularity a play-by-play schedule can promise).
package plan
