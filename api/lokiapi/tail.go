package lokiapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/websocket"

	"github.com/vigilhq/vigil/logs/logql"
	"github.com/vigilhq/vigil/storage/logs"
)

// Live tail over WebSocket, as Loki's /loki/api/v1/tail: the lines since
// start (at most limit) first, then every new matching line, in JSON
// messages {"streams":[...],"dropped_entries":[...]}. Lines are sent in
// batches at most every flushEvery; dropped_entries names lines the tail
// could not take (the client or this connection was too slow), so a tail
// never falls behind silently.

const (
	flushEvery   = 100 * time.Millisecond
	maxBatch     = 1000
	writeTimeout = 10 * time.Second
	pingEvery    = 30 * time.Second
	// dedupWindow: history lines this close to the subscription may
	// also arrive live; they are remembered and sent once.
	dedupWindow = 10 * time.Second
)

var upgrader = websocket.Upgrader{
	ReadBufferSize:  1024,
	WriteBufferSize: 32 << 10,
	// Browsers send Origin; the UI is same-origin. Cross-site pages are
	// refused as the rest of the API refuses them (auth tokens still
	// apply to both).
	CheckOrigin: func(r *http.Request) bool {
		o := r.Header.Get("Origin")
		return o == "" || o == "http://"+r.Host || o == "https://"+r.Host
	},
}

type tailStream struct {
	Stream map[string]string `json:"stream"`
	Values [][2]string       `json:"values"`
}

type droppedEntry struct {
	Labels    map[string]string `json:"labels"`
	Timestamp string            `json:"timestamp"`
}

type tailMessage struct {
	Streams        []tailStream   `json:"streams"`
	DroppedEntries []droppedEntry `json:"dropped_entries,omitempty"`
}

func (h *Handler) tail(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "cannot parse form: "+err.Error(), http.StatusBadRequest)
		return
	}
	q := r.Form.Get("query")
	if q == "" {
		h.writeError(w, r, &paramError{"query must not be empty"})
		return
	}
	lm, err := logql.NewLineMatcher(q)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	limit, err := parseLimit(r, 100, h.o.MaxLines)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	now := h.o.Now()
	start, err := parseTime("start", r.Form.Get("start"), now.Add(-time.Hour))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if h.o.Tail == nil {
		http.Error(w, "live tail is not available", http.StatusNotImplemented)
		return
	}
	// Subscribe before reading the history, so no line falls between
	// them; lines in both are sent once (history ends at subscription).
	sub, err := h.o.Tail.Subscribe(lm.Matchers(), 0)
	if err != nil {
		http.Error(w, err.Error(), http.StatusTooManyRequests)
		return
	}
	defer h.o.Tail.Unsubscribe(sub)
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered
	}
	defer conn.Close()

	// The client sends nothing; reading notices when it goes away.
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		conn.SetReadLimit(4096)
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}()

	send := func(m *tailMessage) bool {
		_ = conn.SetWriteDeadline(time.Now().Add(writeTimeout))
		return conn.WriteJSON(m) == nil
	}
	subscribed := h.o.Now()
	var sent map[string]struct{}
	if res, err := h.o.Engine.Query(r.Context(), logql.Params{Query: q, Start: start, End: subscribed, Limit: limit, Direction: logql.Forward}); err == nil {
		m, recent := historyMessage(res, subscribed.Add(-dedupWindow))
		if len(m.Streams) > 0 && !send(m) {
			return
		}
		sent = recent
	} else {
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseInternalServerErr, truncate(err.Error(), 120)), time.Now().Add(time.Second))
		return
	}

	deadline := time.NewTimer(h.o.MaxTail)
	defer deadline.Stop()
	flush := time.NewTicker(flushEvery)
	defer flush.Stop()
	ping := time.NewTicker(pingEvery)
	defer ping.Stop()
	pending := &tailMessage{}
	index := map[string]int{}
	lines := 0
	add := func(rec *logs.Record) {
		ls, line, ok := lm.Process(rec)
		if !ok {
			return
		}
		ts := strconv.FormatInt(rec.Time.UnixNano(), 10)
		if _, dup := sent[ts+"\x00"+line]; dup {
			return // stored between subscribing and reading the history
		}
		key := ls.String()
		i, seen := index[key]
		if !seen {
			i = len(pending.Streams)
			index[key] = i
			pending.Streams = append(pending.Streams, tailStream{Stream: ls.Map()})
		}
		pending.Streams[i].Values = append(pending.Streams[i].Values, [2]string{ts, line})
		lines++
	}
	flushPending := func() bool {
		n, sample := sub.TakeDropped()
		if n > 0 {
			for _, d := range sample {
				ls, err := h.o.Streams.Labels(d.Stream)
				if err != nil {
					continue
				}
				pending.DroppedEntries = append(pending.DroppedEntries, droppedEntry{Labels: ls.Map(), Timestamp: strconv.FormatInt(d.Time.UnixNano(), 10)})
			}
			// More were dropped than are named: the rest are reported
			// under one entry with the count, so the total is visible.
			if rest := n - len(sample); rest > 0 {
				pending.DroppedEntries = append(pending.DroppedEntries, droppedEntry{Labels: map[string]string{"__dropped_unnamed__": strconv.Itoa(rest)}, Timestamp: strconv.FormatInt(time.Now().UnixNano(), 10)})
			}
		}
		if lines == 0 && len(pending.DroppedEntries) == 0 {
			return true
		}
		ok := send(pending)
		pending, lines = &tailMessage{}, 0
		clear(index)
		return ok
	}
	for {
		select {
		case <-gone:
			return
		case <-r.Context().Done():
			return
		case <-deadline.C:
			flushPending()
			_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "tail duration limit reached"), time.Now().Add(time.Second))
			return
		case batch := <-sub.C():
			for i := range batch {
				add(&batch[i])
			}
			if lines >= maxBatch && !flushPending() {
				return
			}
		case <-flush.C:
			if !flushPending() {
				return
			}
		case <-ping.C:
			if conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeTimeout)) != nil {
				return
			}
		}
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
