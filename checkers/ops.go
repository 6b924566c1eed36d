package checkers

import "github.com/brokerbench/brokerbench/checkers/history"

// opTable pairs the invocations and completions of one-message operations
// (log sends, queue enqueues) by their unique value, in invoke order. Both
// checkers keep one; the rules for a well-formed pairing are the same.
type opTable struct {
	byValue map[int64]int32
	ops     []sendOp
	// noun and keyWord name the operation and its key in input errors:
	// "send"/"key" or "enqueue"/"queue".
	noun, keyWord string
}

func newOpTable(noun, keyWord string) opTable {
	return opTable{byValue: map[int64]int32{}, noun: noun, keyWord: keyWord}
}

// invoke records the invocation of e's operation on key (an index into
// the checker's keys). Values must be unique per message.
func (t *opTable) invoke(name string, e *history.Event, key int32) error {
	if i, dup := t.byValue[e.Value]; dup {
		return inconsistent(name, e.Line, "value", "value %d was already %s at line %d; values must be unique per message",
			e.Value, pastTense(t.noun), t.ops[i].line)
	}
	t.byValue[e.Value] = int32(len(t.ops))
	t.ops = append(t.ops, sendOp{value: e.Value, offset: -1, invoke: e.Time, key: key,
		proc: int32(e.Process), line: int32(e.Line)})
	return nil
}

// complete matches e, a completion, to its invocation and records its
// outcome. keyName names a key index, for the error when the completion's
// key differs from the invocation's.
func (t *opTable) complete(name string, e *history.Event, keyName func(int32) string) error {
	i, ok := t.byValue[e.Value]
	if !ok {
		return inconsistent(name, e.Line, "value", "%s %s of value %d has no invoke before it", t.noun, e.Type, e.Value)
	}
	s := &t.ops[i]
	switch {
	case s.status != pending:
		return inconsistent(name, e.Line, "value", "%s of value %d already completed at line %d", t.noun, e.Value, s.doneLine)
	case int32(e.Process) != s.proc:
		return inconsistent(name, e.Line, "process", "%s of value %d completed by process %d but invoked by process %d at line %d",
			t.noun, e.Value, e.Process, s.proc, s.line)
	case e.Key != keyName(s.key):
		return inconsistent(name, e.Line, "key", "%s of value %d completed for %s %q but invoked for %q at line %d",
			t.noun, e.Value, t.keyWord, e.Key, keyName(s.key), s.line)
	}
	s.complete, s.doneLine = e.Time, int32(e.Line)
	switch e.Type {
	case history.OK:
		s.status = acked
		if e.HasOffset {
			s.offset = e.Offset
		}
	case history.Fail:
		s.status = failed
	default:
		s.status = unsure
	}
	return nil
}

func pastTense(noun string) string {
	if noun == "send" {
		return "sent"
	}
	return noun + "d"
}
