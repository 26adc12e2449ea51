// Package tspl drives TSPL/TSPL2 label printers (TSC, Xprinter, Gprinter
// and the many courier-station printers that speak the same language) as a
// GuardCast output of kind "printer": anti-fraud stickers from print
// templates, text and images, with the hotline as a QR code.
//
// A job is SIZE, GAP, DIRECTION, CLS, then TEXT lines in the printer's
// font, QRCODE and BITMAP, then PRINT 1,1. Chinese uses the printer's
// simplified-Chinese font "TSS24.BF2" (24×24 dots; ASCII half width),
// whose content bytes are GB2312/GBK, sent here as GB18030. Text that does
// not fit the label is refused, never cut off.
//
// The printer is asked <ESC>!? before each job and polled after it: the
// one-byte answer flags head open, paper jam, paper out, ribbon out,
// pause, printing, cover open and temperature. The play succeeds only
// once the printer has been seen printing and then idle without a fault
// (or has shown no fault for Opts.Settle, for a label too quick to catch
// printing). A fault or silence fails the play with that reason and makes
// Health not OK.
//
// Links are those of package printer (usblp device file, serial, TCP 9100),
// shared with the ESC/POS driver.
package tspl
