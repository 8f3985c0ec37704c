// Package version describes this build. Version, Revision and BuildDate are
// set at link time by the Makefile (-X); a plain `go build` falls back to
// the VCS revision the toolchain recorded, when it recorded one.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set by the linker.
var (
	Version   = "0.1.0-dev"
	Revision  = ""
	BuildDate = ""
)

// Info is this build's description.
type Info struct {
	Version, Revision, BuildDate string
}

// Get returns the build description.
func Get() Info {
	i := Info{Version: Version, Revision: Revision, BuildDate: BuildDate}
	if i.Revision != "" {
		return i
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				i.Revision = s.Value
			case "vcs.time":
				if i.BuildDate == "" {
					i.BuildDate = s.Value
				}
			}
		}
	}
	return i
}

// String is the one-line version shown by `vigil version`.
func String() string {
	i := Get()
	if i.Revision == "" {
		i.Revision = "unknown"
	}
	if i.BuildDate == "" {
		i.BuildDate = "unknown"
	}
	return fmt.Sprintf("vigil %s (revision %s, built %s, %s %s/%s)", i.Version, i.Revision, i.BuildDate, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
