// Package freeport hands out ports on 127.0.0.1 for servers that tests start
// as separate processes (nginx, Pebble, published container ports).
//
// Asking the kernel for port 0 and closing the listener is racy: the kernel
// may give the same port to the next caller (a CI run once gave challtestsrv's
// management server the port it had just given nginx). So ports are drawn at
// random below the kernel's ephemeral range (32768 and up on Linux), where no
// outgoing connection or port-0 listener lands, checked free for TCP and UDP
// on 127.0.0.1, and never handed out twice by one process.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"time"
)

// Low and High bound the ports Take returns.
const Low, High = 20000, 32767

var (
	mu    sync.Mutex
	taken = map[int]bool{}
	rng   = rand.New(rand.NewPCG(uint64(os.Getpid()), uint64(time.Now().UnixNano())))
)

// Take returns a port that is free for TCP and UDP on 127.0.0.1 now and that
// no earlier call in this process returned.
func Take() (int, error) {
	mu.Lock()
	defer mu.Unlock()
	for range 200 {
		port := Low + rng.IntN(High-Low+1)
		if taken[port] || !bindable(port) {
			continue
		}
		taken[port] = true
		return port, nil
	}
	return 0, fmt.Errorf("no free port on 127.0.0.1 in %d-%d after 200 tries", Low, High)
}

func bindable(port int) bool {
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	defer l.Close()
	c, err := net.ListenPacket("udp", addr)
	if err != nil {
		return false
	}
	return c.Close() == nil
}
