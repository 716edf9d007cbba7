package images

import (
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/kettleofketchup/dtx_website/internal/runner"
)

// Finding 3: a $ in a value is written $$ in the build definition, which
// the old mask (run over the encoded text) missed; the definition is now
// encoded from masked values. (Validation refuses $ in today's build
// arguments, so this is checked on the plan directly.)
func TestBuildDefinitionIsEncodedFromMaskedValues(t *testing.T) {
	secret := `pa$$"w0rd`
	m := runner.NewMasker(secret)
	nginx := Image{Name: "nginx", Build: types.BuildConfig{Context: "/srv/site/nginx", Dockerfile: "Dockerfile", Args: types.MappingWithEquals{"NGINX_BASE_IMAGE": &secret}}}
	p := Plan{Images: []Image{nginx}, Registry: "reg.example/x", Version: "1.0.0"}
	if !strings.Contains(string(p.Definition("/srv/site", nil)), "w0rd") {
		t.Fatal("the test's plan does not hold the secret")
	}
	def := string(p.Definition("/srv/site", m.Text))
	if strings.Contains(def, "w0rd") || !strings.Contains(def, `"NGINX_BASE_IMAGE": "****"`) {
		t.Fatalf("definition:\n%s", def)
	}
}
