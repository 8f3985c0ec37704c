package report

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// maxResponse bounds what is read of an answer: the report's queries
// return one series, so anything near this is not an answer to them.
const maxResponse = 16 << 20

// HTTPQueryFunc runs queries through the Prometheus HTTP API at baseURL
// (http://127.0.0.1:9090), GET /api/v1/query, sending token as a bearer
// token when not empty. client nil means http.DefaultClient. The
// returned function is safe for concurrent use if client is.
func HTTPQueryFunc(baseURL, token string, client *http.Client) QueryFunc {
	if client == nil {
		client = http.DefaultClient
	}
	endpoint := strings.TrimRight(baseURL, "/") + "/api/v1/query"
	return func(ctx context.Context, expr string, t time.Time) (model.Vector, error) {
		params := url.Values{"query": {expr}, "time": {strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)}}
		body, err := get(ctx, client, endpoint+"?"+params.Encode(), token)
		if err != nil {
			return nil, err
		}
		var resp struct {
			Status string `json:"status"`
			Data   struct {
				ResultType string          `json:"resultType"`
				Result     json.RawMessage `json:"result"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &resp); err != nil {
			return nil, fmt.Errorf("cannot decode the answer of %s: %w", endpoint, err)
		}
		switch resp.Data.ResultType {
		case "vector":
			var v model.Vector
			if err := json.Unmarshal(resp.Data.Result, &v); err != nil {
				return nil, fmt.Errorf("cannot decode the vector from %s: %w", endpoint, err)
			}
			return v, nil
		case "scalar":
			var s model.Scalar
			if err := json.Unmarshal(resp.Data.Result, &s); err != nil {
				return nil, fmt.Errorf("cannot decode the scalar from %s: %w", endpoint, err)
			}
			return model.Vector{{Metric: model.Metric{}, Value: s.Value, Timestamp: s.Timestamp}}, nil
		default:
			return nil, fmt.Errorf("%s answered a %q result; want a vector or a scalar", endpoint, resp.Data.ResultType)
		}
	}
}

// get fetches u and returns the body of a 2xx answer; other answers
// become an error carrying the server's message.
func get(ctx context.Context, client *http.Client, u, token string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("cannot build a request to %s: %w", redactQuery(u), err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach %s: %w", redactQuery(u), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read the answer of %s: %w", redactQuery(u), err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s answered %s: %s", redactQuery(u), resp.Status, serverMessage(body))
	}
	if len(body) > maxResponse {
		return nil, fmt.Errorf("the answer of %s is larger than %d bytes", redactQuery(u), maxResponse)
	}
	return body, nil
}

// serverMessage is the error of a Prometheus-style error body, or the
// start of any other body (a proxy's page, auth's "unauthorized").
func serverMessage(body []byte) string {
	var e struct {
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		if e.ErrorType != "" {
			return e.ErrorType + ": " + e.Error
		}
		return e.Error
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 512 {
		s = s[:512] + "…"
	}
	if s == "" {
		return "(no message)"
	}
	return s
}

// redactQuery drops the query string from error messages (it repeats
// the whole PromQL, which the caller's own error already names) and any
// password in the URL.
func redactQuery(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "the server (unparsable URL)"
	}
	p.RawQuery = ""
	return p.Redacted()
}
