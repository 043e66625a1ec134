package opkit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/ironflow/scaling"
)

// Compare lists where a stored plan differs from the plan re-derived from
// its request on live state: everything a person was shown (target,
// summary, steps, diff, which guards passed, warned or blocked) and
// everything Apply would act on (the spec, apart from the causes, which
// follow from the guards). What changes between two honest plannings of
// the same state (creation time, a guard's wording with live numbers) is
// not compared; the fingerprint is compared separately, as staleness.
func Compare(stored, derived *scaling.Plan) []scaling.Difference {
	var out []scaling.Difference
	add := func(field, planned, now string) {
		if planned != now {
			out = append(out, scaling.Difference{Field: field, Planned: abbreviate(planned), Derived: abbreviate(now)})
		}
	}
	add("operation", stored.Operation, derived.Operation)
	add("target", stored.Target.String(), derived.Target.String())
	add("summary", stored.Summary, derived.Summary)
	add("no-op", fmt.Sprint(stored.NoOp), fmt.Sprint(derived.NoOp))
	add("steps", fmt.Sprintf("%d steps", len(stored.Steps)), fmt.Sprintf("%d steps", len(derived.Steps)))
	for i := range min(len(stored.Steps), len(derived.Steps)) {
		add(fmt.Sprintf("steps[%d]", i), stepText(stored.Steps[i]), stepText(derived.Steps[i]))
	}
	if stored.Diff != derived.Diff {
		add("diff", firstDifferingLine(stored.Diff, derived.Diff), firstDifferingLine(derived.Diff, stored.Diff))
	}
	add("guards", guardNames(stored.Guards), guardNames(derived.Guards))
	for _, g := range derived.Guards {
		if i := slices.IndexFunc(stored.Guards, func(s scaling.GuardResult) bool { return s.Name == g.Name }); i >= 0 {
			add("guard "+g.Name, string(stored.Guards[i].Outcome), string(g.Outcome))
		}
	}
	ps, pe := decodeSpec(stored.Spec)
	ds, de := decodeSpec(derived.Spec)
	switch {
	case pe != nil:
		add("spec", "undecodable: "+pe.Error(), "")
	case de == nil:
		for _, d := range valueDiffs("spec", ps, ds) {
			add(d.Field, d.Planned, d.Derived)
		}
	}
	return out
}

// decodeSpec decodes a spec without its causes (they follow from the
// guards, which are compared by outcome).
func decodeSpec(raw json.RawMessage) (map[string]any, error) {
	var v map[string]any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	delete(v, "causes")
	return v, nil
}

// valueDiffs names the leaves where two decoded JSON values differ
// ("spec.request.replicas"), so a refusal says what was edited.
func valueDiffs(path string, a, b any) []scaling.Difference {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		var out []scaling.Difference
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			out = append(out, valueDiffs(path+"."+k, am[k], bm[k])...)
		}
		return out
	}
	as, bs := jsonText(a), jsonText(b)
	if as == bs {
		return nil
	}
	return []scaling.Difference{{Field: path, Planned: as, Derived: bs}}
}

func jsonText(v any) string {
	if v == nil {
		return "(none)"
	}
	b, _ := json.Marshal(v) // sorted keys; decoded JSON always encodes
	return string(b)
}

func stepText(s scaling.Step) string {
	return fmt.Sprintf("%s %s %s %s -> %s (%s)", s.Action, s.Object, s.Field, s.Before, s.After, s.Note)
}

func guardNames(gs []scaling.GuardResult) string {
	names := make([]string, len(gs))
	for i, g := range gs {
		names[i] = g.Name
	}
	return strings.Join(names, ",")
}

// firstDifferingLine is a's first line that b lacks at the same place: a
// diff is long, and the line that differs is what a person needs to see.
func firstDifferingLine(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i, l := range al {
		if i >= len(bl) || bl[i] != l {
			return fmt.Sprintf("line %d: %s", i+1, l)
		}
	}
	return fmt.Sprintf("%d lines", len(al))
}

func abbreviate(s string) string {
	const max = 300
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
