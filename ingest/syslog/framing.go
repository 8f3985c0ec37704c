package syslog

import (
	"bufio"
	"bytes"
	"io"
	"unicode/utf8"
)

// framer splits a TCP stream into messages (RFC 6587), detecting the
// framing of each message: octet counting ("LEN SP MSG", the message
// starts with a digit and the digits end in a space) or non-transparent
// framing (the message ends at LF or NUL). A message longer than max is
// cut to max bytes (at a rune boundary) and the rest is skipped.
type framer struct {
	r   *bufio.Reader
	max int
	buf []byte
}

func newFramer(r *bufio.Reader, max int) *framer {
	return &framer{r: r, max: max}
}

// maxLenDigits bounds the length prefix of octet counting; more digits
// mean the message is not octet counted.
const maxLenDigits = 9

// next returns the next message, valid until the following call, and how
// many of its bytes were dropped for the limit. The error is the
// stream's (io.EOF at its end); a message the stream ends in is returned
// first, without error.
func (f *framer) next() ([]byte, int, error) {
	for {
		c, err := f.r.ReadByte()
		if err != nil {
			return nil, 0, err
		}
		if c != '\n' && c != '\r' && c != 0 {
			_ = f.r.UnreadByte()
			break
		}
	}
	f.buf = f.buf[:0]
	n := 0
	for len(f.buf) < maxLenDigits+1 {
		c, err := f.r.ReadByte()
		if err != nil {
			// The stream ended after digits: they are the message.
			dropped := max(0, len(f.buf)-f.max)
			return f.buf[:len(f.buf)-dropped], dropped, nil
		}
		if c >= '0' && c <= '9' && len(f.buf) < maxLenDigits {
			f.buf = append(f.buf, c)
			n = n*10 + int(c-'0')
			continue
		}
		if c == ' ' && len(f.buf) > 0 && n > 0 {
			return f.readCounted(n)
		}
		_ = f.r.UnreadByte()
		break
	}
	return f.readLine()
}

// readCounted reads a message of n bytes.
func (f *framer) readCounted(n int) ([]byte, int, error) {
	take := min(n, f.max)
	f.buf = append(f.buf[:0], make([]byte, take)...)
	got, err := io.ReadFull(f.r, f.buf)
	f.buf = f.buf[:got]
	if err != nil {
		// The stream ended inside the message: keep what came.
		return f.buf, n - got, nil
	}
	dropped := 0
	if n > take {
		// A stream that ends inside the skipped part ends at the next call.
		_, _ = f.r.Discard(n - take)
		dropped = n - take
		var cut int
		f.buf, cut = cutRune(f.buf)
		dropped += cut
	}
	return f.buf, dropped, nil
}

// readLine reads up to LF or NUL (dropping a CR before it).
func (f *framer) readLine() ([]byte, int, error) {
	dropped := 0
	if len(f.buf) > f.max { // digits read looking for a length
		dropped = len(f.buf) - f.max
		f.buf = f.buf[:f.max]
	}
	for {
		if f.r.Buffered() == 0 {
			if _, err := f.r.Peek(1); err != nil {
				if len(f.buf) > 0 || dropped > 0 {
					msg, d := f.finishLine(dropped)
					return msg, d, nil
				}
				return nil, 0, err
			}
		}
		chunk, _ := f.r.Peek(f.r.Buffered())
		end := indexEnd(chunk)
		n := end
		if n < 0 {
			n = len(chunk)
		}
		take := max(0, min(n, f.max-len(f.buf)))
		f.buf = append(f.buf, chunk[:take]...)
		dropped += n - take
		if end >= 0 {
			_, _ = f.r.Discard(end + 1)
			msg, d := f.finishLine(dropped)
			return msg, d, nil
		}
		_, _ = f.r.Discard(n)
	}
}

func (f *framer) finishLine(dropped int) ([]byte, int) {
	if dropped > 0 {
		var cut int
		f.buf, cut = cutRune(f.buf)
		return f.buf, dropped + cut
	}
	return bytes.TrimSuffix(f.buf, []byte{'\r'}), 0
}

// indexEnd is the index of the first LF or NUL in b, or -1.
func indexEnd(b []byte) int {
	i := bytes.IndexByte(b, '\n')
	search := b
	if i >= 0 {
		search = b[:i]
	}
	if j := bytes.IndexByte(search, 0); j >= 0 {
		return j
	}
	return i
}

// cutRune drops the bytes of a rune a cut left incomplete at the end of
// b, and says how many.
func cutRune(b []byte) ([]byte, int) {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return b[:i], len(b) - i
			}
			break
		}
	}
	return b, 0
}
