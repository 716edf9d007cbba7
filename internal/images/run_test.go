package images

import (
	"strings"
	"testing"

	"github.com/kettleofketchup/dtx_website/internal/runner"
	"github.com/kettleofketchup/dtx_website/internal/stack"
)

// Finding 3: a $ in a value is written $$ in the build definition, which
// the old mask (run over the encoded text) missed; the definition is now
// encoded from masked values. (Validation refuses $ in today's build
// arguments, so this is checked on the plan directly.)
func TestBuildDefinitionIsEncodedFromMaskedValues(t *testing.T) {
	secret := `pa$$"w0rd`
	m := runner.NewMasker(secret)
	nginx, err := stack.SelectImages("nginx")
	if err != nil {
		t.Fatal(err)
	}
	p := Plan{Images: nginx, Registry: "reg.example/x", Version: "1.0.0", BuildArgs: map[string]string{"NGINX_BASE_IMAGE": secret}}
	if !strings.Contains(string(p.Definition()), "w0rd") {
		t.Fatal("the test's plan does not hold the secret")
	}
	def := string(maskedPlan(m, p).Definition())
	if strings.Contains(def, "w0rd") || !strings.Contains(def, `"NGINX_BASE_IMAGE": "****"`) {
		t.Fatalf("definition:\n%s", def)
	}
}
