package history

import (
	"encoding/json"
	"slices"
)

// parseFields decodes the operation-specific fields: key, value, offset.
// Which are required depends on F and Type (docs/history.md, "Operations").
func (r *Reader) parseFields(raw *rawLine, e *Event) error {
	switch e.F {
	case Send, Enqueue:
		if err := r.requireKey(raw, e); err != nil {
			return err
		}
		if err := r.requireValue(raw.Value, e); err != nil {
			return err
		}
		if e.F == Send && e.Type == OK {
			return r.requireOffset(raw, e)
		}
	case Dequeue:
		if e.Type != OK {
			return r.optionalKey(raw, e)
		}
		if err := r.requireKey(raw, e); err != nil {
			return err
		}
		return r.requireValue(raw.Value, e)
	case Ack, Nack, Reject:
		if err := r.optionalKey(raw, e); err != nil {
			return err
		}
		return r.requireValue(raw.Value, e)
	case Poll:
		if e.Type == OK {
			return r.parsePollValue(raw, e)
		}
	case Assign:
		if e.Type == OK {
			return r.parseAssignValue(raw.Value, e)
		}
	case Commit:
		if e.Type == OK {
			return r.parseCommitValue(raw.Value, e)
		}
	case Start, Stop:
		r.parseFault(raw.Value, e)
	}
	return nil
}

func (r *Reader) requireKey(raw *rawLine, e *Event) error {
	if raw.Key == nil || *raw.Key == "" {
		return r.errf("key", "required for %s %s", e.F, e.Type)
	}
	e.Key = *raw.Key
	return nil
}

func (r *Reader) optionalKey(raw *rawLine, e *Event) error {
	if raw.Key != nil {
		e.Key = *raw.Key
	}
	return nil
}

func (r *Reader) requireValue(v json.RawMessage, e *Event) error {
	if len(v) == 0 || string(v) == "null" {
		return r.errf("value", "required for %s %s", e.F, e.Type)
	}
	n, ok := parseInt(v)
	if !ok {
		return r.errf("value", "want an integer, got %s", abbreviate(v))
	}
	e.Value, e.HasValue = n, true
	return nil
}

func (r *Reader) requireOffset(raw *rawLine, e *Event) error {
	if raw.Offset == nil {
		return r.errf("offset", "required for send ok")
	}
	if *raw.Offset < 0 {
		return r.errf("offset", "want >= 0, got %d", *raw.Offset)
	}
	e.Offset, e.HasOffset = *raw.Offset, true
	return nil
}

func (r *Reader) parsePollValue(raw *rawLine, e *Event) error {
	v := raw.Value
	if len(v) == 0 || string(v) == "null" {
		return r.errf("value", "required for poll ok: an object {key: [[offset, value], ...]}")
	}
	if raw.records != nil {
		e.Records = slices.Clone(raw.records)
		return nil
	}
	var m map[string][][]int64
	if err := json.Unmarshal(v, &m); err != nil {
		return r.errf("value", "want an object {key: [[offset, value], ...]}: %v", err)
	}
	keys := make([]string, 0, len(m))
	n := 0
	for k, recs := range m {
		if k == "" {
			return r.errf("value", "empty key")
		}
		keys = append(keys, k)
		n += len(recs)
	}
	// Map order is random; sort keys so events are deterministic.
	slices.Sort(keys)
	e.Records = make([]Record, 0, n)
	for _, k := range keys {
		for i, pair := range m[k] {
			if len(pair) != 2 {
				return r.errf("value", "key %q entry %d: want [offset, value], got %d numbers", k, i, len(pair))
			}
			if pair[0] < 0 {
				return r.errf("value", "key %q entry %d: offset %d is negative", k, i, pair[0])
			}
			e.Records = append(e.Records, Record{Key: k, Offset: pair[0], Value: pair[1]})
		}
	}
	return nil
}

func (r *Reader) parseAssignValue(v json.RawMessage, e *Event) error {
	if len(v) == 0 || string(v) == "null" {
		return r.errf("value", "required for assign ok: a list of keys")
	}
	if err := json.Unmarshal(v, &e.Keys); err != nil {
		return r.errf("value", "want a list of keys: %v", err)
	}
	if e.Keys == nil {
		e.Keys = []string{}
	}
	return nil
}

func (r *Reader) parseCommitValue(v json.RawMessage, e *Event) error {
	if len(v) == 0 || string(v) == "null" {
		return r.errf("value", "required for commit ok: an object {key: offset}")
	}
	var m map[string]int64
	if err := json.Unmarshal(v, &m); err != nil {
		return r.errf("value", "want an object {key: offset}: %v", err)
	}
	e.Commits = make([]KeyOffset, 0, len(m))
	for k, o := range m {
		e.Commits = append(e.Commits, KeyOffset{Key: k, Offset: o})
	}
	slices.SortFunc(e.Commits, func(a, b KeyOffset) int {
		if a.Key < b.Key {
			return -1
		}
		if a.Key > b.Key {
			return 1
		}
		return 0
	})
	return nil
}

// parseFault keeps a nemesis value as text: a JSON string is unquoted, any
// other JSON value is kept verbatim.
func (r *Reader) parseFault(v json.RawMessage, e *Event) {
	if len(v) == 0 {
		return
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		e.Fault = s
		return
	}
	e.Fault = string(v)
}
