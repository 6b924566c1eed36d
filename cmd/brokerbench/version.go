package main

import "runtime/debug"

// toolVersion is the brokerbench release; builds from a checkout report
// their VCS revision too.
const toolVersion = "0.1.0-dev"

func version() string {
	v := toolVersion
	if rev := revision(); rev != "" {
		v += " (" + rev + ")"
	}
	return v
}

// revision is the VCS revision the binary was built from, with "+dirty"
// when the tree had changes; "" when unknown (go run, -buildvcs=false).
func revision() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev == "" {
		return ""
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	return rev + dirty
}
