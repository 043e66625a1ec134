package tfvars

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

func TestZZClassify(t *testing.T) {
	dir := os.Getenv("ZZDIR")
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, fn := range files {
		b, _ := os.ReadFile(fn)
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")[1:]
		arg := func(i int) string { l := lines[i]; s := l[strings.Index(l, "(")+1 : len(l)-1]; return s }
		src, err := strconv.Unquote(arg(0))
		if err != nil { t.Fatal(fn, err) }
		num, _ := strconv.ParseInt(arg(1), 10, 64)
		str, _ := strconv.Unquote(arg(2))
		note, _ := strconv.Unquote(arg(3))
		pick, _ := strconv.ParseUint(arg(4), 0, 8)
		countName := "worker_count"
		if pick > 0 { if names := attrNames([]byte(src)); len(names) > 0 { countName = names[int(pick)%len(names)] } }
		_, e := Edit([]byte(src), "f", Set{Name: countName, Value: cty.NumberIntVal(num), Note: note}, Set{Name: "worker_type", Value: cty.StringVal(str), Note: note})
		kind := "ok"
		var te *Error
		if errors.As(e, &te) { kind = te.Kind.String(); if te.Kind == KindSyntax { kind += ":" + strings.SplitN(te.Detail, ":", 2)[0] } }
		fmt.Printf("%s\t%d\t%s\n", filepath.Base(fn), len(src), kind)
	}
}
