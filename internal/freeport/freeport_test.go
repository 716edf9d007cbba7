package freeport

import (
	"net"
	"strconv"
	"testing"
)

func TestTakeNeverRepeatsAndStaysBelowTheEphemeralRange(t *testing.T) {
	seen := map[int]bool{}
	for range 300 {
		p, err := Take()
		if err != nil {
			t.Fatal(err)
		}
		if seen[p] {
			t.Fatalf("Take returned %d twice", p)
		}
		seen[p] = true
		if p < Low || p > High {
			t.Fatalf("Take returned %d, outside %d-%d", p, Low, High)
		}
	}
}

// A port Take returns can be bound at once: it was not just checked free and
// then reused by an earlier call still holding it.
func TestTakenPortsCanBeBound(t *testing.T) {
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for range 50 {
		p, err := Take()
		if err != nil {
			t.Fatal(err)
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Fatalf("port %d from Take is not free: %v", p, err)
		}
		held = append(held, l)
	}
}
