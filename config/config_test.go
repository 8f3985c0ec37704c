package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultsAreLoopbackAndValid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{c.HTTP.Addr, c.OTLP.GRPCAddr, c.OTLP.HTTPAddr} {
		if !strings.HasPrefix(addr, "127.0.0.1:") {
			t.Errorf("default address %s is not loopback", addr)
		}
	}
	if c.OTLP.GRPCAddr != "127.0.0.1:4317" || c.OTLP.HTTPAddr != "127.0.0.1:4318" {
		t.Errorf("OTLP defaults = %s, %s", c.OTLP.GRPCAddr, c.OTLP.HTTPAddr)
	}
}

func TestLoadFileOverDefaults(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "vigil.yml")
	os.WriteFile(p, []byte(`
data_dir: /var/lib/vigil
storage:
  retention_time: 30d
  retention_size: 10GB
limits:
  max_series_per_metric: 5
scrape_configs:
  - job_name: node
    scrape_interval: 5s
    static_configs:
      - targets: ["localhost:9100"]
`), 0o644)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "/var/lib/vigil" || time.Duration(c.Storage.RetentionTime) != 30*24*time.Hour || c.Storage.RetentionSize != 10<<30 {
		t.Errorf("loaded %+v", c.Storage)
	}
	if c.Limits.MaxSeriesPerMetric != 5 || c.Limits.MaxLabelsPerSeries != Default().Limits.MaxLabelsPerSeries {
		t.Errorf("limits %+v: set key not applied or unset key lost its default", c.Limits)
	}
	if c.HTTP.Addr != "127.0.0.1:9090" {
		t.Errorf("unset http.addr = %q", c.HTTP.Addr)
	}
	pc, err := c.Prometheus()
	if err != nil {
		t.Fatal(err)
	}
	if len(pc.ScrapeConfigs) != 1 || pc.ScrapeConfigs[0].JobName != "node" || time.Duration(pc.ScrapeConfigs[0].ScrapeInterval) != 5*time.Second {
		t.Errorf("scrape configs = %+v", pc.ScrapeConfigs)
	}
}

func TestLoadRejectsMistakes(t *testing.T) {
	f := func(yml, want string) {
		t.Helper()
		p := filepath.Join(t.TempDir(), "c.yml")
		os.WriteFile(p, []byte(yml), 0o644)
		c, err := Load(p)
		if err == nil {
			err = c.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("config %q: error %v, want one mentioning %q", yml, err, want)
		}
	}
	f("retention: 5d\n", "field retention not found")
	f("storage:\n  retention_size: lots\n", "invalid size")
	f("http:\n  addr: nonsense\n", "http.addr")
	f("scrape_configs:\n  - job_name: x\n    kubernetes_sd_configs: [{}]\n", "kubernetes_sd_configs")
	f("scrape_configs:\n  - job_name: x\n  - job_name: x\n", "x")
	f("log:\n  level: loud\n", "log.level")
}

func TestScrapeShorthand(t *testing.T) {
	c := Default()
	c.Scrape.Targets = []string{"localhost:8000"}
	c.Scrape.FileSD = []string{"/etc/vigil/targets/*.json"}
	pc, err := c.Prometheus()
	if err != nil {
		t.Fatal(err)
	}
	if len(pc.ScrapeConfigs) != 1 || pc.ScrapeConfigs[0].JobName != "vigil-scrape" || len(pc.ScrapeConfigs[0].ServiceDiscoveryConfigs) != 2 {
		t.Fatalf("shorthand = %+v", pc.ScrapeConfigs)
	}
	if time.Duration(pc.ScrapeConfigs[0].ScrapeInterval) != 15*time.Second {
		t.Errorf("interval = %v", pc.ScrapeConfigs[0].ScrapeInterval)
	}
}

func TestResolveTokens(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "w"), []byte("s3cret\n"), 0o600)
	c := Default()
	c.Auth.WriteTokenFile = filepath.Join(dir, "w")
	env := map[string]string{"VIGIL_READ_TOKEN": "r3ad", "VIGIL_WRITE_TOKEN": "ignored: the file wins"}
	if err := c.Resolve(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if c.Auth.WriteToken != "s3cret" || c.Auth.ReadToken != "r3ad" {
		t.Errorf("tokens = %q %q", c.Auth.WriteToken, c.Auth.ReadToken)
	}
	os.WriteFile(filepath.Join(dir, "empty"), nil, 0o600)
	c.Auth.WriteTokenFile = filepath.Join(dir, "empty")
	if err := c.Resolve(func(string) string { return "" }); err == nil {
		t.Error("an empty token file must be an error, not an open door")
	}
}
