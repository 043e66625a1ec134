package tfvars

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// FuzzEdit sets a number (to worker_count, or to the pick-th attribute of
// the file) and a string (to worker_type) in arbitrary input, and checks
// what Edit promises: no panic; on error an *Error that blames the input
// or the request, never KindInternal, and no bytes; on success a file that
// parses, holds the set values, keeps every other attribute's value, and
// comes out the same when the edit is repeated.
func FuzzEdit(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.tfvars"))
	for _, name := range files {
		src, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src, int64(3), "cpx42", "was 2", uint8(0))
	}
	for _, src := range []string{
		"",
		"\n",
		"worker_count = 2",
		"worker_count = 2 # was 1; keep",
		"worker_count = 2 /* a\nb */ // c\r\n",
		"worker_count = -2\nworker_type = null\n",
		"worker_type = <<EOT\ncpx32\nEOT",
		"worker_type = <<-EOT\n  cpx32\n  EOT\n",
		"worker_type = \"a$${b}%%{c}\\n\"\n",
		"worker_type = \"a${1}\"\n",
		"worker_count = var.x\n",
		"x = { a = [1, { b = \"c\" }], \"d\" = true }\nworker_count = 0\n",
		"worker_count = 2\r\n# only comment at the end",
		"worker_count\t=\t2\t#\tbump\n",
		"block {}\n",
		"a = 1\na = 2\n",
		"worker_count = 1e3\n",
		"worker_count = 2 # \r",
		"\xef\xbb\xbfworker_count = 2\n",
	} {
		f.Add([]byte(src), int64(3), "cpx42", "was 2", uint8(0))
	}
	f.Add([]byte("worker_type = \"x\"\n"), int64(-1), "${var.x}\"\\\n\t\x00é", "was x", uint8(1))
	f.Add([]byte("a = 1\nb = \"s\"\n"), int64(9007199254740993), "%{ if }", "", uint8(1))

	f.Fuzz(func(t *testing.T, src []byte, num int64, str, note string, pick uint8) {
		countName := "worker_count"
		if pick > 0 {
			if names := attrNames(src); len(names) > 0 {
				countName = names[int(pick)%len(names)]
			}
		}
		sets := []Set{
			{Name: countName, Value: cty.NumberIntVal(num), Note: note},
			{Name: "worker_type", Value: cty.StringVal(str), Note: note},
		}
		if checkEdit(t, src, sets) == KindInvalid {
			// Most random notes and strings hold a control character or
			// invalid UTF-8, which Edit rightly refuses before reading the
			// file; clean them so the file side is exercised as well.
			clean := func(s string) string {
				return strings.Map(func(r rune) rune {
					if r != '\t' && unicode.IsControl(r) {
						return -1
					}
					return r
				}, strings.ToValidUTF8(s, ""))
			}
			for i := range sets {
				sets[i].Note = clean(sets[i].Note)
			}
			sets[1].Value = cty.StringVal(strings.ToValidUTF8(str, ""))
			checkEdit(t, src, sets)
		}
	})
}

// checkEdit runs Edit and checks its promises, returning the error's kind
// (0 on success).
func checkEdit(t *testing.T, src []byte, sets []Set) Kind {
	out, err := Edit(src, "fuzz.tfvars", sets...)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("error %T is not an *Error: %v", err, err)
		}
		if e.Kind == KindInternal {
			t.Fatalf("internal error on input %q: %v", src, err)
		}
		if out != nil {
			t.Fatalf("bytes returned with error %v", err)
		}
		return e.Kind
	}
	if _, diags := hclsyntax.ParseConfig(out, "out", hcl.InitialPos); diags.HasErrors() {
		t.Fatalf("output does not parse: %v\n%q", diags, out)
	}
	set := map[string]bool{}
	for _, s := range sets {
		set[s.Name] = true
		v, err := Lookup(out, "out", s.Name)
		if err != nil {
			t.Fatalf("Lookup(%s): %v\n%q", s.Name, err, out)
		}
		if !v.RawEquals(s.Value) {
			t.Fatalf("%s = %#v, want %#v\n%q", s.Name, v, s.Value, out)
		}
	}
	before, errBefore := Read(src, "in")
	after, errAfter := Read(out, "out")
	if errAfter != nil {
		t.Fatalf("Read(out): %v", errAfter)
	}
	if errBefore == nil {
		for name, v := range before {
			if set[name] {
				continue
			}
			if w, ok := after[name]; !ok || !w.RawEquals(v) {
				t.Fatalf("%s changed from %#v to %#v\n%q\n%q", name, v, w, src, out)
			}
		}
	}
	note := strings.TrimSpace(sets[0].Note)
	if note == "" || (isOurNote(note) && !strings.Contains(note, "; ")) {
		again, err := Edit(out, "fuzz.tfvars", sets...)
		if err != nil {
			t.Fatalf("repeating the edit: %v\n%q", err, out)
		}
		if string(again) != string(out) {
			t.Fatalf("repeating the edit changed the file:\n%q\n%q", out, again)
		}
	}
	return 0
}

// attrNames returns the input's top-level attribute names, sorted, or nil
// when it does not parse (or the parser panics, which Edit must survive
// but this helper need not report).
func attrNames(src []byte) (names []string) {
	defer func() {
		if recover() != nil {
			names = nil
		}
	}()
	f, diags := hclsyntax.ParseConfig(src, "in", hcl.InitialPos)
	if diags.HasErrors() {
		return nil
	}
	body, ok := f.Body.(*hclsyntax.Body)
	if !ok {
		return nil
	}
	for name := range body.Attributes {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
