package adapters

import (
	"context"
	"errors"
	"sync"
	"testing"
)

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

// TestInflightWait: Wait returns once every send is done, and the
// context's error when it ends first.
func TestInflightWait(t *testing.T) {
	var mu sync.Mutex
	var f Inflight
	if err := f.Wait(t.Context(), &mu); err != nil {
		t.Fatalf("nothing in flight: %v", err)
	}
	f.Add()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := f.Wait(ctx, &mu); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
	done := make(chan error)
	go func() { done <- f.Wait(t.Context(), &mu) }()
	mu.Lock()
	f.Done()
	mu.Unlock()
	if err := <-done; err != nil {
		t.Fatalf("wait after the send completed: %v", err)
	}
}
