package tfvars

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/zclconf/go-cty/cty"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// goldenCases are the edits whose output is kept in testdata/<name>.golden.
var goldenCases = []struct {
	name  string // golden file name, without .golden
	input string // testdata file
	sets  []Set
}{
	{"set_number", "realistic.tfvars", []Set{{Name: "worker_count", Value: cty.NumberIntVal(3)}}},
	{"set_number_note_user_comment", "realistic.tfvars", []Set{{Name: "worker_count", Value: cty.NumberIntVal(3), Note: "was 2"}}},
	{"set_string", "realistic.tfvars", []Set{{Name: "worker_type", Value: cty.StringVal("cpx42")}}},
	{"set_string_note", "realistic.tfvars", []Set{{Name: "worker_type", Value: cty.StringVal("cpx42"), Note: "was cpx32"}}},
	{"set_both", "realistic.tfvars", []Set{
		{Name: "worker_count", Value: cty.NumberIntVal(3), Note: "was 2"},
		{Name: "worker_type", Value: cty.StringVal("cpx42"), Note: "was cpx32"},
	}},
	{"unchanged", "realistic.tfvars", []Set{{Name: "worker_count", Value: cty.NumberIntVal(2)}}},
	{"escape", "realistic.tfvars", []Set{{Name: "cluster_name", Value: cty.StringVal(`ironflow-${env} "blue"`)}}},
	{"heredoc_replaced", "realistic.tfvars", []Set{{Name: "talos_machine_patch", Value: cty.StringVal("machine: {}\n"), Note: "was a heredoc"}}},
	{"append", "realistic.tfvars", []Set{
		{Name: "worker_count", Value: cty.NumberIntVal(3), Note: "was 2"},
		{Name: "worker_location", Value: cty.StringVal("nbg1")},
		{Name: "autoscaler_enabled", Value: cty.False, Note: "added by AddWorker"},
	}},
	{"note_replaced", "noted.tfvars", []Set{
		{Name: "worker_count", Value: cty.NumberIntVal(4), Note: "was 3"},
		{Name: "worker_type", Value: cty.StringVal("cpx52"), Note: "was cpx42"},
	}},
	{"crlf", "crlf.tfvars", []Set{
		{Name: "worker_count", Value: cty.NumberIntVal(3), Note: "was 2"},
		{Name: "worker_type", Value: cty.StringVal("cpx42")},
		{Name: "worker_image", Value: cty.StringVal("talos"), Note: "new"},
	}},
	{"no_newline", "no_newline.tfvars", []Set{
		{Name: "worker_count", Value: cty.NumberIntVal(3), Note: "was 2"},
		{Name: "worker_type", Value: cty.StringVal("cpx32")},
	}},
	{"no_newline_edit_only", "no_newline.tfvars", []Set{{Name: "worker_count", Value: cty.NumberIntVal(3), Note: "was 2"}}},
	{"empty", "empty.tfvars", []Set{{Name: "worker_count", Value: cty.NumberIntVal(3), Note: "was unset"}}},
	{"tabs_and_comment_styles", "tabs.tfvars", []Set{
		{Name: "worker_count", Value: cty.NumberIntVal(5), Note: "was 2"},
		{Name: "worker_type", Value: cty.StringVal("cax21"), Note: "was null"},
		{Name: "region", Value: cty.StringVal("us")},
	}},
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

func TestEditGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			src := readTestdata(t, tc.input)
			out, err := Edit(src, tc.input, tc.sets...)
			require.NoError(t, err)

			golden := filepath.Join("testdata", tc.name+".golden")
			if *update {
				require.NoError(t, os.WriteFile(golden, out, 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test -update to create it")
			assert.Equal(t, string(want), string(out))

			for _, s := range tc.sets {
				v, err := Lookup(out, tc.input, s.Name)
				require.NoError(t, err)
				assert.True(t, v.RawEquals(s.Value), "%s = %#v, want %#v", s.Name, v, s.Value)
			}
			assertOnlyEditedLines(t, src, out, tc.sets)

			again, err := Edit(out, tc.input, tc.sets...)
			require.NoError(t, err)
			assert.Equal(t, string(out), string(again), "a repeated edit must change nothing")
		})
	}
}

