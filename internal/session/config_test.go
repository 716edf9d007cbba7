package session

import (
	"strings"
	"testing"
)

func TestFromProcessRejectsBadDryRun(t *testing.T) {
	t.Setenv("DRY_RUN", "yes please")
	if _, err := FromProcess(); err == nil || !strings.Contains(err.Error(), `DRY_RUN="yes please": use DRY_RUN=1`) {
		t.Fatalf("err = %v", err)
	}
}
