package jsonschema

// dtx patch's own test (not upstream's): the drafts' metaschemas are
// compiled on the first Compile, not at start, and a schema that breaks
// its draft's metaschema is still refused, also by compiles that race.
// Run it with `go test -race ./...` in this folder (see ../README.md).

import (
	"strings"
	"sync"
	"testing"
)

func TestDraftsCompiledOnFirstCompile(t *testing.T) {
	// Nothing in this test binary compiled a schema before this test, and
	// it runs first (Go runs tests in source order, this file's alone).
	for _, d := range []*Draft{Draft4, Draft6, Draft7, Draft2019, Draft2020} {
		if d.sch != nil {
			t.Fatalf("%s compiled at start: the patch is gone", d.url)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func(i int) { // i passed: this module's go.mod says go 1.21
			defer wg.Done()
			c := NewCompiler()
			// "type": 5 breaks the 2020-12 metaschema: only a compiled
			// metaschema can say so.
			bad, _ := UnmarshalJSON(strings.NewReader(`{"$schema": "https://json-schema.org/draft/2020-12/schema", "type": 5}`))
			if err := c.AddResource("bad.json", bad); err != nil {
				errs[i] = err
				return
			}
			_, errs[i] = c.Compile("bad.json")
		}(i)
	}
	wg.Wait()
	for i, err := range errs {
		if _, ok := err.(*SchemaValidationError); !ok {
			t.Errorf("compile %d: %v, want the metaschema's SchemaValidationError", i, err)
		}
	}
	for _, d := range []*Draft{Draft4, Draft6, Draft7, Draft2019, Draft2020} {
		if d.sch == nil {
			t.Errorf("%s not compiled after a Compile", d.url)
		}
		for name, sch := range d.allVocabs {
			if sch == nil {
				t.Errorf("%s vocabulary %s not compiled after a Compile", d.url, name)
			}
		}
	}
}
