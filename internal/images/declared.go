package images

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/kettleofketchup/dtx_website/internal/session"
	"github.com/kettleofketchup/dtx_website/internal/stack"
)

// Image is one image the project builds, declared where compose users
// declare it: a build section on a service of a compose file. Nothing in
// Go lists the images; Declared finds them.
type Image struct {
	Name    string // its repository under REGISTRY: REGISTRY/<Name>:<tag>
	Service string // the service whose build section declares it
	File    string // that service's compose file, relative to the root
	// Build is the build section as compose-go resolved it (variables
	// interpolated, context and additional contexts made absolute).
	Build types.BuildConfig
}

// Ref is the image's full reference in registry with tag.
func (i Image) Ref(registry, tag string) string {
	return strings.TrimSuffix(registry, "/") + "/" + i.Name + ":" + tag
}

// Dockerfile is the Dockerfile's path, relative to root when it is under it.
func (i Image) Dockerfile(root string) string {
	df := i.Build.Dockerfile
	if df == "" {
		df = "Dockerfile"
	}
	if !filepath.IsAbs(df) {
		df = filepath.Join(i.Build.Context, df)
	}
	return relative(root, df)
}

// Where says where the image is declared, for messages.
func (i Image) Where() string { return fmt.Sprintf("service %s of %s", i.Service, i.File) }

// Loaded is one compose file loaded by compose-go, with the registry of its
// environment.
type Loaded struct {
	File     string // relative to the project root
	Model    *types.Project
	Registry string
}

