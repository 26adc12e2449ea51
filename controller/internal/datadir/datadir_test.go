package datadir

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestSecondHolderRefusedAndNamed(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(dir, "serve")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(dir, "serve")
	var he *HeldError
	if !errors.As(err, &he) || !errors.Is(err, ErrHeld) {
		t.Fatalf("second acquire: %v, want HeldError", err)
	}
	if he.Holder.What != "serve" || he.Holder.PID != os.Getpid() || !strings.Contains(err.Error(), "serve (pid") {
		t.Fatalf("holder %+v, message %q", he.Holder, err)
	}
	h, held, err := Probe(dir)
	if err != nil || !held || h.What != "serve" {
		t.Fatalf("probe: %+v %v %v", h, held, err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if _, held, err := Probe(dir); err != nil || held {
		t.Fatalf("after release: held=%v err=%v", held, err)
	}
	l2, err := Acquire(dir, "device add")
	if err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
	l2.Release()
}

// The lock is the kernel's: it is held against another process too, and
// freed when the holder dies.
func TestLockAcrossProcesses(t *testing.T) {
	if os.Getenv("DATADIR_CHILD") != "" {
		l, err := Acquire(os.Getenv("DATADIR_CHILD"), "child")
		if err != nil {
			os.Exit(3)
		}
		os.Stdout.WriteString("locked\n")
		os.Stdin.Read(make([]byte, 1)) // hold until the parent closes our stdin or kills us
		l.Release()
		os.Exit(0)
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockAcrossProcesses$")
	cmd.Env = append(os.Environ(), "DATADIR_CHILD="+dir)
	stdin, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 7)
	if _, err := out.Read(buf); err != nil || string(buf) != "locked\n" {
		t.Fatalf("child: %q %v", buf, err)
	}
	h, held, err := Probe(dir)
	if err != nil || !held || h.What != "child" || h.PID != cmd.Process.Pid {
		t.Fatalf("probe while child holds: %+v held=%v err=%v", h, held, err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	stdin.Close()
	if _, held, err := Probe(dir); err != nil || held {
		t.Fatalf("after the holder died: held=%v err=%v", held, err)
	}
}
