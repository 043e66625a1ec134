// Package tfvars reads and edits Terraform variable definition files
// (terraform.tfvars, HCL native syntax) the way a careful person would:
// it changes the value of an attribute, and optionally its trailing
// comment, and keeps every other byte of the file, comments, blank lines,
// alignment, tabs and CRLF line endings included.
//
// The edit works on byte offsets from the hclsyntax parser instead of
// re-rendering the file with hclwrite: hclwrite reformats what it builds
// (tabs become spaces, new tokens lose their spacing) and, at the version
// this module pins, would also pull github.com/google/go-cmp into the
// build. Splicing bytes keeps the promise "only the edited line changes"
// by construction, and every edit is checked by parsing its result again.
//
// A tfvars file holds only literals: Terraform refuses a variable
// reference or a function call there. This package treats anything other
// than a plain literal (including interpolation and conditionals, which
// Terraform would evaluate) as "not a literal": it neither reports a value
// for it nor replaces it, since a person wrote an expression on purpose.
//
// All functions are pure: they take the file's bytes and return bytes or
// values; reading and writing the file is the caller's business. Every
// error is an *Error; besides the kinds each function documents, any of
// them may return KindInternal, which marks a defect in this package. JSON
// variable files (*.tfvars.json) are not supported.
package tfvars

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Set is one attribute to set.
type Set struct {
	// Name is the attribute name, e.g. "worker_count"; it must be an HCL
	// identifier.
	Name string
	// Value is a known, non-null, unmarked primitive: a whole cty.Number,
	// a cty.String (valid UTF-8) or a cty.Bool. When the attribute exists
	// and holds a non-null literal, Value must have that literal's type.
	Value cty.Value
	// Note, when not blank, becomes the attribute's trailing comment
	// "# <Note>", e.g. "was 2". An existing trailing comment that this
	// editor wrote (its text starts with "was ") is replaced; a person's
	// own comment is kept after the note, "# was 2; keep >= 2 for HA", and
	// a later edit replaces just the "was 2; " part (or the same note
	// again, whatever its words). So a Note should start with "was " and
	// not contain "; " for edits with changing notes not to stack. A
	// blank Note leaves the trailing comment as it is. Lead
	// comments (the lines above) are never changed. The note must be one
	// line without control characters other than tab.
	Note string
}

// Edit returns a copy of src with each Set applied and every other byte
// kept exactly.
//
// For an attribute the file has, only its value's bytes are replaced (not
// even those when the value is already equal), and its trailing comment
// when Set.Note asks for it; the spacing around "=" and before the comment
// is the file's. For a name the file does not have, a line
// "name = value" (with " # note") is appended at the end of the file,
// after a line break if the file does not end in one; use Has beforehand
// to know which will happen. New line breaks follow the file's style
// (CRLF when its first line ends in CRLF).
//
// With no sets, Edit only checks that src is a valid tfvars file and
// returns a copy. On any error the result is nil and the error is an
// *Error: KindInvalid for a malformed Set, KindSyntax when src is not a
// valid tfvars file, KindNotLiteral or KindType when an attribute being
// set is not a literal or holds another type. The result is parsed again
// before it is returned, and must hold the new values and every other
// attribute unchanged; were it not so (a defect in this package), the
// error is KindInternal and nothing is returned. Edit never panics.
func Edit(src []byte, filename string, sets ...Set) (out []byte, err error) {
	defer recoverInternal(filename, &out, &err)
	seen := make(map[string]bool, len(sets))
	for _, s := range sets {
		if err := checkSet(s, filename); err != nil {
			return nil, err
		}
		if seen[s.Name] {
			return nil, &Error{Kind: KindInvalid, Filename: filename, Name: s.Name, Detail: "set twice in one edit; which value is meant is unclear"}
		}
		seen[s.Name] = true
	}
	f, err := parse(src, filename)
	if err != nil {
		return nil, err
	}
	var (
		splices  []splice
		appended []Set
	)
	for _, s := range sets {
		a, ok := f.body.Attributes[s.Name]
		if !ok {
			appended = append(appended, s)
			continue
		}
		sp, err := f.editAttr(a, s)
		if err != nil {
			return nil, err
		}
		splices = append(splices, sp...)
	}
	out = applySplices(src, splices)
	out = appendAttrs(out, appended, newlineOf(src))
	if err := f.verify(out, sets, len(appended)); err != nil {
		return nil, err
	}
	return out, nil
}

