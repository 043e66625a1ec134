package tfvars

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// value returns the value of attribute a, which must be a literal: a
// KindNotLiteral error otherwise, and a KindSyntax error when the literal
// cannot be evaluated (an object with the same key twice), since Terraform
// would refuse such a file too.
func (f *file) value(a *hclsyntax.Attribute) (cty.Value, error) {
	if !f.isLiteral(a.Expr) {
		return cty.NilVal, f.notLiteral(a)
	}
	var (
		v     cty.Value
		diags hcl.Diagnostics
	)
	if err := guard(f.filename, func() { v, diags = a.Expr.Value(nil) }); err != nil {
		return cty.NilVal, err
	}
	if diags.HasErrors() {
		return cty.NilVal, diagError(KindSyntax, f.filename, a.Name, diags)
	}
	return v, nil
}

// checkSet refuses a Set that cannot be written whatever the file holds,
// so that a caller's mistake is reported as its own (KindInvalid, or
// KindType for a value of a type Set never writes) before the file is
// blamed for anything.
func checkSet(s Set, filename string) error {
	bad := func(kind Kind, format string, args ...any) error {
		return &Error{Kind: kind, Filename: filename, Name: s.Name, Detail: fmt.Sprintf(format, args...)}
	}
	if !hclsyntax.ValidIdentifier(s.Name) {
		return bad(KindInvalid, "%q is not an HCL identifier, so it cannot be an attribute name", s.Name)
	}
	v := s.Value
	switch {
	case v.IsMarked():
		return bad(KindInvalid, "the value is marked (sensitive or otherwise); unmark it to write it")
	case v.IsNull():
		return bad(KindInvalid, "the value is null; Set writes only a known number, string or bool")
	case !v.IsKnown():
		return bad(KindInvalid, "the value is unknown; Set writes only a known number, string or bool")
	}
	switch ty := v.Type(); ty {
	case cty.Number:
		bf := v.AsBigFloat()
		if bf.IsInf() || !bf.IsInt() {
			return bad(KindType, "%s is not a whole number; Set writes numbers as integers", bf.Text('g', -1))
		}
	case cty.String:
		if !utf8.ValidString(v.AsString()) {
			return bad(KindInvalid, "the string is not valid UTF-8")
		}
	case cty.Bool:
	default:
		return bad(KindType, "the value is %s; Set writes only a number, string or bool", ty.FriendlyName())
	}
	if strings.ContainsFunc(s.Note, func(r rune) bool { return r != '\t' && unicode.IsControl(r) }) || !utf8.ValidString(s.Note) {
		return bad(KindInvalid, "the note %q holds a line break or control character, or is not UTF-8; a note is one line of a comment", s.Note)
	}
	return nil
}

// render returns the HCL literal for a value checkSet accepted.
func render(v cty.Value) string {
	switch v.Type() {
	case cty.Number:
		// Every digit of the integer, never an exponent: parsing "1e+30"
		// back would give a value that differs in its low bits.
		i, _ := v.AsBigFloat().Int(nil)
		return i.String()
	case cty.Bool:
		return strconv.FormatBool(v.True())
	}
	return quote(v.AsString())
}

// quote renders s as an HCL quoted string whose value is s again: the
// escapes HCL knows for quotes, backslashes and control characters, and
// "$${" and "%%{" so that a "${" in the value stays text instead of
// becoming an interpolation, which would turn the literal into an
// expression.
func quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i, r := range s {
		next := byte(0)
		if i+1 < len(s) {
			next = s[i+1]
		}
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case (r == '$' || r == '%') && next == '{':
			b.WriteRune(r)
			b.WriteRune(r)
		case r == ' ' || unicode.IsPrint(r):
			b.WriteRune(r)
		case r <= 0xFFFF:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// sameType reports whether a Set of v may replace the literal cur, written
// curText in the file, with the reason when not: a null
// may become anything, a primitive only the same primitive type, and a
// list, map or object nothing.
func sameType(cur, v cty.Value, curText string) (bool, string) {
	if cur.IsNull() {
		return true, ""
	}
	ct := cur.Type()
	if !ct.IsPrimitiveType() {
		return false, fmt.Sprintf("holds a %s; Set replaces only a number, string or bool", ct.FriendlyName())
	}
	if !ct.Equals(v.Type()) {
		return false, fmt.Sprintf("holds a %s (%s); refusing to replace it with a %s", ct.FriendlyName(), quoteSnippet([]byte(curText)), v.Type().FriendlyName())
	}
	return true, ""
}
