package action

import (
	"fmt"
	"strings"
)

// outputLimit caps the output an audit record keeps.
const outputLimit = 4 << 10

// cappedBuffer keeps the first and the last half of what is written to
// it, up to limit bytes in all: a command's first lines say what it did
// and its last ones why it failed. It is not safe for concurrent use;
// os/exec writes to it from one goroutine when Stdout and Stderr are the
// same writer.
type cappedBuffer struct {
	limit int
	head  []byte
	tail  []byte // a window over the bytes after head, trimmed lazily
	total int
}

func newCappedBuffer(limit int) *cappedBuffer {
	return &cappedBuffer{limit: limit}
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	n := len(p)
	b.total += n
	if room := b.limit/2 - len(b.head); room > 0 {
		k := min(room, len(p))
		b.head = append(b.head, p[:k]...)
		p = p[k:]
	}
	keep := b.limit - b.limit/2
	b.tail = append(b.tail, p...)
	if len(b.tail) > 2*keep {
		b.tail = append([]byte(nil), b.tail[len(b.tail)-keep:]...)
	}
	return n, nil
}

// truncated reports whether bytes were left out.
func (b *cappedBuffer) truncated() bool { return b.total > b.limit }

// String is the kept output, with a marker where bytes were left out.
func (b *cappedBuffer) String() string {
	keep := b.limit - b.limit/2
	tail := b.tail
	if len(tail) > keep {
		tail = tail[len(tail)-keep:]
	}
	var s strings.Builder
	s.Write(b.head)
	if b.truncated() {
		fmt.Fprintf(&s, "\n…[%d bytes truncated]…\n", b.total-b.limit)
	}
	s.Write(tail)
	return strings.ToValidUTF8(s.String(), "\uFFFD")
}
