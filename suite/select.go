package suite

import (
	"strings"

	"github.com/brokerbench/brokerbench/workloads"
)

// Select returns the workloads of file named in names, in that order, or
// all of them when names is empty. An unknown name is an error wrapping
// [ErrUsage] that lists the names file has.
func Select(file *workloads.File, names []string) ([]workloads.Workload, error) {
	if len(names) == 0 {
		return file.Workloads, nil
	}
	var selected []workloads.Workload
	for _, n := range names {
		w, ok := file.Find(n)
		if !ok {
			return nil, usagef("%q: no such workload in %s (have: %s)", n, file.Path, strings.Join(file.Names(), ", "))
		}
		selected = append(selected, *w)
	}
	return selected, nil
}
