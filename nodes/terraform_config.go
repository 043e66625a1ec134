package nodes

import (
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
)

// declaredVariable is a root-module variable and its default, when the
// default is a literal (nil otherwise, or when it has none).
type declaredVariable struct {
	Name    string
	Default *cty.Value
}

var variableSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "variable", LabelNames: []string{"name"}}}}
var defaultSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "default"}}}

// declaredVariables reads the variable blocks of the root module in dir
// (*.tf and *.tf.json, as Terraform loads them): checking a variable is
// declared before planning turns Terraform's mere warning about an
// undeclared tfvars value into an error, and the default says what the
// count is when tfvars does not set it. A file that does not parse is a
// *TerraformError: Terraform would refuse it too.
func declaredVariables(dir string) (map[string]declaredVariable, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	p := hclparse.NewParser()
	out := map[string]declaredVariable{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") {
			continue
		}
		var f *hcl.File
		var diags hcl.Diagnostics
		switch {
		case strings.HasSuffix(name, ".tf"):
			f, diags = p.ParseHCLFile(filepath.Join(dir, name))
		case strings.HasSuffix(name, ".tf.json"):
			f, diags = p.ParseJSONFile(filepath.Join(dir, name))
		default:
			continue
		}
		if diags.HasErrors() {
			return nil, &TerraformError{Command: "configuration", Err: diags}
		}
		content, _, _ := f.Body.PartialContent(variableSchema)
		for _, b := range content.Blocks {
			v := declaredVariable{Name: b.Labels[0]}
			if attrs, _, _ := b.Body.PartialContent(defaultSchema); attrs != nil {
				if a, ok := attrs.Attributes["default"]; ok {
					if val, d := a.Expr.Value(nil); !d.HasErrors() {
						v.Default = &val
					}
				}
			}
			out[v.Name] = v
		}
	}
	return out, nil
}

func variableNames(vs map[string]declaredVariable) []string {
	out := make([]string, 0, len(vs))
	for k := range vs {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
