package ingest

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// BodyError is why a request body could not be read, with the HTTP status
// to answer.
type BodyError struct {
	Status int
	Msg    string
}

func (e *BodyError) Error() string { return e.Msg }

// ReadBody reads a request body of at most limit bytes after
// decompression, accepting Content-Encoding gzip or none, as the push
// protocols that allow compression (OTLP/HTTP, Zipkin) do.
func ReadBody(r *http.Request, limit int64) ([]byte, *BodyError) {
	tooLarge := &BodyError{http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than the limit of %d bytes (limits.max_request_bytes)", limit)}
	var src io.Reader = http.MaxBytesReader(nil, r.Body, limit)
	switch strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))) {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(src)
		if err != nil {
			if isTooLarge(err) {
				return nil, tooLarge
			}
			return nil, &BodyError{http.StatusBadRequest, "cannot read request body: Content-Encoding is gzip but the body is not: " + err.Error()}
		}
		defer zr.Close()
		src = zr
	default:
		return nil, &BodyError{http.StatusUnsupportedMediaType, "unsupported Content-Encoding: use gzip or none"}
	}
	var buf bytes.Buffer
	// One byte more than the limit tells a body that is too large after
	// decompression from one that is exactly at it.
	n, err := buf.ReadFrom(io.LimitReader(src, limit+1))
	switch {
	case isTooLarge(err) || n > limit:
		return nil, tooLarge
	case err != nil:
		return nil, &BodyError{http.StatusBadRequest, "cannot read request body: " + err.Error()}
	}
	return buf.Bytes(), nil
}

func isTooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}
