package mpv

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// Message is one line mpv sends on its JSON IPC socket: a reply (with the
// request_id of a command) or an event.
type Message struct {
	Event           string          `json:"event,omitempty"`
	Reason          string          `json:"reason,omitempty"`     // end-file: eof, stop, quit, error, redirect
	FileError       string          `json:"file_error,omitempty"` // end-file with reason error
	PlaylistEntryID int64           `json:"playlist_entry_id,omitempty"`
	RequestID       int64           `json:"request_id,omitempty"`
	Error           string          `json:"error,omitempty"` // replies: "success" or why not
	Data            json.RawMessage `json:"data,omitempty"`
}

// IsReply reports whether m answers a command.
func (m Message) IsReply() bool { return m.Event == "" && m.Error != "" }

// ParseMessage decodes one line from mpv's IPC socket.
func ParseMessage(line []byte) (Message, error) {
	var m Message
	if err := json.Unmarshal(line, &m); err != nil {
		return Message{}, fmt.Errorf("mpv ipc: %w", err)
	}
	if m.Event == "" && m.Error == "" {
		return Message{}, fmt.Errorf("mpv ipc: neither event nor reply: %.100q", line)
	}
	return m, nil
}

// maxLine bounds one IPC line; mpv's are short unless a property dump is
// asked for, which this driver never does.
const maxLine = 1 << 20

// conn is one connection to one mpv process.
type conn struct {
	c net.Conn

	wmu sync.Mutex // one writer at a time

	mu      sync.Mutex
	nextID  int64
	pending map[int64]chan Message
	events  chan Message // the current play's subscription, nil if none
	err     error        // why reading stopped

	done chan struct{} // closed when the reader ends (mpv gone)
}

func newConn(c net.Conn) *conn {
	return &conn{c: c, pending: map[int64]chan Message{}, done: make(chan struct{})}
}

// read dispatches messages until the socket closes. Its caller owns it.
func (c *conn) read() {
	sc := bufio.NewScanner(c.c)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	for sc.Scan() {
		m, err := ParseMessage(sc.Bytes())
		if err != nil {
			continue // a line from a newer mpv this driver does not know
		}
		c.mu.Lock()
		if m.IsReply() && m.RequestID != 0 {
			if ch := c.pending[m.RequestID]; ch != nil {
				ch <- m // buffered 1, sent once
				delete(c.pending, m.RequestID)
			}
		} else if m.Event != "" && c.events != nil {
			select {
			case c.events <- m:
			default: // a subscriber that stopped reading loses events, mpv never waits
			}
		}
		c.mu.Unlock()
	}
	err := sc.Err()
	if err == nil {
		err = io.EOF
	}
	c.mu.Lock()
	c.err = err
	for id, ch := range c.pending {
		close(ch)
		delete(c.pending, id)
	}
	c.mu.Unlock()
	close(c.done)
}

// subscribe directs events to ch (nil: drop them).
func (c *conn) subscribe(ch chan Message) {
	c.mu.Lock()
	c.events = ch
	c.mu.Unlock()
}

var errGone = errors.New("player exited")

// command sends args and returns the reply channel; the reply's Error is
// "success" when mpv did it. The channel is closed if mpv goes away.
func (c *conn) command(args ...any) (<-chan Message, error) {
	ch := make(chan Message, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, errGone
	}
	c.nextID++
	id := c.nextID
	c.pending[id] = ch
	c.mu.Unlock()
	b, err := json.Marshal(struct {
		Command   []any `json:"command"`
		RequestID int64 `json:"request_id"`
	}{args, id})
	if err != nil {
		return nil, err
	}
	c.wmu.Lock()
	_, err = c.c.Write(append(b, '\n'))
	c.wmu.Unlock()
	if err != nil {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
		return nil, fmt.Errorf("mpv ipc write: %w", err)
	}
	return ch, nil
}