// Read returns the value of every top-level attribute whose expression is
// a literal (lists, maps and objects of literals included), keyed by
// name; the map is empty, not nil, for a file without attributes.
// Attributes that are not literals are left out rather than failing the
// read: they are an error only when asked for by name, see Lookup. The
// error, always an *Error, is KindSyntax when src is not a valid tfvars
// file.
func Read(src []byte, filename string) (vals map[string]cty.Value, err error) {
	defer recoverInternal(filename, &vals, &err)
	f, err := parse(src, filename)
	if err != nil {
		return nil, err
	}
	vals = make(map[string]cty.Value, len(f.body.Attributes))
	for _, a := range f.attrs() {
		if !f.isLiteral(a.Expr) {
			continue
		}
		v, err := f.value(a)
		if err != nil {
			return nil, err
		}
		vals[a.Name] = v
	}
	return vals, nil
}

// Lookup returns the literal value of the named attribute, which may be
// null (name = null). The error, always an *Error, is KindMissing when the
// file does not set the name (then the variable's default applies),
// KindNotLiteral when it sets it to an expression, and KindSyntax when src
// is not a valid tfvars file.
func Lookup(src []byte, filename, name string) (v cty.Value, err error) {
	defer recoverInternal(filename, &v, &err)
	f, err := parse(src, filename)
	if err != nil {
		return cty.NilVal, err
	}
	a, ok := f.body.Attributes[name]
	if !ok {
		return cty.NilVal, &Error{Kind: KindMissing, Filename: filename, Name: name, Detail: "not set in this file"}
	}
	return f.value(a)
}

// Has reports whether the file sets the named attribute, literal or not,
// which is whether Edit would replace it (true) or append it (false). The
// error, always an *Error of KindSyntax, says src is not a valid tfvars
// file.
func Has(src []byte, filename, name string) (ok bool, err error) {
	defer recoverInternal(filename, &ok, &err)
	f, err := parse(src, filename)
	if err != nil {
		return false, err
	}
	_, ok = f.body.Attributes[name]
	return ok, nil
}

// recoverInternal turns a panic in this package's own code into a
// KindInternal error with a zero result. Panics inside the HCL library are
// caught closer to the call (guard) and blamed on the input instead.
func recoverInternal[T any](filename string, out *T, err *error) {
	if r := recover(); r != nil {
		var zero T
		*out = zero
		*err = &Error{Kind: KindInternal, Filename: filename, Detail: fmt.Sprintf("unexpected panic: %v", r)}
	}
}

// attrs returns the attributes in source order, so that which of several
// failures is reported does not depend on map iteration.
func (f *file) attrs() []*hclsyntax.Attribute {
	as := make([]*hclsyntax.Attribute, 0, len(f.body.Attributes))
	for _, a := range f.body.Attributes {
		as = append(as, a)
	}
	slices.SortFunc(as, func(a, b *hclsyntax.Attribute) int { return a.SrcRange.Start.Byte - b.SrcRange.Start.Byte })
	return as
}

// splice replaces src[start:end] with text.
type splice struct {
	start, end int
	text       string
}

// editAttr returns the splices that set a to s: the value, unless equal
// already, and the trailing comment, when s has a note.
func (f *file) editAttr(a *hclsyntax.Attribute, s Set) ([]splice, error) {
	cur, err := f.value(a)
	if err != nil {
		return nil, err
	}
	r := a.Expr.Range()
	text := f.src[r.Start.Byte:r.End.Byte]
	if ok, why := sameType(cur, s.Value, string(text)); !ok {
		return nil, &Error{Kind: KindType, Filename: f.filename, Line: r.Start.Line, Column: r.Start.Column, Name: a.Name, Detail: why}
	}
	note := strings.TrimSpace(s.Note)
	var sps []splice
	// A heredoc's closing marker must be alone on its line, so a comment
	// cannot follow it: with a note, an equal heredoc is rewritten quoted.
	heredoc := bytes.HasPrefix(text, []byte("<<"))
	if !cur.RawEquals(s.Value) || (note != "" && heredoc) {
		sps = append(sps, splice{r.Start.Byte, r.End.Byte, render(s.Value)})
	}
	if note != "" {
		sp, err := f.noteSplice(a, note)
		if err != nil {
			return nil, err
		}
		sps = append(sps, sp)
	}
	return sps, nil
}

