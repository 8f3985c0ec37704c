package history

import (
	"slices"
	"testing"
	"time"
)

func TestDiff(t *testing.T) {
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	e := func(fp, state string, m int) Event {
		return Event{Time: at(m), Fingerprint: fp, AlertName: "A" + fp, State: state, Detail: "d"}
	}
	prev := map[string]Event{
		"1": e("1", StatePending, 0),
		"2": e("2", StateFiring, 0),
		"3": e("3", StateFiring, 0),
		"4": e("4", StatePending, 0),
		"5": e("5", StateSilenced, 0),
	}
	cur := map[string]Event{
		"1": e("1", StateFiring, 2),
		"2": e("2", StateFiring, 2), // unchanged: no event
		"6": e("6", StatePending, 1),
	}
	got := Diff(prev, cur, at(3))
	var s []string
	for _, g := range got {
		s = append(s, g.Fingerprint+":"+g.Previous+">"+g.State+"@"+g.Time.Sub(t0).String())
	}
	want := []string{
		"6:>pending@1m0s",
		"1:pending>firing@2m0s",
		"3:firing>resolved@3m0s",
		"4:pending>inactive@3m0s",
	}
	if !slices.Equal(s, want) {
		t.Errorf("got %q, want %q", s, want)
	}
	for _, g := range got {
		if g.State == StateResolved && (g.AlertName != "A3" || g.Detail != "") {
			t.Errorf("vanished alert keeps its identity but not its detail: %+v", g)
		}
	}
	if d := Diff(cur, cur, at(4)); len(d) != 0 {
		t.Errorf("no change gave %v", d)
	}
}
