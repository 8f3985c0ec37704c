package auth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func TestRequire(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) })
	tok := Tokens{Write: "w-token", Read: "r-token"}
	f := func(h http.Handler, header string, want int) {
		t.Helper()
		req := httptest.NewRequest("GET", "/", nil)
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("Authorization %q: status %d, want %d", header, rec.Code, want)
		}
		if want == 401 {
			if rec.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if b := rec.Body.String(); b != "unauthorized\n" {
				t.Errorf("401 body %q leaks detail", b)
			}
		}
	}
	f(tok.RequireWrite(ok), "Bearer w-token", 204)
	f(tok.RequireWrite(ok), "bearer w-token", 204)
	f(tok.RequireWrite(ok), "Bearer r-token", 401)
	f(tok.RequireWrite(ok), "", 401)
	f(tok.RequireWrite(ok), "Basic dzp0b2tlbg==", 401)
	f(tok.RequireRead(ok), "Bearer r-token", 204)
	f(tok.RequireRead(ok), "Bearer w-token", 401)
	f(tok.RequireRead(ok), "Bearer r-token-and-more", 401)
	// No token configured: open.
	f(Tokens{}.RequireRead(ok), "", 204)
}

func TestGRPCWrite(t *testing.T) {
	if len((Tokens{}).GRPCWrite()) != 0 {
		t.Error("no token must install no interceptor")
	}
	if n := len(Tokens{Write: "w"}.GRPCWrite()); n != 2 {
		t.Fatalf("%d options, want unary and stream interceptors", n)
	}
	check := func(md metadata.MD, want codes.Code) {
		t.Helper()
		err := Tokens{Write: "w"}.checkGRPCWrite(metadata.NewIncomingContext(context.Background(), md))
		if status.Code(err) != want {
			t.Errorf("md %v: %v, want %v", md, err, want)
		}
	}
	check(metadata.Pairs("authorization", "Bearer w"), codes.OK)
	check(metadata.Pairs("authorization", "Bearer x"), codes.Unauthenticated)
	check(metadata.MD{}, codes.Unauthenticated)
}
