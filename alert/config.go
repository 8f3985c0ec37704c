package alert

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/prometheus/alertmanager/config"
)

// defaultConfig routes every alert to a receiver with no integrations:
// without an Alertmanager file, alerts are still grouped, silenced,
// listed by the API, recorded in the history and handed to actions, but
// sent nowhere.
const defaultConfig = `
route:
  receiver: default
  group_by: ['alertname']
receivers:
  - name: default
`

// DefaultConfig is the configuration used when no file is given.
func DefaultConfig() *config.Config {
	c, err := config.Load(defaultConfig)
	if err != nil {
		panic(err) // a constant that does not parse is a bug
	}
	return c
}

// LoadConfig reads an Alertmanager configuration file with Alertmanager's
// own loader, so a file that works there works here. An error names the
// file and, where it can be found, the line.
func LoadConfig(path string) (*config.Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := loadFile(path)
	if err != nil {
		return nil, placeError(path, data, err)
	}
	return c, nil
}

// loadFile is config.LoadFile, which reads template and secret file
// paths relative to the configuration file, as in Alertmanager. Its
// validation dereferences a null list item (v0.31 panics on `routes:
// [~]`, found by FuzzLoadConfig); recovering turns that into an error,
// so a bad file given to Reload cannot take the server down.
func loadFile(path string) (c *config.Config, err error) {
	defer func() {
		if r := recover(); r != nil {
			c, err = nil, fmt.Errorf("cannot validate the configuration (look for an empty list item): %v", r)
		}
	}()
	return config.LoadFile(path)
}

// CheckConfig validates an Alertmanager configuration file the way
// `amtool check-config` does: the file and its templates.
func CheckConfig(path string) error {
	c, err := LoadConfig(path)
	if err != nil {
		return err
	}
	if _, err := loadTemplates(c); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

var (
	yamlLine = regexp.MustCompile(`line (\d+)`)
	quoted   = regexp.MustCompile(`"([^"]+)"|'([^']+)'`)
)

// placeError prefixes an error with file:line. YAML errors carry their
// line; Alertmanager's semantic errors (an undefined receiver, a missing
// time interval) name the offending value in quotes, so the line is the
// first one that holds that value; when neither helps only the file is
// named.
func placeError(path string, data []byte, err error) error {
	msg := err.Error()
	if yamlLine.MatchString(msg) {
		return fmt.Errorf("%s: %s", path, msg)
	}
	if m := quoted.FindStringSubmatch(msg); m != nil {
		name := m[1] + m[2]
		if line := lineOf(data, name); line > 0 {
			return fmt.Errorf("%s:%d: %s", path, line, msg)
		}
	}
	return fmt.Errorf("%s: %s", path, msg)
}

// lineOf returns the first line (from 1) that has name as a YAML value,
// bare or quoted; 0 if none.
func lineOf(data []byte, name string) int {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		for _, v := range []string{name, `"` + name + `"`, `'` + name + `'`} {
			if strings.HasSuffix(strings.TrimSpace(line), ": "+v) || strings.HasSuffix(strings.TrimSpace(line), "- "+v) ||
				strings.Contains(line, "["+v) || strings.Contains(line, ", "+v) {
				return n
			}
		}
	}
	return 0
}
