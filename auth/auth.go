// Package auth checks the optional bearer tokens. Writing (ingest) and
// reading (queries, UI data) have separate tokens; an empty token leaves
// that side open. Answers to a missing or wrong token say nothing about
// which of the two was wrong, and tokens are never logged.
package auth

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Tokens are the configured bearer tokens.
type Tokens struct {
	Write string
	Read  string
}

// RequireWrite guards an ingest handler.
func (t Tokens) RequireWrite(next http.Handler) http.Handler { return require(t.Write, next) }

// RequireRead guards a query handler.
func (t Tokens) RequireRead(next http.Handler) http.Handler { return require(t.Read, next) }

func require(token string, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !match(token, r.Header.Get("Authorization")) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="vigil"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// match compares in constant time so response timing does not reveal how
// much of a guessed token was right.
func match(token, header string) bool {
	const prefix = "bearer "
	if len(header) < len(prefix) || !strings.EqualFold(header[:len(prefix)], prefix) {
		return false
	}
	got := strings.TrimSpace(header[len(prefix):])
	return subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
}

// GRPCWrite returns interceptors that require the write token on every
// call (OTLP/gRPC is ingest only), or none when no token is set.
func (t Tokens) GRPCWrite() []grpc.ServerOption {
	if t.Write == "" {
		return nil
	}
	check := t.checkGRPCWrite
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if err := check(ctx); err != nil {
				return nil, err
			}
			return h(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if err := check(ss.Context()); err != nil {
				return err
			}
			return h(srv, ss)
		}),
	}
}

// checkGRPCWrite accepts a call that carries the write token.
func (t Tokens) checkGRPCWrite(ctx context.Context) error {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		if match(t.Write, v) {
			return nil
		}
	}
	return status.Error(codes.Unauthenticated, "unauthorized")
}
