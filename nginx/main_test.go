package nginx

import (
	"testing"

	"github.com/kettleofketchup/dtx_website/internal/testenv"
)

// TestMain says, even without -v, when the entrypoint's tests were skipped
// for want of nginx, envsubst or busybox, and how to run them.
func TestMain(m *testing.M) { testenv.Main(m, "the nginx entrypoint tests (nginx/)") }
