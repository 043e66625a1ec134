package tfvars_test

import (
	"fmt"

	"github.com/ironflow/scaling/internal/tfvars"
	"github.com/zclconf/go-cty/cty"
)

func ExampleEdit() {
	before := []byte(`# Workers
worker_count   = 2 # keep >= 2 for HA
worker_type    = "cpx32"
`)
	after, err := tfvars.Edit(before, "terraform.tfvars",
		tfvars.Set{Name: "worker_count", Value: cty.NumberIntVal(3), Note: "was 2"},
		tfvars.Set{Name: "worker_type", Value: cty.StringVal("cpx42")},
		tfvars.Set{Name: "worker_location", Value: cty.StringVal("nbg1"), Note: "added"},
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(string(after))
	// Output:
	// # Workers
	// worker_count   = 3 # was 2; keep >= 2 for HA
	// worker_type    = "cpx42"
	// worker_location = "nbg1" # added
}

func ExampleLookup() {
	src := []byte("worker_count = var.count\n")
	_, err := tfvars.Lookup(src, "terraform.tfvars", "worker_count")
	fmt.Println(err)
	// Output:
	// terraform.tfvars:1,16: worker_count: not a literal value (a tfvars file holds only literals; Terraform refuses "var.count")
}
