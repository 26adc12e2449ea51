package media

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// ErrNotRegular: the path is a symbolic link, a hard link (more than one
// name for the same file), a directory, a device or a FIFO. A hard link
// dropped into the inbox can name the controller's content.key or an agent
// config, so the library only takes files that are nothing but themselves.
var ErrNotRegular = errors.New("not a regular file with one link")

// notRegular is ErrNotRegular with its detail. It also matches ErrInvalid,
// which callers already map to "refused, do not retry".
func notRegular(detail string) error {
	return &classified{msg: ErrNotRegular.Error() + " (" + detail + ")", kind: ErrNotRegular, also: ErrInvalid}
}

// OpenRegular opens path for reading only if it is a regular file with
// exactly one link. It is the one check for the drop folder, `media add`
// and any upload spooled to disk. The verdict comes from fstat on the
// opened descriptor (opened with O_NOFOLLOW), so the file checked is the
// file read: swapping path for a link between check and read does not
// work. The returned error matches ErrNotRegular and IsRejection.
func OpenRegular(path string) (*os.File, fs.FileInfo, error) {
	// Lstat first only so that a device or FIFO is refused without being
	// opened (opening a tape or a FIFO has side effects or blocks).
	lfi, err := os.Lstat(path)
	if err != nil {
		return nil, nil, err
	}
	if err := checkRegular(lfi); err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, syscall.ELOOP) {
		return nil, nil, notRegular("a symbolic link")
	}
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if err := checkRegular(fi); err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

// checkRegular refuses anything but a regular file with one link.
func checkRegular(fi fs.FileInfo) error {
	m := fi.Mode()
	switch {
	case m&fs.ModeSymlink != 0:
		return notRegular("a symbolic link")
	case !m.IsRegular():
		return notRegular(describeType(m))
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return notRegular("cannot read its link count")
	}
	if st.Nlink != 1 {
		return notRegular(fmt.Sprintf("a hard link: %d names for the same file", st.Nlink))
	}
	return nil
}

func describeType(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "type " + m.Type().String()
}

// checkRealDir refuses a directory given as a symbolic link (or anything
// that is not a directory): the inbox and rejected/ are trusted places, and
// a link would let whoever made it send files elsewhere.
func checkRealDir(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return fmt.Errorf("%s is a symbolic link; give the real directory", dir)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	return nil
}
