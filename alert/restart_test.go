package alert

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/prometheus/alertmanager/nflog"
	"github.com/prometheus/alertmanager/nflog/nflogpb"
)

// Silences and the notification log survive a restart over the same
// data directory, so a restart neither forgets a silence nor sends again
// what was sent before it (within repeat_interval).
func TestRestartKeepsSilencesAndNotificationLog(t *testing.T) {
	t.Parallel()
	sink := newWebhookSink(t)
	conf := writeFile(t, t.TempDir(), "alertmanager.yml", hookConfig(sink, apiConfig))
	dir := t.TempDir()

	first := startAM(t, Options{DataDir: dir, ConfigFile: conf}, "")
	id := createSilence(t, first, "instance", "quiet")
	sent := firing("alertname", "Restart", "instance", "db1")
	put(t, first, sent)
	msg := sink.wait(t, "hook", 1)[0]
	first.stop() // the final snapshots are written when Run's ctx ends
	for _, f := range []string{"silences", "nflog"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Size() == 0 {
			t.Fatalf("snapshot %s after shutdown: %v (size %v)", f, err, fi)
		}
	}

	second := startAM(t, Options{DataDir: dir, ConfigFile: conf}, "")
	if st := silenceStates(t, second); st[id] != "active" {
		t.Errorf("silences after restart = %v, want %s active", st, id)
	}
	entries, err := second.nflog.Query(
		nflog.QGroupKey(msg.GroupKey),
		nflog.QReceiver(&nflogpb.Receiver{GroupName: "hook", Integration: "webhook", Idx: 0}))
	if err != nil || len(entries) != 1 {
		t.Fatalf("notification log after restart for %s: %v, %v; want one entry", msg.GroupKey, entries, err)
	}
	if n := len(entries[0].FiringAlerts); n != 1 {
		t.Errorf("notification log has %d firing alerts, want the one sent", n)
	}

	// Prometheus sends the firing alert again, as it does on every
	// evaluation. A control alert, in a group of its own, goes through
	// the same pipeline after it: once it is out, a duplicate would be
	// out too.
	again := *sent
	put(t, second, &again)
	put(t, second, firing("alertname", "Control", "instance", "control"), firing("alertname", "Control", "instance", "quiet"))
	ctl := sink.wait(t, "hook", 2)[1]
	if ctl.GroupKey != `{}:{alertname="Control"}` {
		t.Fatalf("second message is %s, want the control group's: the alert sent before the restart was sent again", ctl.GroupKey)
	}
	// The silence restored mutes too, not just lists.
	if got := ctl.instances(); !slices.Equal(got, []string{"control"}) {
		t.Errorf("control message has %v, want the silenced alert left out", got)
	}
	if got := listAlerts(t, second)["quiet"]; got == nil || !slices.Equal(got.Status.SilencedBy, []string{id}) {
		t.Errorf("alert quiet after restart: %+v, want silenced by %s", got, id)
	}
}
