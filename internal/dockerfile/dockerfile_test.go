package dockerfile

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	cases := []struct {
		name       string
		dockerfile string
		want       string // the stages as base>name, base for unnamed ones
	}{
		{"one unnamed stage", "FROM nginx:1.27-alpine\nRUN true\n", "nginx:1.27-alpine"},
		{"named stages", "FROM node:22 AS build\nRUN npm ci\nFROM build AS runtime\nFROM runtime AS runtime-dev\n",
			"node:22>build build>runtime runtime>runtime-dev"},
		{"keywords in any case", "from node:22 as Build\nFrOm build aS RUNTIME\n", "node:22>build build>runtime"},
		{"ARG before FROM", "ARG BASE=debian:bookworm\nARG TAG\nFROM ${BASE} AS runtime\n", "${BASE}>runtime"},
		{"flags before the image", "FROM --platform=$BUILDPLATFORM golang:1.26 AS build\n", "golang:1.26>build"},
		{"line continuation", "FROM \\\n  python:3.13 \\\n  AS runtime\n", "python:3.13>runtime"},
		{"comment and blank line inside a continuation", "RUN apt-get update && \\\n# install less\n\n    apt-get install -y less\nFROM debian AS runtime\n", "debian>runtime"},
		{"comments and indentation", "# FROM commented AS out\n  # another\n\tFROM debian AS runtime\n", "debian>runtime"},
		{"escape directive", "# escape=`\nFROM debian `\n  AS runtime\nRUN dir c:\\\nFROM runtime AS runtime-dev\n", "debian>runtime runtime>runtime-dev"},
		{"syntax directive", "# syntax=docker/dockerfile:1\nFROM debian AS runtime\n", "debian>runtime"},
		{"heredoc body is not an instruction", "FROM debian AS build\nRUN <<EOF\nFROM fake AS runtime\nEOF\nFROM build AS runtime-dev\n", "debian>build build>runtime-dev"},
		{"heredoc with dash and quotes", "FROM debian AS build\nCOPY <<-\"END\" /x\n\tFROM fake AS runtime\n\tEND\nFROM build AS runtime\n", "debian>build build>runtime"},
		{"CRLF line endings", "FROM debian AS runtime\r\nFROM runtime AS runtime-dev\r\n", "debian>runtime runtime>runtime-dev"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stages, err := Parse(strings.NewReader(c.dockerfile))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range stages {
				if s.Name == "" {
					got = append(got, s.Base)
				} else {
					got = append(got, s.Base+">"+s.Name)
				}
			}
			if strings.Join(got, " ") != c.want {
				t.Fatalf("stages %q, want %q", strings.Join(got, " "), c.want)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	cases := []struct{ name, dockerfile, want string }{
		{"no FROM", "# only a comment\nARG X=1\n", "no FROM instruction"},
		{"empty", "", "no FROM instruction"},
		{"FROM without image", "FROM\n", "line 1: FROM without an image"},
		{"AS without a name", "FROM debian\nFROM debian AS\n", "line 2: FROM debian AS: write FROM image [AS name]"},
		// A # is a comment only at the start of a line, for docker too.
		{"words after the name", "FROM debian AS runtime # a note\n", "line 1: FROM debian AS runtime # a note: write FROM image [AS name]"},
		{"bad escape", "# escape=x\nFROM debian\n", "line 1: escape directive"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(c.dockerfile))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}

func TestHas(t *testing.T) {
	stages, err := Parse(strings.NewReader("FROM debian AS Runtime\nFROM runtime\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		want bool
	}{{"runtime", true}, {"RUNTIME", true}, {"runtime-dev", false}, {"", false}, {"debian", false}} {
		t.Run(c.name, func(t *testing.T) {
			if got := Has(stages, c.name); got != c.want {
				t.Fatalf("Has(%q) = %v", c.name, got)
			}
		})
	}
}
