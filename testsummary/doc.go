// Package testsummary is the last package of `go test ./...`: its path
// sorts after every other package's (TestSortsLast checks it), so go test
// runs it last and prints its line last. Its TestMain waits for the other
// packages and prints, just before that line, what they skipped for want
// of something on the machine (the end-to-end suites without a Docker
// engine, the nginx tests without nginx) and how to run it. See
// internal/testenv.
package testsummary
