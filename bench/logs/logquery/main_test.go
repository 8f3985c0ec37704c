package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const vigilStreams = `{"status":"success","data":{"resultType":"streams","result":[
 {"stream":{"service_name":"a"},"values":[["1","payment rare-token-0 declined"],["2","payment rare-token-1 declined"]]},
 {"stream":{"service_name":"b"},"values":[["3","payment rare-token-2 declined"]]}]}}`

const vlogsLines = `{"_msg":"payment rare-token-0 declined","_time":"2026-12-01T00:00:00Z"}
{"_msg":"payment rare-token-1 declined","_time":"2026-12-01T00:00:01Z"}

{"_msg":"payment rare-token-2 declined","_time":"2026-12-01T00:00:02Z"}
`

const matrix = `{"status":"success","data":{"resultType":"matrix","result":[
 {"metric":{"level":"info"},"values":[[1,"3"],[301,"4"]]},
 {"metric":{"level":"error"},"values":[[1,"1"]]}]}}`

func TestParseLines(t *testing.T) {
	f := func(dialect, body string, want int, wantErr bool) {
		t.Helper()
		got, err := parseLines(dialect, []byte(body))
		if (err != nil) != wantErr {
			t.Fatalf("%s %.40q: error %v, want error %v", dialect, body, err, wantErr)
		}
		if len(got) != want {
			t.Fatalf("%s %.40q: %d lines, want %d", dialect, body, len(got), want)
		}
		for _, m := range got {
			if !strings.Contains(m, "rare-token") {
				t.Fatalf("message %q", m)
			}
		}
	}
	f("vigil", vigilStreams, 3, false)
	f("vigil", `{"status":"success","data":{"resultType":"streams","result":[]}}`, 0, false)
	f("vigil", matrix, 0, true)
	f("vigil", `{"status":"error"}`, 0, true)
	f("vigil", `not json`, 0, true)
	f("vlogs", vlogsLines, 3, false)
	f("vlogs", "", 0, false)
	f("vlogs", `{"_time":"x"}`, 0, true)
	f("vlogs", `{"_msg":`, 0, true)
}

func TestParseMatrix(t *testing.T) {
	got, err := parseMatrix([]byte(matrix), "level")
	if err != nil {
		t.Fatal(err)
	}
	if got["info"] != 7 || got["error"] != 1 || len(got) != 2 {
		t.Fatalf("got %v, want info 7, error 1", got)
	}
	for _, bad := range []string{
		vigilStreams,
		`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,2]]}]}}`,
		`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1.5"]]}]}}`,
		`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"-1"]]}]}}`,
	} {
		if _, err := parseMatrix([]byte(bad), "level"); err == nil {
			t.Errorf("%.80s: no error", bad)
		}
	}
}

// TestRun runs every query against a fake server for each dialect, once
// answering right and once answering one line short: the second must fail.
func TestRun(t *testing.T) {
	load := Load{StartUnixNano: 1e18, EndUnixNano: 1e18 + 6*3600e9, Needle: "rare-token", NeedleLines: 3,
		PerLevel: map[string]int{"info": 7, "error": 1}}
	load.Focus.Service, load.Focus.Level, load.Focus.Word, load.Focus.Lines = "checkout", "error", "timeout", 2
	b, _ := json.Marshal(load)
	loadFile := filepath.Join(t.TempDir(), "load.json")
	if err := os.WriteFile(loadFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dialect := range []string{"vigil", "vlogs"} {
		for _, short := range []bool{false, true} {
			var paths []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				paths = append(paths, r.URL.Path)
				q := r.URL.Query().Get("query")
				n := 3
				switch {
				case strings.Contains(q, "count"):
					fmt.Fprint(w, matrix)
					return
				case strings.Contains(q, "checkout"):
					n = 2
				}
				if short {
					n--
				}
				var buf bytes.Buffer
				if dialect == "vigil" {
					buf.WriteString(`{"status":"success","data":{"resultType":"streams","result":[{"stream":{},"values":[`)
					for i := range n {
						if i > 0 {
							buf.WriteByte(',')
						}
						fmt.Fprintf(&buf, `["%d","rare-token %d timeout"]`, i, i)
					}
					buf.WriteString(`]}]}}`)
				} else {
					for i := range n {
						fmt.Fprintf(&buf, `{"_msg":"rare-token %d timeout"}`+"\n", i)
					}
				}
				w.Write(buf.Bytes())
			}))
			var out bytes.Buffer
			err := run(t.Context(), []string{"-url", srv.URL, "-dialect", dialect, "-load", loadFile, "-n", "2"}, &out)
			srv.Close()
			if short && (err == nil || !strings.Contains(out.String(), "WRONG ANSWER")) {
				t.Errorf("%s: short answers: error %v, output:\n%s", dialect, err, out.String())
			}
			if !short && err != nil {
				t.Errorf("%s: %v, output:\n%s", dialect, err, out.String())
			}
			if len(paths) != 9 {
				t.Errorf("%s: %d requests, want 3 queries × (warm-up + 2)", dialect, len(paths))
			}
		}
	}
}

func FuzzParseLines(f *testing.F) {
	f.Add(vigilStreams)
	f.Add(vlogsLines)
	f.Add(matrix)
	f.Add(`{"status":"success","data":{"resultType":"streams","result":[{"values":[["1"]]}]}}`)
	f.Fuzz(func(t *testing.T, body string) {
		for _, d := range []string{"vigil", "vlogs"} {
			got, err := parseLines(d, []byte(body))
			if err != nil && got != nil {
				t.Fatalf("%s: lines %q with error %v", d, got, err)
			}
		}
	})
}

func FuzzParseMatrix(f *testing.F) {
	f.Add(matrix)
	f.Add(vigilStreams)
	f.Add(`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"level":"x"},"values":[[1,"1e3"]]}]}}`)
	f.Fuzz(func(t *testing.T, body string) {
		got, err := parseMatrix([]byte(body), "level")
		if err != nil {
			if got != nil {
				t.Fatalf("counts %v with error %v", got, err)
			}
			return
		}
		for k, n := range got {
			if n < 0 {
				t.Fatalf("%s: negative count %d", k, n)
			}
		}
	})
}
