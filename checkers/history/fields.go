package history

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
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
		if e.F == Reject && raw.DeadLetter != nil {
			e.DeadLetter = *raw.DeadLetter
		}
		return r.requireValue(raw.Value, e)
	case Poll:
		if e.Type == OK {
			return r.parsePollValue(raw, e)
		}
	case Assign:
		r.optionalGroup(raw, e)
		if e.Type == OK {
			return r.parseAssignValue(raw.Value, e)
		}
	case Commit:
		r.optionalGroup(raw, e)
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

func (r *Reader) optionalGroup(raw *rawLine, e *Event) {
	if raw.Group != nil {
		e.Group = *raw.Group
	}
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
	type keyRecs struct {
		key   string
		pairs [][]int64
	}
	var groups []keyRecs
	n := 0
	err := eachMember(v, func(k string, val json.RawMessage) error {
		if k == "" {
			return errors.New("empty key")
		}
		var pairs [][]int64
		if err := json.Unmarshal(val, &pairs); err != nil {
			return fmt.Errorf("key %q: want [[offset, value], ...]: %v", k, err)
		}
		groups = append(groups, keyRecs{k, pairs})
		n += len(pairs)
		return nil
	})
	if err != nil {
		return r.errf("value", "want an object {key: [[offset, value], ...]}: %v", err)
	}
	// Keys are sorted so events do not depend on the writer's key order.
	slices.SortFunc(groups, func(a, b keyRecs) int { return strings.Compare(a.key, b.key) })
	e.Records = make([]Record, 0, n)
	for _, g := range groups {
		for i, pair := range g.pairs {
			if len(pair) != 2 {
				return r.errf("value", "key %q entry %d: want [offset, value], got %d numbers", g.key, i, len(pair))
			}
			if pair[0] < 0 {
				return r.errf("value", "key %q entry %d: offset %d is negative", g.key, i, pair[0])
			}
			e.Records = append(e.Records, Record{Key: g.key, Offset: pair[0], Value: pair[1]})
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
	e.Commits = []KeyOffset{}
	err := eachMember(v, func(k string, val json.RawMessage) error {
		var o int64
		if err := json.Unmarshal(val, &o); err != nil {
			return fmt.Errorf("key %q: want an offset: %v", k, err)
		}
		e.Commits = append(e.Commits, KeyOffset{Key: k, Offset: o})
		return nil
	})
	if err != nil {
		return r.errf("value", "want an object {key: offset}: %v", err)
	}
	slices.SortFunc(e.Commits, func(a, b KeyOffset) int { return strings.Compare(a.Key, b.Key) })
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
