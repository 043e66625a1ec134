package tfvars

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

// largeTFVars generates a file of n attributes (numbers, strings, bools,
// lists, every third with a lead comment and every tenth with a trailing
// one), worker_count in the middle: about 200 KB for n = 5000.
func largeTFVars(n int) []byte {
	var b bytes.Buffer
	b.WriteString("# generated for BenchmarkEditLargeFile\n\n")
	for i := range n {
		if i == n/2 {
			b.WriteString("# Workers\nworker_count = 2  # keep >= 2 for HA\n")
		}
		if i%3 == 0 {
			fmt.Fprintf(&b, "# setting %d: kept byte for byte by every edit\n", i)
		}
		switch i % 4 {
		case 0:
			fmt.Fprintf(&b, "setting_%05d = %d", i, i)
		case 1:
			fmt.Fprintf(&b, "setting_%05d = \"value-%d\"", i, i)
		case 2:
			fmt.Fprintf(&b, "setting_%05d = %t", i, i%3 == 0)
		case 3:
			fmt.Fprintf(&b, "setting_%05d = [%d, \"x\"]", i, i)
		}
		if i%10 == 0 {
			b.WriteString(" # note")
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func BenchmarkEditLargeFile(b *testing.B) {
	src := largeTFVars(5000)
	set := Set{Name: "worker_count", Value: cty.NumberIntVal(3), Note: "was 2"}
	if _, err := Edit(src, "large.tfvars", set); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Edit(src, "large.tfvars", set); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(src))/1024, "KB/file")
}

func BenchmarkEditSmallFile(b *testing.B) {
	src := readTestdata(b, "realistic.tfvars")
	sets := []Set{
		{Name: "worker_count", Value: cty.NumberIntVal(3), Note: "was 2"},
		{Name: "worker_type", Value: cty.StringVal("cpx42"), Note: "was cpx32"},
	}
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Edit(src, "realistic.tfvars", sets...); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLookupLargeFile(b *testing.B) {
	src := largeTFVars(5000)
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Lookup(src, "large.tfvars", "worker_count"); err != nil {
			b.Fatal(err)
		}
	}
}
