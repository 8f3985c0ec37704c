package otlp

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/vigilhq/vigil/ingest"
)

// exchange is what the receivers of every signal share: the OTLP/HTTP
// framing (content types, gzip, body limit, google.rpc.Status errors in the
// request's encoding), the gRPC error mapping, and the request counter.
type exchange struct {
	protocol        string
	maxRequestBytes int64
	metrics         *ingest.Metrics
}

// requestError is a whole request refused for what it is (too many points).
type requestError struct{ msg string }

func (e *requestError) Error() string { return e.msg }

// decodeError is a body that is not a valid OTLP message.
type decodeError struct{ err error }

func (e *decodeError) Error() string { return e.err.Error() }

func isClientError(err error) bool {
	var re *requestError
	var de *decodeError
	return errors.As(err, &re) || errors.As(err, &de)
}

// count records a request by the HTTP status it got (gRPC codes are
// counted as their HTTP equivalents, so one label serves both).
func (x *exchange) count(code int) {
	if x.metrics != nil {
		x.metrics.Requests.WithLabelValues(x.protocol, strconv.Itoa(code)).Inc()
	}
}

// grpcError maps a store error to a gRPC status: InvalidArgument for what
// the client sent, Unavailable (retryable) for a storage failure.
func (x *exchange) grpcError(err error) error {
	if isClientError(err) {
		x.count(http.StatusBadRequest)
		return status.Error(codes.InvalidArgument, err.Error())
	}
	x.count(http.StatusServiceUnavailable)
	return status.Error(codes.Unavailable, err.Error())
}

// encoding is one of OTLP/HTTP's two body encodings.
type encoding struct{ json bool }

func (e encoding) name() string {
	if e.json {
		return "JSON"
	}
	return "protobuf"
}

func (e encoding) contentType() string {
	if e.json {
		return "application/json"
	}
	return "application/x-protobuf"
}

func (e encoding) marshalStatus(s *status.Status) ([]byte, error) {
	if e.json {
		return protojson.Marshal(s.Proto())
	}
	return proto.Marshal(s.Proto())
}

// serveHTTP runs one OTLP/HTTP export: it checks the method and content
// type, reads the (possibly gzipped) body within the limit, and lets
// handle decode, store and encode the response. A *decodeError or
// *requestError from handle is a 400, anything else a 503, which OTLP
// exporters retry with backoff.
func (x *exchange) serveHTTP(w http.ResponseWriter, r *http.Request, signal string, handle func(ctx context.Context, enc encoding, body []byte) ([]byte, error)) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		x.count(http.StatusMethodNotAllowed)
		http.Error(w, "only POST is allowed", http.StatusMethodNotAllowed)
		return
	}
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var enc encoding
	switch {
	case err != nil:
		x.count(http.StatusUnsupportedMediaType)
		http.Error(w, fmt.Sprintf("invalid Content-Type %q: use application/x-protobuf or application/json", r.Header.Get("Content-Type")), http.StatusUnsupportedMediaType)
		return
	case mediaType == "application/x-protobuf":
	case mediaType == "application/json":
		enc.json = true
	default:
		x.count(http.StatusUnsupportedMediaType)
		http.Error(w, fmt.Sprintf("unsupported Content-Type %q: use application/x-protobuf or application/json", mediaType), http.StatusUnsupportedMediaType)
		return
	}
	body, berr := ingest.ReadBody(r, x.maxRequestBytes)
	if berr != nil {
		x.writeStatus(w, enc, berr.Status, berr.Msg)
		return
	}
	out, err := handle(r.Context(), enc, body)
	var de *decodeError
	switch {
	case errors.As(err, &de):
		x.writeStatus(w, enc, http.StatusBadRequest, fmt.Sprintf("cannot decode OTLP %s request (%s): %v", signal, enc.name(), de.err))
		return
	case err != nil && isClientError(err):
		x.writeStatus(w, enc, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		x.writeStatus(w, enc, http.StatusServiceUnavailable, err.Error())
		return
	}
	x.count(http.StatusOK)
	w.Header().Set("Content-Type", enc.contentType())
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

// writeStatus answers an error with a google.rpc.Status in the request's
// encoding, as the OTLP/HTTP specification asks.
func (x *exchange) writeStatus(w http.ResponseWriter, enc encoding, httpStatus int, msg string) {
	x.count(httpStatus)
	code := codes.InvalidArgument
	switch httpStatus {
	case http.StatusServiceUnavailable:
		code = codes.Unavailable
	case http.StatusInternalServerError:
		code = codes.Internal
	case http.StatusRequestEntityTooLarge:
		code = codes.ResourceExhausted
	}
	body, err := enc.marshalStatus(status.New(code, msg))
	if err != nil {
		http.Error(w, msg, httpStatus)
		return
	}
	w.Header().Set("Content-Type", enc.contentType())
	w.WriteHeader(httpStatus)
	_, _ = w.Write(body)
}
