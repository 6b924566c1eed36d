package adapters

import "testing"

func TestInflight(t *testing.T) {
	closed := func(c <-chan struct{}) bool {
		select {
		case <-c:
			return true
		default:
			return false
		}
	}
	var f Inflight
	if !closed(f.Idle()) {
		t.Fatal("zero value: Idle not closed with nothing in flight")
	}
	f.Add()
	f.Add()
	idle := f.Idle()
	f.Done()
	if closed(idle) {
		t.Fatal("Idle closed with one send still in flight")
	}
	f.Done()
	if !closed(idle) || !closed(f.Idle()) {
		t.Fatal("Idle not closed once every send is done")
	}
	f.Add() // a new round gets a new channel; the old one stays closed
	if closed(f.Idle()) || !closed(idle) {
		t.Fatal("a send after idle did not open a new Idle channel")
	}
}
