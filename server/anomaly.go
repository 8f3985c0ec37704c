package server

import (
	"fmt"
	"net/http"

	"github.com/vigilhq/vigil/watch"
)

// serveAnomalies is GET /api/v1/anomalies: every anomaly rule, its
// settings and the series it watches with their last point and band.
// ?rule=NAME keeps one rule (404 when there is none of that name).
func (s *Server) serveAnomalies(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeAPIError(w, http.StatusMethodNotAllowed, "bad_data", "method not allowed: use GET")
		return
	}
	st := s.anomalies.Status()
	if name := r.FormValue("rule"); name != "" {
		var one []watch.RuleStatus
		for _, x := range st {
			if x.Name == name {
				one = append(one, x)
			}
		}
		if len(one) == 0 {
			writeAPIError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no anomaly rule named %q", name))
			return
		}
		st = one
	}
	writeAPIData(w, st)
}
