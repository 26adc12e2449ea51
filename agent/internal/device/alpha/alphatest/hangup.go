package alphatest

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// isPTYHangup is the EIO a pty master reads once its terminal side is
// closed: for a sign, the cable was pulled.
func isPTYHangup(err error) bool { return errors.Is(err, syscall.EIO) }

// makeRaw puts the terminal side in raw mode at once, as a serial port
// driver would, so a driver that takes the file as it is (no termios of
// its own) sees bytes unchanged: no echo, no CR/NL translation.
func makeRaw(f *os.File) error {
	sc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("alphatest: termios: %w", err)
	}
	var ioErr error
	if err := sc.Control(func(fd uintptr) { ioErr = setRaw(int(fd)) }); err != nil {
		return fmt.Errorf("alphatest: termios: %w", err)
	}
	return ioErr
}

func setRaw(fd int) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return fmt.Errorf("alphatest: termios: %w", err)
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		return fmt.Errorf("alphatest: termios: %w", err)
	}
	return nil
}
