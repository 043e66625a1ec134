package main

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Where schedules come from. A namespace's annotations schedule one release;
// ConfigMaps labelled LabelSchedule schedule one release each, for
// namespaces with several:
//
//	kubectl annotate namespace prod scaling.ironflow.io/off-hours='Mon-Fri 20:00-07:00 Europe/Berlin'
//	kubectl annotate namespace prod scaling.ironflow.io/off-hours-release=ironflow
//
//	apiVersion: v1
//	kind: ConfigMap
//	metadata: {name: ironflow-off-hours, namespace: prod, labels: {scaling.ironflow.io/off-hours: "true"}}
//	data: {release: ironflow, schedule: "Mon-Fri 20:00-07:00 Europe/Berlin", replicas: "1"}
const (
	AnnotationSchedule = "scaling.ironflow.io/off-hours"
	AnnotationRelease  = "scaling.ironflow.io/off-hours-release"
	AnnotationReplicas = "scaling.ironflow.io/off-hours-replicas"
	LabelSchedule      = "scaling.ironflow.io/off-hours"
)

// target is one scheduled release.
type target struct {
	Release  string
	Spec     string
	Schedule Schedule
	// Replicas is what runs off-hours (and the HPA's minimum).
	Replicas int32
	// Source is the object the schedule is on: its Events go there, where
	// the person who set the schedule looks.
	Source client.Object
	// Err is why the schedule cannot be used; such a target is reported
	// and never acted on.
	Err error
}

// ConfigError is a schedule the controller cannot use.
type ConfigError struct {
	Source string // e.g. Namespace/prod, ConfigMap/prod/x
	Field  string
	Value  string
	Reason string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("offhours: %s: %s %q %s", e.Source, e.Field, e.Value, e.Reason)
}

// targets reads a namespace's schedules. A release scheduled twice is an
// error on both, rather than the controller picking one.
func (r *Reconciler) targets(ctx context.Context, ns *corev1.Namespace) ([]target, error) {
	var out []target
	if spec, ok := ns.Annotations[AnnotationSchedule]; ok {
		release := ns.Annotations[AnnotationRelease]
		if release == "" {
			release = r.DefaultRelease
		}
		out = append(out, r.target(ns, release, spec, ns.Annotations[AnnotationReplicas], AnnotationRelease))
	}
	var cms corev1.ConfigMapList
	if err := r.Cache.List(ctx, &cms, client.InNamespace(ns.Name), client.HasLabels{LabelSchedule}); err != nil {
		return nil, fmt.Errorf("listing the schedule ConfigMaps of %s: %w", ns.Name, err)
	}
	for i := range cms.Items {
		cm := &cms.Items[i]
		out = append(out, r.target(cm, cm.Data["release"], cm.Data["schedule"], cm.Data["replicas"], "data.release"))
	}
	seen := map[string]int{}
	for _, t := range out {
		seen[t.Release]++
	}
	for i := range out {
		if seen[out[i].Release] > 1 && out[i].Err == nil {
			out[i].Err = &ConfigError{Source: sourceName(out[i].Source), Field: "release", Value: out[i].Release, Reason: "is scheduled more than once in the namespace; keep one schedule per release"}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Release < out[j].Release })
	return out, nil
}

func (r *Reconciler) target(obj client.Object, release, spec, replicas, releaseField string) target {
	source := sourceName(obj)
	t := target{Release: release, Spec: spec, Source: obj, Replicas: r.DefaultReplicas}
	if release == "" {
		t.Err = &ConfigError{Source: source, Field: releaseField, Value: "", Reason: "is required: name the Helm release to scale"}
		return t
	}
	if replicas != "" {
		n, err := strconv.ParseInt(replicas, 10, 32)
		if err != nil || n < 0 {
			t.Err = &ConfigError{Source: source, Field: "replicas", Value: replicas, Reason: "must be a whole number, 0 or more"}
			return t
		}
		t.Replicas = int32(n)
	}
	s, err := ParseSchedule(spec)
	if err != nil {
		t.Err = &ConfigError{Source: source, Field: "schedule", Value: spec, Reason: err.Error()}
		return t
	}
	t.Schedule = s
	return t
}

func sourceName(o client.Object) string {
	if _, ok := o.(*corev1.Namespace); ok {
		return "Namespace/" + o.GetName()
	}
	return "ConfigMap/" + o.GetNamespace() + "/" + o.GetName()
}
