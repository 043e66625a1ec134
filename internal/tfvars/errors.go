package tfvars

import (
	"errors"
	"strconv"
	"strings"
)

// Kind says which of the ways an edit or a read can fail an [Error] is, so
// that a caller can tell a file a person must fix (KindSyntax,
// KindNotLiteral, KindType) from a request it must fix (KindInvalid) and an
// absent attribute (KindMissing).
type Kind int

const (
	// KindSyntax: the file is not a valid tfvars file: it does not parse as
	// HCL native syntax, it holds a block, it sets an attribute twice, or a
	// literal in it cannot be evaluated.
	KindSyntax Kind = iota + 1
	// KindNotLiteral: the attribute asked for is an expression (a variable
	// reference, a function call, an interpolation, a conditional,
	// arithmetic), not a literal, so there is no value to report and no
	// value this editor may replace.
	KindNotLiteral
	// KindType: the value set does not have the type of the literal it
	// replaces, is a number that is not whole, or the attribute holds a
	// list, map or object (Set writes only primitives).
	KindType
	// KindMissing: Lookup was asked for an attribute the file does not set.
	KindMissing
	// KindInvalid: the Set itself is unusable (a name that is not an HCL
	// identifier, a null or unknown value, a note spanning lines, the same
	// name set twice); the file was not looked at for this reason.
	KindInvalid
	// KindInternal: the edit was computed but its result failed the
	// re-parse check, which is a defect in this package, never in the
	// input; the edited bytes are withheld rather than returned broken.
	KindInternal
)

// String returns the kind's lower-case name as used in messages, or
// "kind(N)" for a value outside the declared kinds.
func (k Kind) String() string {
	switch k {
	case KindSyntax:
		return "syntax"
	case KindNotLiteral:
		return "not literal"
	case KindType:
		return "type"
	case KindMissing:
		return "missing"
	case KindInvalid:
		return "invalid set"
	case KindInternal:
		return "internal"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Sentinels matched by errors.Is against any *Error of the same Kind, for
// callers that only need the class of failure, not its position.
var (
	// ErrSyntax matches an *Error of KindSyntax.
	ErrSyntax = errors.New("tfvars: not a valid tfvars file")
	// ErrNotLiteral matches an *Error of KindNotLiteral.
	ErrNotLiteral = errors.New("tfvars: not a literal value")
	// ErrType matches an *Error of KindType.
	ErrType = errors.New("tfvars: value of the wrong type")
	// ErrMissing matches an *Error of KindMissing.
	ErrMissing = errors.New("tfvars: attribute not set")
	// ErrInvalid matches an *Error of KindInvalid.
	ErrInvalid = errors.New("tfvars: invalid set")
	// ErrInternal matches an *Error of KindInternal.
	ErrInternal = errors.New("tfvars: edit failed its own check")
)

// Error is the only error type this package returns, so a caller can always
// recover the position and the attribute with errors.As.
type Error struct {
	// Kind is the class of failure.
	Kind Kind
	// Filename is the name the caller passed, used only in messages.
	Filename string
	// Line and Column are 1-based, as HCL counts them (Column counts
	// characters, not bytes); both are 0 when no position applies, e.g.
	// for KindInvalid and KindMissing.
	Line, Column int
	// Name is the attribute concerned, or "" for a file-level failure.
	Name string
	// Detail is a self-contained reason, without the position or the name,
	// fit to show a person after them.
	Detail string
}

// Error returns "file:line,column: name: detail", leaving out the parts
// that are empty or zero.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Filename)
	if e.Line > 0 {
		if b.Len() > 0 {
			b.WriteByte(':')
		}
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteByte(',')
		b.WriteString(strconv.Itoa(e.Column))
	}
	for _, part := range []string{e.Name, e.Detail} {
		if part == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		b.WriteString(part)
	}
	if b.Len() == 0 {
		return "tfvars: " + e.Kind.String() + " error"
	}
	return b.String()
}

// Is reports whether target is the sentinel of e's Kind, so that
// errors.Is(err, ErrNotLiteral) works without unwrapping by hand.
func (e *Error) Is(target error) bool {
	s, ok := sentinels[e.Kind]
	return ok && target == s
}

var sentinels = map[Kind]error{
	KindSyntax:     ErrSyntax,
	KindNotLiteral: ErrNotLiteral,
	KindType:       ErrType,
	KindMissing:    ErrMissing,
	KindInvalid:    ErrInvalid,
	KindInternal:   ErrInternal,
}
