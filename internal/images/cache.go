package images

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/kettleofketchup/dtx_website/internal/compose"
	"github.com/kettleofketchup/dtx_website/internal/session"
)

// catalogueLoad is one compose file Catalogue loads: its text (already
// read), the project that loads it and the registry its images live under.
type catalogueLoad struct {
	file     string
	text     []byte
	project  compose.Project
	registry string
}

// catalogueCache keeps Catalogue's answers for a project root (the last
// keptAnswers, a file each) in the session's cache folder (the tool
// binary's own: new code, a new folder), under a key made of everything the answer depends on: the root, the
// process environment, and the bytes of every file compose-go reads for it
// (the compose files, the env override, the env files, the root's .env).
// Loading the compose files through compose-go costs about 60 ms on 2
// cores (its JSON schema compiled and applied, interpolation, paths), a
// hit under one; docker:build, push, pull and check pay it once per change
// of those files or values.
//
// A file that can bring in others (extends, include) is never answered from
// the cache: the key would not cover the files it brings in. Nor is an
// answer that holds a secret (a build argument from a .local file, say)
// written: secrets stay in the files the user put them in.
type catalogueCache struct {
	path string // "" when there is no cache
	key  string
	ses  *session.Session
}

// catalogueFormat changes when the cached answer's shape does.
const catalogueFormat = "dtx catalogue 1"

// bringsFiles is a word that lets a compose file read other compose files.
var bringsFiles = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\b(extends|include)\b`) })

func newCatalogueCache(ses *session.Session, loads []catalogueLoad) catalogueCache {
	if ses.CacheDir == "" {
		return catalogueCache{}
	}
	h := sha256.New()
	field := func(s string) { h.Write([]byte(s)); h.Write([]byte{0}) }
	file := func(path string) {
		field(path)
		b, err := os.ReadFile(path)
		if err != nil {
			field("(unreadable)")
			return
		}
		field(string(b))
	}
	field(catalogueFormat)
	field(ses.Root)
	env := slices.Clone(ses.Environ)
	slices.Sort(env)
	for _, kv := range env {
		field(kv)
	}
	file(filepath.Join(ses.Root, ".env"))
	for _, l := range loads {
		if bringsFiles().Match(l.text) {
			return catalogueCache{}
		}
		p := l.project
		field(l.file)
		field(string(l.text))
		field(p.Name)
		field(l.registry)
		if p.Override != "" {
			file(filepath.Join(p.Root, p.Override))
		}
		for _, f := range append(slices.Clone(p.Env.Files), p.AlsoEnvFiles...) {
			file(filepath.Join(p.Root, f))
		}
		field("")
	}
	key := hex.EncodeToString(h.Sum(nil))
	return catalogueCache{
		path: filepath.Join(ses.CacheDir, cacheName(ses.Root, key)),
		key:  key,
		ses:  ses,
	}
}

// cachedCatalogue is the cache file's content.
type cachedCatalogue struct {
	Key    string  `json:"key"`
	Images []Image `json:"images"`
}

func (c catalogueCache) get() ([]Image, bool) {
	if c.path == "" {
		return nil, false
	}
	b, err := os.ReadFile(c.path)
	if err != nil {
		return nil, false
	}
	var cached cachedCatalogue
	if json.Unmarshal(b, &cached) != nil || cached.Key != c.key || len(cached.Images) == 0 {
		return nil, false
	}
	return cached.Images, true
}

// put keeps imgs for the next call, when they survive the trip through
// JSON whole and hold no secret. A cache that cannot be written costs the
// next call a load, nothing else.
func (c catalogueCache) put(imgs []Image) {
	if c.path == "" {
		return
	}
	b, err := json.Marshal(cachedCatalogue{Key: c.key, Images: imgs})
	if err != nil || c.ses.Mask(string(b)) != string(b) {
		return
	}
	if !carriedByJSON(imgs) {
		return
	}
	tmp, err := os.CreateTemp(c.ses.CacheDir, ".catalogue-*")
	if err != nil {
		return
	}
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), c.path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return
	}
	c.prune()
}

// keptAnswers is how many answers a checkout keeps, one per key: calls
// that alternate between environments (DRY_RUN=1 and not, two REGISTRY
// values) each find theirs.
const keptAnswers = 4

// prune removes the checkout's oldest answers beyond keptAnswers, the one
// just written aside.
func (c catalogueCache) prune() {
	kept, err := filepath.Glob(filepath.Join(filepath.Dir(c.path), cachePrefix(c.ses.Root)+"*.json"))
	if err != nil || len(kept) <= keptAnswers {
		return
	}
	type answer struct {
		path string
		mod  time.Time
	}
	var others []answer
	for _, path := range kept {
		if fi, err := os.Stat(path); err == nil && path != c.path {
			others = append(others, answer{path, fi.ModTime()})
		}
	}
	slices.SortFunc(others, func(a, b answer) int { return a.mod.Compare(b.mod) })
	for _, a := range others[:max(len(others)-(keptAnswers-1), 0)] {
		os.Remove(a.path)
	}
}

// carriedByJSON says whether JSON carries every field of imgs that is set:
// compose-go leaves out the x- extensions of a build section, its secrets
// and its ulimits (json:"-"), which a cached answer would lose.
func carriedByJSON(imgs []Image) bool {
	for _, img := range imgs {
		b := img.Build
		if len(b.Extensions) > 0 {
			return false
		}
		for _, s := range b.Secrets {
			if len(s.Extensions) > 0 {
				return false
			}
		}
		for _, u := range b.Ulimits {
			if u != nil && len(u.Extensions) > 0 {
				return false
			}
		}
	}
	return true
}

// cacheName is the file of a project root's answer under key (the file
// also holds the whole key, which a read compares).
func cacheName(root, key string) string {
	return cachePrefix(root) + key[:16] + ".json"
}

// cachePrefix starts the names of a checkout's kept answers.
func cachePrefix(root string) string {
	sum := sha256.Sum256([]byte(root))
	return "catalogue-" + hex.EncodeToString(sum[:8]) + "-"
}
