package tail

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/vigilhq/vigil/storage/logs"
)

func recs(stream string, n int) []logs.Record {
	out := make([]logs.Record, n)
	for i := range out {
		out[i] = logs.Record{Stream: stream, Time: time.Unix(int64(i), 0), Body: "line"}
	}
	return out
}

const (
	checkout = `{level="info", service_name="checkout"}`
	payments = `{level="error", service_name="payments"}`
)

func TestPublishFiltersBySelector(t *testing.T) {
	b := New(0, nil)
	s, err := b.Subscribe([]*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "service_name", "checkout")}, 4)
	if err != nil {
		t.Fatal(err)
	}
	b.Publish(recs(payments, 3))
	mixed := append(recs(checkout, 2), recs(payments, 2)...)
	mixed = append(mixed, recs(checkout, 1)...)
	b.Publish(mixed)
	select {
	case got := <-s.C():
		if len(got) != 3 {
			t.Fatalf("got %d records, want the 3 of checkout", len(got))
		}
		for _, r := range got {
			if r.Stream != checkout {
				t.Fatalf("got a record of %s", r.Stream)
			}
		}
	default:
		t.Fatal("nothing delivered")
	}
	select {
	case got := <-s.C():
		t.Fatalf("a batch of no matching records was delivered: %v", got)
	default:
	}
}

func TestFullQueueDropsAndReports(t *testing.T) {
	b := New(0, nil)
	s, _ := b.Subscribe([]*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, "service_name", ".+")}, 1)
	b.Publish(recs(checkout, 2))
	b.Publish(recs(payments, 150)) // queue full: dropped
	n, sample := s.TakeDropped()
	if n != 150 || len(sample) != maxSample || sample[0].Stream != payments {
		t.Fatalf("dropped %d, sample %d (%v)", n, len(sample), sample[:1])
	}
	if v := testutil.ToFloat64(b.dropped); v != 150 {
		t.Errorf("dropped counter = %v", v)
	}
	if n, _ := s.TakeDropped(); n != 0 {
		t.Errorf("TakeDropped did not reset: %d", n)
	}
	<-s.C()
	b.Publish(recs(checkout, 1))
	if got := <-s.C(); len(got) != 1 {
		t.Fatalf("after draining, got %d", len(got))
	}
}

func TestUnsubscribeAndLimit(t *testing.T) {
	b := New(2, nil)
	m := []*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, "service_name", ".+")}
	s1, _ := b.Subscribe(m, 1)
	if _, err := b.Subscribe(m, 1); err != nil {
		t.Fatal(err)
	}
	var tooMany ErrTooManyTails
	if _, err := b.Subscribe(m, 1); !errors.As(err, &tooMany) {
		t.Fatalf("third tail: %v", err)
	}
	b.Unsubscribe(s1)
	b.Publish(recs(checkout, 1))
	select {
	case <-s1.C():
		t.Fatal("an unsubscribed tail got records")
	default:
	}
	if _, err := b.Subscribe(m, 1); err != nil {
		t.Fatalf("after unsubscribe: %v", err)
	}
}

func TestConcurrentPublish(t *testing.T) {
	b := New(0, nil)
	s, _ := b.Subscribe([]*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, "service_name", ".+")}, 1000)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				b.Publish(recs(checkout, 2))
			}
		})
	}
	wg.Wait()
	got := 0
	for len(s.C()) > 0 {
		got += len(<-s.C())
	}
	n, _ := s.TakeDropped()
	if got+n != 800 {
		t.Fatalf("delivered %d + dropped %d, want 800", got, n)
	}
}
