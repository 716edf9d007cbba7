package main

import (
	"context"
	"path/filepath"

	"github.com/kettleofketchup/dtx_website/internal/backup"
	"github.com/kettleofketchup/dtx_website/internal/loadtest"
)

// backups measures prod:backup and prod:restore with backup.Measure on the
// release stack the deploy measurement leaves running: their times against
// the data's size, and the pause a backup causes to writes.
func (b *bench) backups(ctx context.Context) error {
	if b.deployRounds == 0 {
		say("skipped (-deploys 0: no release stack to back up)")
		return nil
	}
	client, err := loadtest.Client(filepath.Join(b.root, "nginx/data/ssl/fullchain.pem"), deployDomain, b.vars["HTTPS_PORT"])
	if err != nil {
		return err
	}
	ms, err := backup.Measure(ctx, backup.MeasureConfig{
		Sizes:   []int64{1e6, 100e6},
		Methods: []string{backup.SQLiteOnline, backup.SQLitePause},
		Client:  client,
		Base:    "https://" + deployDomain,
		Dtx: func(ctx context.Context, env []string, args ...string) (string, error) {
			_, out, err := b.timed(ctx, b.dtx(args...), append(append([]string{}, deployEnv...), env...)...)
			return out, err
		},
	})
	b.results.backups = backup.Table(ms)
	return err
}
