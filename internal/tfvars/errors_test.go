package tfvars

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/zclconf/go-cty/cty"
)

var (
	count3 = Set{Name: "worker_count", Value: cty.NumberIntVal(3)}
	typeS  = Set{Name: "worker_type", Value: cty.StringVal("cpx42")}
)

func TestEditErrors(t *testing.T) {
	for _, tc := range []struct {
		name         string
		src          string
		sets         []Set
		kind         Kind
		line, column int
		attr         string // Error.Name
		detail       string // substring of Error.Detail
	}{
		{"missing value", "worker_count =\n", []Set{count3}, KindSyntax, 1, 15, "", "Invalid expression"},
		{"unterminated string", "worker_type = \"cpx32\n", []Set{typeS}, KindSyntax, 1, 21, "", "Invalid multi-line string"},
		{"unterminated heredoc", "worker_type = <<EOT\ncpx32\n", []Set{typeS}, KindSyntax, 3, 1, "", "Unterminated template string"},
		{"two on one line", "worker_count = 2 worker_type = \"x\"\n", []Set{count3}, KindSyntax, 1, 18, "", "Missing newline after argument"},
		{"duplicate attribute", "worker_count = 2\nlocation = \"fsn1\"\nworker_count = 3\n", []Set{count3}, KindSyntax, 3, 1, "", "Attribute redefined"},
		{"block", "worker_count = 2\n\nworkers \"pool\" {\n  count = 2\n}\n", []Set{count3}, KindSyntax, 3, 1, "", `unexpected "workers" block`},
		{"invalid utf-8", "worker_type = \"\xff\"\n", []Set{typeS}, KindSyntax, 1, 16, "", "Invalid character encoding"},
		{"stray brace", "}\n", nil, KindSyntax, 1, 1, "", "Argument or block definition required"},
		{"variable", "# workers\n\nworker_count = var.x\n", []Set{count3}, KindNotLiteral, 3, 16, "worker_count", `Terraform refuses "var.x"`},
		{"function call", "worker_count = max(1, 2)\n", []Set{count3}, KindNotLiteral, 1, 16, "worker_count", `Terraform refuses "max(1, 2)"`},
		{"interpolation", "worker_type = \"cpx${local.n}\"\n", []Set{typeS}, KindNotLiteral, 1, 15, "worker_type", "Terraform refuses"},
		{"interpolated literal", "worker_type = \"cpx${32}\"\n", []Set{typeS}, KindNotLiteral, 1, 15, "worker_type", `does not rewrite the expression "\"cpx${32}\""`},
		{"template directive", "worker_type = \"%{ if true }cpx32%{ endif }\"\n", []Set{typeS}, KindNotLiteral, 1, 15, "worker_type", "does not rewrite"},
		{"heredoc interpolation", "worker_type = <<EOT\n${var.t}\nEOT\n", []Set{typeS}, KindNotLiteral, 1, 15, "worker_type", "Terraform refuses"},
		{"conditional", "worker_count = true ? 2 : 3\n", []Set{count3}, KindNotLiteral, 1, 16, "worker_count", "does not rewrite"},
		{"arithmetic", "worker_count = 1 + 1\n", []Set{count3}, KindNotLiteral, 1, 16, "worker_count", "does not rewrite"},
		{"parentheses", "worker_count = (2)\n", []Set{count3}, KindNotLiteral, 1, 16, "worker_count", "does not rewrite"},
		{"string for number", "worker_count   = \"2\"\n", []Set{count3}, KindType, 1, 18, "worker_count", `holds a string ("\"2\""); refusing to replace it with a number`},
		{"number for string", "worker_type = 32\n", []Set{typeS}, KindType, 1, 15, "worker_type", "holds a number"},
		{"bool for number", "worker_count = true\n", []Set{count3}, KindType, 1, 16, "worker_count", "holds a bool"},
		{"list", "worker_count = [2]\n", []Set{count3}, KindType, 1, 16, "worker_count", "holds a tuple"},
		{"object", "worker_count = { a = 2 }\n", []Set{count3}, KindType, 1, 16, "worker_count", "holds a object"},
		{"fraction", "worker_count = 2\n", []Set{{Name: "worker_count", Value: cty.NumberFloatVal(2.5)}}, KindType, 0, 0, "worker_count", "2.5 is not a whole number"},
		{"infinity", "worker_count = 2\n", []Set{{Name: "worker_count", Value: cty.PositiveInfinity}}, KindType, 0, 0, "worker_count", "not a whole number"},
		{"list value", "worker_count = 2\n", []Set{{Name: "worker_count", Value: cty.ListVal([]cty.Value{cty.NumberIntVal(1)})}}, KindType, 0, 0, "worker_count", "list of number"},
		{"null value", "worker_count = 2\n", []Set{{Name: "worker_count", Value: cty.NullVal(cty.Number)}}, KindInvalid, 0, 0, "worker_count", "null"},
		{"zero value", "worker_count = 2\n", []Set{{Name: "worker_count"}}, KindInvalid, 0, 0, "worker_count", "null"},
		{"unknown value", "worker_count = 2\n", []Set{{Name: "worker_count", Value: cty.UnknownVal(cty.Number)}}, KindInvalid, 0, 0, "worker_count", "unknown"},
		{"marked value", "worker_count = 2\n", []Set{{Name: "worker_count", Value: cty.NumberIntVal(3).Mark("sensitive")}}, KindInvalid, 0, 0, "worker_count", "marked"},
		{"bad name", "worker_count = 2\n", []Set{{Name: "2workers", Value: cty.NumberIntVal(3)}}, KindInvalid, 0, 0, "2workers", "not an HCL identifier"},
		{"empty name", "worker_count = 2\n", []Set{{Name: "", Value: cty.NumberIntVal(3)}}, KindInvalid, 0, 0, "", "not an HCL identifier"},
		{"multi-line note", "worker_count = 2\n", []Set{{Name: "worker_count", Value: cty.NumberIntVal(3), Note: "was 2\nworker_count = 9"}}, KindInvalid, 0, 0, "worker_count", "line break"},
		{"invalid utf-8 string", "worker_type = \"a\"\n", []Set{{Name: "worker_type", Value: cty.StringVal("\xff")}}, KindInvalid, 0, 0, "worker_type", "UTF-8"},
		{"set twice", "worker_count = 2\n", []Set{count3, count3}, KindInvalid, 0, 0, "worker_count", "set twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Edit([]byte(tc.src), "terraform.tfvars", tc.sets...)
			assert.Nil(t, out, "no bytes on error")
			var e *Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, tc.kind, e.Kind, "kind; error: %v", err)
			assert.Equal(t, tc.line, e.Line, "line; error: %v", err)
			assert.Equal(t, tc.column, e.Column, "column; error: %v", err)
			assert.Equal(t, tc.attr, e.Name)
			assert.Equal(t, "terraform.tfvars", e.Filename)
			assert.Contains(t, e.Detail, tc.detail)
			assert.ErrorIs(t, err, sentinels[tc.kind])
			for k, s := range sentinels {
				if k != tc.kind {
					assert.NotErrorIs(t, err, s)
				}
			}
		})
	}
}

func TestLookupErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src, attr string
		kind            Kind
		line, column    int
	}{
		{"missing", "a = 1\n", "worker_count", KindMissing, 0, 0},
		{"variable", "a = 1\nworker_count = local.n\n", "worker_count", KindNotLiteral, 2, 16},
		{"object with computed key", "labels = { (var.k) = 1 }\n", "labels", KindNotLiteral, 1, 10},
		{"list with a reference", "cidrs = [\"10.0.0.0/8\", var.extra]\n", "cidrs", KindNotLiteral, 1, 9},
		{"syntax", "a = [\n", "a", KindSyntax, 2, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Lookup([]byte(tc.src), "x.tfvars", tc.attr)
			var e *Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, tc.kind, e.Kind, "%v", err)
			assert.Equal(t, tc.line, e.Line, "%v", err)
			assert.Equal(t, tc.column, e.Column, "%v", err)
		})
	}
}

func TestErrorMessage(t *testing.T) {
	src := []byte("# workers\n\nworker_count = var.x\n")
	_, err := Edit(src, "terraform.tfvars", count3)
	assert.EqualError(t, err, `terraform.tfvars:3,16: worker_count: not a literal value (a tfvars file holds only literals; Terraform refuses "var.x")`)

	assert.Equal(t, "3,16: detail", (&Error{Line: 3, Column: 16, Detail: "detail"}).Error())
	assert.Equal(t, "tfvars: syntax error", (&Error{Kind: KindSyntax}).Error())
	assert.Equal(t, "kind(42)", Kind(42).String())

	wrapped := errors.Join(errors.New("nodes: cannot edit"), err)
	assert.ErrorIs(t, wrapped, ErrNotLiteral)
	var e *Error
	require.ErrorAs(t, wrapped, &e)
	assert.Equal(t, "worker_count", e.Name)
}

func TestReadErrors(t *testing.T) {
	_, err := Read([]byte("a = 1\na = 2\n"), "x")
	assert.ErrorIs(t, err, ErrSyntax)
	// hclsyntax evaluates an object with a repeated key without complaint,
	// the later entry winning, so Read reports what Terraform would see.
	vals, err := Read([]byte("a = { k = 1, k = 2 }\n"), "x")
	require.NoError(t, err)
	assert.True(t, vals["a"].GetAttr("k").RawEquals(cty.NumberIntVal(2)), "%#v", vals["a"])
}
