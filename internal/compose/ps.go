package compose

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// ParsePs reads `docker compose ps --format json` into T, one per
// container: one JSON object a line (compose 2.21 and later) or one array
// (earlier). Each caller decodes the fields it needs.
func ParsePs[T any](out []byte) ([]T, error) {
	out = bytes.TrimSpace(out)
	if len(out) == 0 {
		return nil, nil
	}
	var list []T
	if out[0] == '[' {
		if err := json.Unmarshal(out, &list); err != nil {
			return nil, fmt.Errorf("docker compose ps: %w", err)
		}
		return list, nil
	}
	for _, line := range bytes.Split(out, []byte("\n")) {
		if line = bytes.TrimSpace(line); len(line) == 0 {
			continue
		}
		var c T
		if err := json.Unmarshal(line, &c); err != nil {
			return nil, fmt.Errorf("docker compose ps: %w", err)
		}
		list = append(list, c)
	}
	return list, nil
}