// assertOnlyEditedLines proves "every other byte kept": the lines of src
// outside the attributes being set come out unchanged and in order, and
// so does, on each edited line, everything before the value (name,
// spacing, "="). Only the final line may gain a line break, when an
// attribute is appended after it.
func assertOnlyEditedLines(t *testing.T, src, out []byte, sets []Set) {
	t.Helper()
	names := map[string]bool{}
	for _, s := range sets {
		names[s.Name] = true
	}
	before, beforeAttrs := linesOutside(t, src, names)
	after, afterAttrs := linesOutside(t, out, names)

	require.Equal(t, len(before), len(after), "untouched line count")
	if n := len(before); n > 0 && !bytes.HasSuffix(before[n-1], []byte("\n")) && len(after) > 0 && bytes.HasSuffix(after[n-1], []byte("\n")) {
		before[n-1] = append(bytes.Clone(before[n-1]), newlineOf(src)...)
	}
	for i := range before {
		assert.Equal(t, string(before[i]), string(after[i]), "untouched line %d changed", i+1)
	}
	for name, prefix := range beforeAttrs {
		assert.Equal(t, prefix, afterAttrs[name], "the text before %s's value changed", name)
	}
}

// linesOutside returns the lines of src not spanned by an attribute in
// names, line breaks included, and for each such attribute the text from
// the start of its line to its value.
func linesOutside(t *testing.T, src []byte, names map[string]bool) ([][]byte, map[string]string) {
	t.Helper()
	f, diags := hclsyntax.ParseConfig(src, "t", hcl.InitialPos)
	require.False(t, diags.HasErrors(), "%v", diags)
	skip := map[int]bool{}
	prefixes := map[string]string{}
	for name, a := range f.Body.(*hclsyntax.Body).Attributes {
		if !names[name] {
			continue
		}
		for l := a.SrcRange.Start.Line; l <= a.SrcRange.End.Line; l++ {
			skip[l] = true
		}
		lineStart := bytes.LastIndexByte(src[:a.SrcRange.Start.Byte], '\n') + 1
		prefixes[name] = string(src[lineStart:a.Expr.Range().Start.Byte])
	}
	var lines [][]byte
	for i, l := range bytes.SplitAfter(src, []byte("\n")) {
		if len(l) > 0 && !skip[i+1] {
			lines = append(lines, l)
		}
	}
	return lines, prefixes
}

func TestEditNoSetsReturnsCopy(t *testing.T) {
	src := readTestdata(t, "realistic.tfvars")
	out, err := Edit(src, "realistic.tfvars")
	require.NoError(t, err)
	assert.Equal(t, src, out)
	out[0] = 'X'
	assert.NotEqual(t, src[0], out[0], "Edit must not return the caller's slice")
}

func TestRead(t *testing.T) {
	src := readTestdata(t, "realistic.tfvars")
	vals, err := Read(src, "realistic.tfvars")
	require.NoError(t, err)
	assert.Len(t, vals, 16)
	assert.True(t, vals["worker_count"].RawEquals(cty.NumberIntVal(2)))
	assert.True(t, vals["worker_type"].RawEquals(cty.StringVal("cpx32")))
	assert.True(t, vals["enable_floating_ip"].RawEquals(cty.True))
	assert.True(t, vals["hostname_template"].RawEquals(cty.StringVal("worker-${hostname}")))
	assert.True(t, vals["labels"].RawEquals(cty.ObjectVal(map[string]cty.Value{
		"env": cty.StringVal("prod"), "team": cty.StringVal("platform"), "cost-center": cty.StringVal("4711"),
	})), "%#v", vals["labels"])
	assert.True(t, vals["ssh_allowed_cidrs"].RawEquals(cty.TupleVal([]cty.Value{cty.StringVal("203.0.113.0/24"), cty.StringVal("198.51.100.7/32")})))
	assert.Equal(t, "machine:\n  kubelet:\n    extraArgs:\n      max-pods: \"110\"\n", vals["talos_machine_patch"].AsString())
}

