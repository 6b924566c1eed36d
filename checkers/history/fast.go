package history

import (
	"cmp"
	"slices"
)

// The fast path decodes lines in the shape the Writer produces (known
// fields, plain ASCII strings, integers) without encoding/json and without
// allocating, which makes reading a history several times faster. Anything
// else (escapes, unknown or repeated fields, floats, literals, nested values
// other than a poll's records) returns false and the line goes through
// encoding/json instead, so errors and edge cases behave exactly as the slow
// path; FuzzReader checks that both paths agree on arbitrary input.

// fastStore backs the pointers the fast path puts in a rawLine, so decoding
// a line allocates nothing.
type fastStore struct {
	history                                 int
	index, time, offset                     int64
	model, guarantee, typ, f, errStr, group string
	key                                     string
	recs                                    []Record
}

const (
	fHistory = iota
	fModel
	fGuarantee
	fIndex
	fTime
	fProcess
	fType
	fF
	fKey
	fValue
	fOffset
	fError
	fGroup
)

func fieldID(name []byte) int {
	switch string(name) {
	case "history":
		return fHistory
	case "model":
		return fModel
	case "guarantee":
		return fGuarantee
	case "index":
		return fIndex
	case "time":
		return fTime
	case "process":
		return fProcess
	case "type":
		return fType
	case "f":
		return fF
	case "key":
		return fKey
	case "value":
		return fValue
	case "offset":
		return fOffset
	case "error":
		return fError
	case "group":
		return fGroup
	}
	return -1
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// scanString returns the end (after the closing quote) of the plain string
// starting at b[i] == '"', or -1 for escapes, control or non-ASCII bytes.
func scanString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1
		case c == '\\' || c < 0x20 || c >= 0x80:
			return -1
		}
	}
	return -1
}

// scanInt returns the end of the strict JSON integer at b[i], or -1.
func scanInt(b []byte, i int) int {
	start := i
	if i < len(b) && b[i] == '-' {
		i++
	}
	if i >= len(b) || b[i] < '0' || b[i] > '9' {
		return -1
	}
	if b[i] == '0' {
		i++
	} else {
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == '.' || b[i] == 'e' || b[i] == 'E') {
		return -1
	}
	if i-start > 20 {
		return -1
	}
	return i
}

