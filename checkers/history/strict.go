package history

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// encoding/json matches field names case-insensitively and keeps the last
// of repeated map keys. A history is a contract, so the slow path decodes
// strictly instead: field names match exactly (an unknown "VALUE" is an
// unknown field, ignored, and cannot override "value"), and a key repeated
// inside one poll or commit value is an input error rather than records
// silently dropped.

// unmarshal decodes line into raw through encoding/json with exact field
// names. A repeated field keeps its last value, as JSON decoders do.
func (r *Reader) unmarshal(line []byte, raw *rawLine) error {
	if line[0] != '{' {
		return r.errf("", "want a JSON object, got %q", abbreviate(line))
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(line, &fields); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return r.errf("", "invalid JSON at byte %d: %v", syn.Offset, syn)
		}
		return r.errf("", "invalid JSON: %v", err)
	}
	*raw = rawLine{}
	for _, f := range []struct {
		name string
		dst  any
	}{
		{"history", &raw.History}, {"model", &raw.Model}, {"guarantee", &raw.Guarantee},
		{"index", &raw.Index}, {"time", &raw.Time}, {"process", &raw.Process}, {"type", &raw.Type},
		{"f", &raw.F}, {"key", &raw.Key}, {"value", &raw.Value}, {"offset", &raw.Offset}, {"error", &raw.Error},
		{"group", &raw.Group}, {"deadLetter", &raw.DeadLetter},
	} {
		v, ok := fields[f.name]
		if !ok {
			continue
		}
		if err := json.Unmarshal(v, f.dst); err != nil {
			var typ *json.UnmarshalTypeError
			if errors.As(err, &typ) {
				return r.errf(f.name, "want %s, got %s", jsonKind(typ.Type.Kind().String()), typ.Value)
			}
			return r.errf(f.name, "%v", err)
		}
	}
	return nil
}

// eachMember calls fn for every member of the JSON object v in document
// order, and fails on a key that appears twice.
func eachMember(v []byte, fn func(key string, val json.RawMessage) error) error {
	if len(v) == 0 || v[0] != '{' {
		return fmt.Errorf("got %s", abbreviate(v))
	}
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil {
		return err
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		if seen[key] {
			return fmt.Errorf("key %q appears twice; give each key one list", key)
		}
		seen[key] = true
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return err
		}
		if err := fn(key, val); err != nil {
			return err
		}
	}
	_, err := dec.Token()
	return err
}
