package session

import (
	"bufio"
	"context"
	"io"

	"github.com/kettleofketchup/dtx_website/internal/runner"
)

// Watch runs a read-only command whose output streams (docker events) in
// the background, silently and also in a dry run, as Query does, and hands
// each line of its standard output to line as it comes: for a wait that
// wakes on what the engine says instead of polling. line must not block.
// stop ends the command (SIGINT to its process group, as a cancelled
// context does) and returns once it and line's last call have returned;
// ended is closed when the command ended, by itself or not.
func (s *Session) Watch(ctx context.Context, c runner.Command, line func(string)) (stop func(), ended <-chan struct{}) {
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	r := s.probeRunner()
	r.Stdout = pw
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		_ = r.Run(ctx, c) // its end is stop's, or the context's: nothing to report
		pw.Close()
	}()
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line(sc.Text())
		}
		_, _ = io.Copy(io.Discard, pr) // a line too long for the scanner: drain, so the command never blocks
	}()
	return func() {
		cancel()
		<-ran
		<-read
	}, read
}