// parseInt parses a strict JSON integer that fits an int64.
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 || scanInt(b, 0) != len(b) {
		return 0, false
	}
	neg := b[0] == '-'
	if neg {
		b = b[1:]
	}
	var n uint64
	for _, c := range b {
		d := uint64(c - '0')
		if n > (1<<63-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	if neg {
		return -int64(n), true
	}
	if n > 1<<63-1 {
		return 0, false
	}
	return int64(n), true
}

// fast decodes line into raw. It reports false, leaving raw unspecified,
// when the line needs encoding/json.
func (r *Reader) fast(line []byte, raw *rawLine) bool {
	*raw = rawLine{}
	st := &r.store
	if len(line) == 0 || line[0] != '{' {
		return false
	}
	i := skipSpace(line, 1)
	if i < len(line) && line[i] == '}' {
		return skipSpace(line, i+1) == len(line)
	}
	var seen uint16
	for {
		if i >= len(line) || line[i] != '"' {
			return false
		}
		end := scanString(line, i)
		if end < 0 {
			return false
		}
		id := fieldID(line[i+1 : end-1])
		if id < 0 || seen&(1<<id) != 0 {
			return false
		}
		seen |= 1 << id
		i = skipSpace(line, end)
		if i >= len(line) || line[i] != ':' {
			return false
		}
		if i = r.fastValue(line, skipSpace(line, i+1), id, raw); i < 0 {
			return false
		}
		i = skipSpace(line, i)
		if i >= len(line) {
			return false
		}
		if line[i] == '}' {
			break
		}
		if line[i] != ',' {
			return false
		}
		i = skipSpace(line, i+1)
	}
	if skipSpace(line, i+1) != len(line) {
		return false
	}
	if len(raw.Value) > 0 && (raw.Value[0] == '{' || raw.Value[0] == '[') {
		// Only a poll's records are decoded here; other nested values are
		// rare and take the slow path.
		if raw.F == nil || *raw.F != "poll" || raw.Type == nil || *raw.Type != "ok" || !r.fastRecords(raw.Value) {
			return false
		}
		raw.records = st.recs
	}
	return true
}

// fastValue decodes the value of field id at line[i] and returns its end,
// or -1.
func (r *Reader) fastValue(line []byte, i, id int, raw *rawLine) int {
	st := &r.store
	if i >= len(line) {
		return -1
	}
	switch id {
	case fHistory, fIndex, fTime, fOffset:
		end := scanInt(line, i)
		if end < 0 {
			return -1
		}
		n, ok := parseInt(line[i:end])
		if !ok {
			return -1
		}
		switch id {
		case fHistory:
			st.history, raw.History = int(n), &st.history
		case fIndex:
			st.index, raw.Index = n, &st.index
		case fTime:
			st.time, raw.Time = n, &st.time
		default:
			st.offset, raw.Offset = n, &st.offset
		}
		return end
	case fProcess, fValue:
		end := -1
		switch c := line[i]; {
		case c == '"':
			end = scanString(line, i)
		case c == '-' || (c >= '0' && c <= '9'):
			end = scanInt(line, i)
		case (c == '{' || c == '[') && id == fValue:
			end = skipNested(line, i)
		}
		if end < 0 {
			return -1
		}
		if id == fProcess {
			raw.Process = line[i:end]
		} else {
			raw.Value = line[i:end]
		}
		return end
	}
	if line[i] != '"' {
		return -1
	}
	end := scanString(line, i)
	if end < 0 {
		return -1
	}
	s := line[i+1 : end-1]
	switch id {
	case fType:
		st.typ, raw.Type = canonical(s, typeNames[:]), &st.typ
	case fF:
		st.f, raw.F = canonical(s, funcNames[:]), &st.f
	case fKey:
		st.key, raw.Key = r.intern(s), &st.key
	case fModel:
		st.model, raw.Model = string(s), &st.model
	case fGuarantee:
		st.guarantee, raw.Guarantee = string(s), &st.guarantee
	case fError:
		st.errStr, raw.Error = string(s), &st.errStr
	case fGroup:
		st.group, raw.Group = string(s), &st.group
	}
	return end
}

// canonical returns the constant equal to s, avoiding an allocation, or a
// copy of s when none is.
func canonical(s []byte, names []string) string {
	for _, n := range names {
		if string(s) == n {
			return n
		}
	}
	return string(s)
}

// intern returns a shared copy of key: a history names few partitions many
// times.
func (r *Reader) intern(s []byte) string {
	if k, ok := r.keys[string(s)]; ok {
		return k
	}
	if r.keys == nil {
		r.keys = map[string]string{}
	}
	k := string(s)
	if len(r.keys) < 1<<16 {
		r.keys[k] = k
	}
	return k
}

// skipNested returns the end of the object or array at b[i], honouring
// strings, or -1. Validity of the contents is checked by whoever decodes them.
func skipNested(b []byte, i int) int {
	depth := 0
	for ; i < len(b); i++ {
		switch b[i] {
		case '"':
			if i = scanString(b, i); i < 0 {
				return -1
			}
			i--
		case '{', '[':
			depth++
		case '}', ']':
			if depth--; depth == 0 {
				return i + 1
			}
		}
	}
	return -1
}

// fastRecords decodes {"key":[[offset,value],...],...} into r.store.recs,
// sorted by key as the slow path does. It reports false for anything the
// slow path must judge: repeated keys, negative offsets, bad pairs.
func (r *Reader) fastRecords(v []byte) bool {
	recs := r.store.recs[:0]
	i := skipSpace(v, 1)
	if i < len(v) && v[i] == '}' {
		r.store.recs = recs
		return skipSpace(v, i+1) == len(v)
	}
	sorted := true
	var prevKey string
	for {
		if i >= len(v) || v[i] != '"' {
			return false
		}
		end := scanString(v, i)
		if end < 0 || end-i == 2 {
			return false
		}
		key := r.intern(v[i+1 : end-1])
		for _, rec := range recs {
			if rec.Key == key {
				return false // repeated key: encoding/json keeps the last one
			}
		}
		if key < prevKey {
			sorted = false
		}
		prevKey = key
		i = skipSpace(v, end)
		if i >= len(v) || v[i] != ':' {
			return false
		}
		var ok bool
		if recs, i, ok = fastPairs(v, skipSpace(v, i+1), key, recs); !ok {
			return false
		}
		i = skipSpace(v, i)
		if i >= len(v) {
			return false
		}
		if v[i] == '}' {
			break
		}
		if v[i] != ',' {
			return false
		}
		i = skipSpace(v, i+1)
	}
	if i+1 != len(v) {
		return false
	}
	if !sorted {
		slices.SortStableFunc(recs, func(a, b Record) int { return cmp.Compare(a.Key, b.Key) })
	}
	r.store.recs = recs
	return true
}

// fastPairs decodes [[o,v],...] at v[i] for key.
func fastPairs(v []byte, i int, key string, recs []Record) ([]Record, int, bool) {
	if i >= len(v) || v[i] != '[' {
		return recs, i, false
	}
	i = skipSpace(v, i+1)
	if i < len(v) && v[i] == ']' {
		return recs, i + 1, true
	}
	for {
		var nums [2]int64
		if i >= len(v) || v[i] != '[' {
			return recs, i, false
		}
		i = skipSpace(v, i+1)
		for k := range nums {
			end := scanInt(v, i)
			if end < 0 {
				return recs, i, false
			}
			n, ok := parseInt(v[i:end])
			if !ok {
				return recs, i, false
			}
			nums[k] = n
			i = skipSpace(v, end)
			want := byte(',')
			if k == 1 {
				want = ']'
			}
			if i >= len(v) || v[i] != want {
				return recs, i, false
			}
			i = skipSpace(v, i+1)
		}
		if nums[0] < 0 {
			return recs, i, false
		}
		recs = append(recs, Record{Key: key, Offset: nums[0], Value: nums[1]})
		if i >= len(v) {
			return recs, i, false
		}
		if v[i] == ']' {
			return recs, i + 1, true
		}
		if v[i] != ',' {
			return recs, i, false
		}
		i = skipSpace(v, i+1)
	}
}
