package tfvars

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// trailer is what follows an attribute's value on its line.
type trailer struct {
	// insert is where a new comment goes when there is no line comment:
	// after the value, any /* */ comments and the spaces after them,
	// before the line break or the end of the file.
	insert int
	// lineStart and lineEnd delimit the "#" or "//" comment ending the
	// line, without its line break; lineStart is -1 when there is none.
	lineStart, lineEnd int
}

// trailer scans the bytes after a's value. The parser accepted the file,
// so only spaces, tabs, comments and a line break (or the end) can be
// there; anything else means this scan and the HCL lexer disagree, and is
// reported as KindInternal rather than guessed at.
func (f *file) trailer(a *hclsyntax.Attribute) (trailer, error) {
	src := f.src
	i := a.Expr.Range().End.Byte
	for {
		for i < len(src) && (src[i] == ' ' || src[i] == '\t') {
			i++
		}
		rest := src[i:]
		switch {
		case len(rest) == 0 || rest[0] == '\n' || bytes.HasPrefix(rest, []byte("\r\n")):
			return trailer{insert: i, lineStart: -1}, nil
		case rest[0] == '#' || bytes.HasPrefix(rest, []byte("//")):
			// HCL ends a line comment at the first "\n" (or "\r\n"); a lone
			// "\r" is part of the comment.
			end := len(src)
			if j := bytes.IndexByte(rest, '\n'); j >= 0 {
				end = i + j
				if j > 0 && rest[j-1] == '\r' {
					end--
				}
			}
			return trailer{insert: i, lineStart: i, lineEnd: end}, nil
		case bytes.HasPrefix(rest, []byte("/*")):
			j := bytes.Index(rest[2:], []byte("*/"))
			if j < 0 {
				return trailer{}, f.scanError(a, i)
			}
			i += 2 + j + 2
		default:
			return trailer{}, f.scanError(a, i)
		}
	}
}

func (f *file) scanError(a *hclsyntax.Attribute, at int) error {
	return &Error{Kind: KindInternal, Filename: f.filename, Name: a.Name,
		Detail: fmt.Sprintf("unexpected %s after the value at byte %d; cannot place the note", quoteSnippet(f.src[at:min(at+20, len(f.src))]), at)}
}

// noteSplice returns the splice that makes note the start of a's trailing
// comment: a rewrite of the line comment there, or a new "# note".
func (f *file) noteSplice(a *hclsyntax.Attribute, note string) (splice, error) {
	tr, err := f.trailer(a)
	if err != nil {
		return splice{}, err
	}
	if tr.lineStart < 0 {
		text := "# " + note
		if p := tr.insert; p == 0 || (f.src[p-1] != ' ' && f.src[p-1] != '\t') {
			text = " " + text
		}
		return splice{tr.insert, tr.insert, text}, nil
	}
	return splice{tr.lineStart, tr.lineEnd, rewriteComment(string(f.src[tr.lineStart:tr.lineEnd]), note)}, nil
}

// rewriteComment returns the line comment c (without line break) with note
// in front of the person's words: the marker ("#" or "//") and the space
// after it are kept, and an earlier note of ours is dropped: one starting
// "was ", or the very same note (so repeating an edit changes nothing).
func rewriteComment(c, note string) string {
	marker := "#"
	if strings.HasPrefix(c, "//") {
		marker = "//"
	}
	rest := c[len(marker):]
	body := strings.TrimLeft(rest, " \t")
	ws := rest[:len(rest)-len(body)]
	if ws == "" {
		ws = " "
	}
	words := body
	switch {
	case strings.TrimRight(body, " \t") == note:
		// The same note again: a repeated edit must not stack it.
		words = ""
	case strings.HasPrefix(body, note+"; "):
		words = body[len(note)+2:]
	case isOurNote(body):
		words = ""
		if i := strings.Index(body, "; "); i >= 0 {
			words = body[i+2:]
		}
	}
	if strings.TrimSpace(words) == "" {
		return marker + ws + note
	}
	return marker + ws + note + "; " + words
}

// isOurNote reports whether a comment's text is (or starts with) a note
// this editor writes: "was <something>".
func isOurNote(body string) bool {
	return strings.HasPrefix(body, "was ") && strings.TrimSpace(body[len("was "):]) != ""
}

// commentBody returns a line comment's text after its marker and the
// spaces after that.
func commentBody(c string) string {
	c = strings.TrimPrefix(c, "//")
	c = strings.TrimPrefix(c, "#")
	return strings.TrimLeft(c, " \t")
}