// Repository is an image reference without its tag or digest.
func Repository(ref string) string {
	if i := strings.Index(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	return ref
}

// Declared collects the images the loaded compose files build: every
// service with a build section, named by its image's repository under its
// environment's REGISTRY, sorted by name. An image declared twice must be
// declared the same way; a built image must live under REGISTRY, where
// docker:push and the deploys look for it.
func Declared(stacks []Loaded) ([]Image, error) {
	byName := map[string]Image{}
	for _, l := range stacks {
		for _, svcName := range l.Model.ServiceNames() {
			svc := l.Model.Services[svcName]
			if svc.Build == nil {
				continue
			}
			if svc.Image == "" {
				return nil, fmt.Errorf("%s: service %s has a build section but no image: name it, e.g. image: ${REGISTRY}/%s:latest, so that the tool can tag and push it", l.File, svcName, svcName)
			}
			repo := Repository(svc.Image)
			name, ok := strings.CutPrefix(repo, strings.TrimSuffix(l.Registry, "/")+"/")
			if !ok || name == "" {
				return nil, fmt.Errorf("%s: service %s builds %s, which is not under REGISTRY (%s): name its image ${REGISTRY}/NAME:TAG so that docker:push and the deploys find it", l.File, svcName, stack.Clip(svc.Image), stack.Clip(l.Registry))
			}
			img := Image{Name: name, Service: svcName, File: l.File, Build: *svc.Build}
			if prev, seen := byName[name]; seen {
				if !sameBuild(prev.Build, img.Build) {
					return nil, fmt.Errorf("image %s is built two ways: by %s and by %s; declare its build once, or the same way in both", name, prev.Where(), img.Where())
				}
				continue
			}
			byName[name] = img
		}
	}
	out := make([]Image, 0, len(byName))
	for _, img := range byName {
		out = append(out, img)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func sameBuild(a, b types.BuildConfig) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// Names lists the names of images.
func Names(imgs []Image) []string {
	names := make([]string, len(imgs))
	for i, img := range imgs {
		names[i] = img.Name
	}
	return names
}

// Select returns the images named in a comma-separated list, in the order
// of all; an empty list selects them all.
func Select(all []Image, only string) ([]Image, error) {
	if strings.TrimSpace(only) == "" {
		return all, nil
	}
	wanted := map[string]bool{}
	for _, name := range strings.Split(only, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		found := false
		for _, img := range all {
			found = found || img.Name == name
		}
		if !found {
			return nil, fmt.Errorf("unknown image %q: use one or more of %s, separated by commas (the images the compose files build)", stack.Clip(name), strings.Join(Names(all), ","))
		}
		wanted[name] = true
	}
	var selected []Image
	for _, img := range all {
		if wanted[img.Name] {
			selected = append(selected, img)
		}
	}
	if len(selected) == 0 {
		return nil, fmt.Errorf("-only=%s names no image: use one or more of %s, separated by commas", session.Shown(only), strings.Join(Names(all), ","))
	}
	return selected, nil
}

// InRefs returns the images of all that the given references name under
// registry (any tag), in the order of all. References to other images
// (redis, say) are left out.
func InRefs(all []Image, registry string, refs []string) []Image {
	prefix := strings.TrimSuffix(registry, "/") + "/"
	used := map[string]bool{}
	for _, ref := range refs {
		if name, ok := strings.CutPrefix(Repository(ref), prefix); ok {
			used[name] = true
		}
	}
	var out []Image
	for _, img := range all {
		if used[img.Name] {
			out = append(out, img)
		}
	}
	return out
}

// Catalogue loads the compose file of every environment and returns the
// images they build: the one list of the project's images, for
// docker:build/push/pull, check and the stacks' builds. Each file is read
// with the env files of its own environment, or, when with is set, with
// with's (docker:build builds a release: its build arguments and REGISTRY
// are the release environment's, whichever file declares the build).
func Catalogue(ctx context.Context, ses *session.Session, with *stack.Env) ([]Image, error) {
	var loads []catalogueLoad
	for _, e := range stack.Environments {
		st, err := ses.Quiet().Open(e.Name)
		if err != nil {
			return nil, err
		}
		text, err := os.ReadFile(filepath.Join(st.Root, e.ComposeFile))
		if err == nil && !MayBuild(text) {
			continue // no load needed to know it builds nothing
		}
		project, registry := st.Project, st.Env.Registry()
		if with != nil && with.Environment.Name != e.Name {
			// The file's own env files first (its required variables),
			// then with's, which win.
			project.AlsoEnvFiles, registry = with.Files, with.Registry()
		}
		loads = append(loads, catalogueLoad{file: e.ComposeFile, text: text, project: project, registry: registry})
	}
	// The answer depends on nothing but the files and values the loads
	// read: when they are as a kept answer's call found them, it is that
	// answer.
	cache := newCatalogueCache(ses, loads)
	if imgs, ok := cache.get(); ok {
		return imgs, nil
	}
	// One compose file after another took four loads' time (about 20 ms
	// each on 2 cores): they are independent, so they load at once.
	loaded := make([]Loaded, len(loads))
	errs := make([]error, len(loads))
	var wg sync.WaitGroup
	for i, l := range loads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			model, err := l.project.Load(ctx, ses.Environ)
			loaded[i], errs[i] = Loaded{File: l.file, Model: model, Registry: l.registry}, err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	imgs, err := Declared(loaded)
	if err != nil {
		return nil, err
	}
	if len(imgs) == 0 {
		return nil, fmt.Errorf("no compose file builds an image: give the services whose images the project builds a build section (see docs/builds.md)")
	}
	cache.put(imgs)
	return imgs, nil
}

// mayBuildWord is a word that lets a compose file declare a build: the
// build key itself, or extends and include, which bring other files' in.
var mayBuildWord = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\b(build|extends|include)\b`) })

// MayBuild says whether a compose file's text may declare an image the
// project builds. A file without the word build (nor extends or include)
// cannot, whatever its anchors and variables: Catalogue then does not load
// it (compose-go takes about 20 ms a file on 2 cores). A comment that says
// "build" only costs the load.
func MayBuild(text []byte) bool { return mayBuildWord().Match(text) }

// relative is path relative to root when it is under root, else path.
func relative(root, path string) string {
	if rel, err := filepath.Rel(root, path); err == nil && !strings.HasPrefix(rel, "..") {
		return filepath.ToSlash(rel)
	}
	return path
}
