// Package escpos drives ESC/POS receipt printers (Epson TM and the many
// Chinese printers that speak the same commands) as a GuardCast output of
// kind "printer": anti-fraud reminders from print templates, text and
// images, with the hotline as a QR code, then a cut.
//
// Every job is judged by the printer itself. Before the job the driver
// asks for the real-time status (DLE EOT 1..4: printer, offline cause,
// error cause, paper sensor); after it, it sends GS r 1, which the printer
// answers only once it has processed everything before it, and polls
// DLE EOT meanwhile; then it asks DLE EOT again. Paper end, cover open, a
// cutter jam, an unrecoverable error or a printer that does not answer
// make the play fail with that reason and turn Health to not OK — never a
// silent success.
//
// Chinese text goes in Chinese mode (FS &) as GB18030 for profiles with
// that code page; others get code page 437 or ASCII, where a character the
// page lacks is an error or '?' (Opts.Replace). Images and, if chosen, the
// QR code go as GS v 0 raster, 1 bit per dot, at most the paper's
// printable width.
//
// Links: /dev/usb/lp0 (OpenFile; status needs a bidirectional printer,
// else Opts.NoStatus), a serial port (OpenSerial) or TCP port 9100
// (DialTCP), or any io.ReadWriter (New); the link itself, opened lazily
// and reopened after it fails, is package printer's, shared with the TSPL
// driver.
package escpos
