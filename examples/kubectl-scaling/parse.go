package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/ironflow/scaling"
)

// workloadKinds are the spellings kubectl accepts for the kinds the scale
// operations act on.
var workloadKinds = map[string]string{
	"deployment": "Deployment", "deployments": "Deployment", "deploy": "Deployment",
	"statefulset": "StatefulSet", "statefulsets": "StatefulSet", "sts": "StatefulSet",
}

// parseWorkload reads kubectl's kind/name form (deployment/app, sts/db).
// ok is false for an argument without a slash: a release name.
func parseWorkload(arg, namespace string) (ref scaling.ObjectRef, ok bool, err error) {
	kind, name, found := strings.Cut(arg, "/")
	if !found {
		return scaling.ObjectRef{}, false, nil
	}
	k, known := workloadKinds[strings.ToLower(strings.TrimSuffix(kind, ".apps"))]
	if !known || name == "" {
		return scaling.ObjectRef{}, true, &scaling.InvalidInputError{Field: "workload", Value: arg, Reason: "must be deployment/NAME or statefulset/NAME"}
	}
	return scaling.ObjectRef{Kind: k, Namespace: namespace, Name: name}, true, nil
}

// parseCount reads a replica or instance count argument.
func parseCount(field, arg string) (int32, error) {
	n, err := strconv.ParseInt(arg, 10, 32)
	if err != nil || n < 0 {
		return 0, &scaling.InvalidInputError{Field: field, Value: arg, Reason: "must be a whole number, 0 or more"}
	}
	return int32(n), nil
}

// parseResources reads NAME=QUANTITY pairs, as positional arguments or one
// comma-separated flag value (cpu=500m,memory=1Gi), into a ResourceList.
// A quantity that does not parse is an error naming the field and value,
// so nothing is planned from a typo.
func parseResources(field string, pairs []string) (corev1.ResourceList, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	out := corev1.ResourceList{}
	for _, p := range pairs {
		for _, kv := range strings.Split(p, ",") {
			if kv == "" {
				continue
			}
			name, value, found := strings.Cut(kv, "=")
			if !found || name == "" {
				return nil, &scaling.InvalidInputError{Field: field, Value: kv, Reason: "must be NAME=QUANTITY, e.g. requests.cpu=4"}
			}
			q, err := resource.ParseQuantity(value)
			if err != nil {
				return nil, &scaling.InvalidInputError{Field: field + " " + name, Value: value, Reason: "is not a Kubernetes quantity: " + err.Error()}
			}
			out[corev1.ResourceName(name)] = q
		}
	}
	return out, nil
}

// parseSettings reads KEY=VALUE pairs (postgres parameters).
func parseSettings(field string, pairs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range pairs {
		k, v, found := strings.Cut(kv, "=")
		if !found || k == "" {
			return nil, &scaling.InvalidInputError{Field: field, Value: kv, Reason: "must be NAME=VALUE, e.g. max_connections=200"}
		}
		out[k] = v
	}
	return out, nil
}

// args is cobra.PositionalArgs with a typed error that shows the usage.
func args(minArgs, maxArgs int, usage string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) < minArgs || len(args) > maxArgs {
			return &scaling.InvalidInputError{Field: "arguments", Value: strings.Join(args, " "), Reason: fmt.Sprintf("expected %s", usage)}
		}
		return nil
	}
}
