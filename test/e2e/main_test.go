package e2e

import (
	"testing"

	"github.com/kettleofketchup/dtx_website/internal/testenv"
)

// TestMain says, even without -v, when the suites were skipped for want of
// an engine, and how to run them.
func TestMain(m *testing.M) { testenv.Main(m, "the end-to-end suites (test/e2e)") }