// applySplices returns src with the non-overlapping splices applied.
func applySplices(src []byte, sps []splice) []byte {
	slices.SortStableFunc(sps, func(a, b splice) int { return a.start - b.start })
	grow := 0
	for _, sp := range sps {
		grow += len(sp.text) - (sp.end - sp.start)
	}
	out := make([]byte, 0, len(src)+max(grow, 0)+64)
	last := 0
	for _, sp := range sps {
		out = append(out, src[last:sp.start]...)
		out = append(out, sp.text...)
		last = sp.end
	}
	return append(out, src[last:]...)
}

// appendAttrs appends one "name = value" line per set, starting on a new
// line.
func appendAttrs(out []byte, sets []Set, nl string) []byte {
	if len(sets) == 0 {
		return out
	}
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, nl...)
	}
	for _, s := range sets {
		out = append(out, s.Name...)
		out = append(out, " = "...)
		out = append(out, render(s.Value)...)
		if note := strings.TrimSpace(s.Note); note != "" {
			out = append(out, " # "...)
			out = append(out, note...)
		}
		out = append(out, nl...)
	}
	return out
}

// newlineOf returns the line break the file uses, judged by its first
// line: "\r\n" or, also for a file of one line, "\n".
func newlineOf(src []byte) string {
	if i := bytes.IndexByte(src, '\n'); i > 0 && src[i-1] == '\r' {
		return "\r\n"
	}
	return "\n"
}

// verify parses the edited file again and checks what Edit promises: the
// set attributes hold the set values (and notes), every other attribute
// has the same expression text, and nothing else appeared or vanished.
// Any failure is KindInternal: the input was fine, the edit was not.
func (f *file) verify(out []byte, sets []Set, appended int) error {
	fail := func(name, format string, args ...any) error {
		return &Error{Kind: KindInternal, Filename: f.filename, Name: name, Detail: "the edited file failed its check: " + fmt.Sprintf(format, args...)}
	}
	g, err := parse(out, f.filename)
	if err != nil {
		return fail("", "it does not parse: %v", err)
	}
	if got, want := len(g.body.Attributes), len(f.body.Attributes)+appended; got != want {
		return fail("", "it has %d attributes, want %d", got, want)
	}
	set := make(map[string]bool, len(sets))
	for _, s := range sets {
		set[s.Name] = true
		b, ok := g.body.Attributes[s.Name]
		if !ok {
			return fail(s.Name, "the attribute is missing")
		}
		v, err := g.value(b)
		if err != nil {
			return fail(s.Name, "%v", err)
		}
		if !v.RawEquals(s.Value) {
			return fail(s.Name, "it holds %s, want %s", v.GoString(), s.Value.GoString())
		}
		if note := strings.TrimSpace(s.Note); note != "" {
			tr, err := g.trailer(b)
			if err != nil {
				return fail(s.Name, "%v", err)
			}
			if tr.lineStart < 0 || !strings.HasPrefix(commentBody(string(out[tr.lineStart:tr.lineEnd])), note) {
				return fail(s.Name, "the trailing comment does not start with the note %q", note)
			}
		}
	}
	for name, a := range f.body.Attributes {
		if set[name] {
			continue
		}
		b, ok := g.body.Attributes[name]
		if !ok {
			return fail(name, "the attribute is missing")
		}
		if !bytes.Equal(f.exprBytes(a.Expr), g.exprBytes(b.Expr)) {
			return fail(name, "its value changed from %s to %s", quoteSnippet(f.exprBytes(a.Expr)), quoteSnippet(g.exprBytes(b.Expr)))
		}
	}
	return nil
}
