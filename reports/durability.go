package reports

import (
	"fmt"
	"slices"
	"strings"
)

// durabilityOf is the durability a run was measured on, as the result
// recorded it ("unknown" when the result predates the read-back or it
// failed).
func durabilityOf(r *Run) string {
	if d := r.Meta.Durability; d != nil {
		return d.String()
	}
	return "unknown"
}

// durabilityWarning says when a section compares runs measured at
// different effective durability levels, naming each system's level: their
// figures are then not like for like. "" when all ok runs agree.
func durabilityWarning(runs []*Run) string {
	var levels []string
	var parts []string
	seen := map[string]bool{}
	for _, r := range runs {
		if !r.ok() || seen[r.Label] {
			continue
		}
		seen[r.Label] = true
		eff := "unknown"
		if d := r.Meta.Durability; d != nil && d.Effective != "" {
			eff = string(d.Effective)
		}
		if !slices.Contains(levels, eff) {
			levels = append(levels, eff)
		}
		parts = append(parts, r.Label+" "+durabilityOf(r))
	}
	if len(levels) < 2 {
		return ""
	}
	return fmt.Sprintf("WARNING: durability differs (%s): not like for like", strings.Join(parts, ", "))
}
