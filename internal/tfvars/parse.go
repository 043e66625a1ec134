package tfvars

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// file is a parsed tfvars file: the source it came from, so that byte
// offsets in the syntax tree can be read back as text.
type file struct {
	src      []byte
	filename string
	body     *hclsyntax.Body
}

// parse parses src as HCL native syntax and refuses what Terraform refuses
// in a tfvars file before any value is looked at: syntax errors, duplicate
// attributes (hclsyntax reports those) and blocks.
func parse(src []byte, filename string) (*file, error) {
	var (
		f     *hcl.File
		diags hcl.Diagnostics
	)
	if err := guard(filename, func() { f, diags = hclsyntax.ParseConfig(src, filename, hcl.InitialPos) }); err != nil {
		return nil, err
	}
	if diags.HasErrors() {
		return nil, diagError(KindSyntax, filename, "", diags)
	}
	body, ok := f.Body.(*hclsyntax.Body)
	if !ok {
		// hclsyntax always returns its own body type; anything else means
		// the library changed under us, which is not the input's fault.
		return nil, &Error{Kind: KindInternal, Filename: filename, Detail: fmt.Sprintf("the HCL parser returned a %T body", f.Body)}
	}
	if len(body.Blocks) > 0 {
		b := body.Blocks[0]
		return nil, &Error{
			Kind: KindSyntax, Filename: filename,
			Line: b.TypeRange.Start.Line, Column: b.TypeRange.Start.Column,
			Detail: fmt.Sprintf("unexpected %q block: a tfvars file holds only name = value attributes, no blocks", b.Type),
		}
	}
	return &file{src: src, filename: filename, body: body}, nil
}

// guard runs fn, turning a panic inside the HCL parser or evaluator into a
// KindSyntax error: such a panic is triggered by the input, and a caller
// must get an error for it, never a crash.
func guard(filename string, fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &Error{Kind: KindSyntax, Filename: filename, Detail: fmt.Sprintf("the HCL parser failed on this input: %v", r)}
		}
	}()
	fn()
	return nil
}

// diagError turns the first error diagnostic into an *Error, keeping its
// position; the rest are usually consequences of the first.
func diagError(kind Kind, filename, name string, diags hcl.Diagnostics) *Error {
	e := &Error{Kind: kind, Filename: filename, Name: name}
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		e.Detail = d.Summary
		if d.Detail != "" {
			e.Detail += ": " + d.Detail
		}
		if d.Subject != nil {
			e.Line, e.Column = d.Subject.Start.Line, d.Subject.Start.Column
		}
		break
	}
	if e.Detail == "" {
		e.Detail = "the HCL parser reported an error without a description"
	}
	return e
}

// exprBytes returns the source text of an expression.
func (f *file) exprBytes(e hclsyntax.Expression) []byte {
	r := e.Range()
	return f.src[r.Start.Byte:r.End.Byte]
}

// isLiteral reports whether e is a literal in the sense a tfvars file
// needs: a number, string (quoted or heredoc, without interpolation or
// directives), bool or null, a negated number, or a list or object built
// only from those. Conditionals, arithmetic and parentheses evaluate
// without variables too, but they are an expression a person wrote on
// purpose, so this editor neither reports them as "the value" nor
// replaces them.
func (f *file) isLiteral(e hclsyntax.Expression) bool {
	if !literalShape(e) {
		return false
	}
	// hclsyntax folds "${1}" inside a template into a plain literal part,
	// so only the tokens tell "a${1}" from "a1". A quick byte check keeps
	// the lexer off the common case.
	src := f.exprBytes(e)
	if !bytes.Contains(src, []byte("${")) && !bytes.Contains(src, []byte("%{")) {
		return true
	}
	var toks hclsyntax.Tokens
	if err := guard(f.filename, func() { toks, _ = hclsyntax.LexExpression(src, f.filename, e.Range().Start) }); err != nil {
		return false
	}
	for _, t := range toks {
		if t.Type == hclsyntax.TokenTemplateInterp || t.Type == hclsyntax.TokenTemplateControl {
			return false
		}
	}
	return true
}

// literalShape checks the syntax tree half of isLiteral.
func literalShape(e hclsyntax.Expression) bool {
	switch e := e.(type) {
	case *hclsyntax.LiteralValueExpr:
		return true
	case *hclsyntax.TemplateExpr:
		for _, p := range e.Parts {
			lit, ok := p.(*hclsyntax.LiteralValueExpr)
			if !ok || !lit.Val.Type().Equals(cty.String) {
				return false
			}
		}
		return true
	case *hclsyntax.UnaryOpExpr:
		lit, ok := e.Val.(*hclsyntax.LiteralValueExpr)
		return ok && e.Op == hclsyntax.OpNegate && lit.Val.Type().Equals(cty.Number)
	case *hclsyntax.TupleConsExpr:
		for _, el := range e.Exprs {
			if !literalShape(el) {
				return false
			}
		}
		return true
	case *hclsyntax.ObjectConsExpr:
		for _, it := range e.Items {
			k, ok := it.KeyExpr.(*hclsyntax.ObjectConsKeyExpr)
			if !ok || k.ForceNonLiteral {
				return false
			}
			// A bare word key (labels = { env = "prod" }) is a literal
			// name, not a variable reference.
			if hcl.ExprAsKeyword(k.Wrapped) == "" && !literalShape(k.Wrapped) {
				return false
			}
			if !literalShape(it.ValueExpr) {
				return false
			}
		}
		return true
	}
	return false
}

// notLiteral builds the KindNotLiteral error for attribute a, quoting the
// expression so the person sees what to change.
func (f *file) notLiteral(a *hclsyntax.Attribute) *Error {
	text := quoteSnippet(f.exprBytes(a.Expr))
	detail := fmt.Sprintf("not a literal value (a tfvars file holds only literals; this editor does not rewrite the expression %s)", text)
	if refersOrCalls(a.Expr) {
		detail = fmt.Sprintf("not a literal value (a tfvars file holds only literals; Terraform refuses %s)", text)
	}
	start := a.Expr.Range().Start
	return &Error{Kind: KindNotLiteral, Filename: f.filename, Line: start.Line, Column: start.Column, Name: a.Name, Detail: detail}
}

// refersOrCalls reports whether e mentions a variable or calls a function,
// the two things Terraform itself rejects in a tfvars file (a conditional
// over literals it would evaluate).
func refersOrCalls(e hclsyntax.Expression) bool {
	if len(e.Variables()) > 0 {
		return true
	}
	found := false
	_ = hclsyntax.VisitAll(e, func(n hclsyntax.Node) hcl.Diagnostics {
		if _, ok := n.(*hclsyntax.FunctionCallExpr); ok {
			found = true
		}
		return nil
	})
	return found
}

// quoteSnippet quotes an expression's text for a message: on one line and
// cut short, because a heredoc or a long list would swamp the message.
func quoteSnippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	const max = 60
	if r := []rune(s); len(r) > max {
		s = string(r[:max]) + "…"
	}
	return fmt.Sprintf("%q", s)
}