func TestReadSkipsNonLiterals(t *testing.T) {
	src := []byte("a = 1\nb = var.x\nc = \"${a}\"\nd = -4\ne = null\nf = { (var.k) = 1 }\ng = [1, \"x\", true, { k = [] }]\n")
	vals, err := Read(src, "t.tfvars")
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"a", "d", "e", "g"}, keys(vals))
	assert.True(t, vals["d"].RawEquals(cty.NumberIntVal(-4)))
	assert.True(t, vals["e"].IsNull())

	empty, err := Read(nil, "empty.tfvars")
	require.NoError(t, err)
	assert.NotNil(t, empty)
	assert.Empty(t, empty)
}

func keys(m map[string]cty.Value) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func TestLookupAndHas(t *testing.T) {
	src := readTestdata(t, "realistic.tfvars")
	v, err := Lookup(src, "realistic.tfvars", "control_plane_count")
	require.NoError(t, err)
	assert.True(t, v.RawEquals(cty.NumberIntVal(3)))

	_, err = Lookup(src, "realistic.tfvars", "worker_image")
	var te *Error
	require.ErrorAs(t, err, &te)
	assert.Equal(t, KindMissing, te.Kind)
	assert.ErrorIs(t, err, ErrMissing)
	assert.Equal(t, "realistic.tfvars: worker_image: not set in this file", err.Error())

	ok, err := Has(src, "realistic.tfvars", "worker_type")
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = Has(src, "realistic.tfvars", "worker_image")
	require.NoError(t, err)
	assert.False(t, ok)
	ok, err = Has([]byte("x = var.y\n"), "t", "x")
	require.NoError(t, err)
	assert.True(t, ok, "Has reports non-literal attributes too")
	_, err = Has([]byte("x = \n"), "t", "x")
	assert.ErrorIs(t, err, ErrSyntax)
}

func TestEditNullAcceptsAnyType(t *testing.T) {
	out, err := Edit([]byte("worker_type = null\n"), "t", Set{Name: "worker_type", Value: cty.StringVal("cpx32")})
	require.NoError(t, err)
	assert.Equal(t, "worker_type = \"cpx32\"\n", string(out))
}

func TestQuoteRoundTrips(t *testing.T) {
	for _, s := range []string{"", "plain", `a"b`, `back\slash`, "${x}", "%{if}", "$${x}", "$$${x}", "$", "%", "tab\there", "nl\nx\r\n", "\x00\x01\x7f", "é ü ✓ 🚀", "\u00a0\u2028\ufeff", "trailing $", "{", "${", "%%{"} {
		src := []byte("v = " + quote(s) + "\n")
		v, err := Lookup(src, "t", "v")
		require.NoError(t, err, "%q rendered as %s", s, src)
		assert.Equal(t, cty.StringVal(s).AsString(), v.AsString(), "rendered as %s", src)
	}
}

func TestRewriteComment(t *testing.T) {
	for _, tc := range []struct{ in, note, want string }{
		{"# keep >= 2 for HA", "was 2", "# was 2; keep >= 2 for HA"},
		{"# was 2; keep >= 2 for HA", "was 3", "# was 3; keep >= 2 for HA"},
		{"# was 2", "was 3", "# was 3"},
		{"#was 2", "was 3", "# was 3"},
		{"//   was 2; x", "was 3", "//   was 3; x"},
		{"#", "was 3", "# was 3"},
		{"#   ", "was 3", "#   was 3"},
		{"# wasabi", "was 3", "# was 3; wasabi"},
		{"# was", "was 3", "# was 3; was"},
		{"#\tbump", "was 1", "#\twas 1; bump"},
	} {
		assert.Equal(t, tc.want, rewriteComment(tc.in, tc.note), "rewriteComment(%q, %q)", tc.in, tc.note)
	}
}
