// Package rbactest runs a package's operations under exactly the RBAC
// rules it documents (scaling.Permissions) on the real API server, and
// checks the rules against the requests: none forbidden, every request
// covered by a rule, every verb of every rule used.
package rbactest

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ironflow/scaling"
	"github.com/ironflow/scaling/internal/reqcount"
)

// Grant binds p to user: a Role and RoleBinding in each namespace, and a
// ClusterRole and ClusterRoleBinding for p.Cluster, all removed when the
// test ends.
func Grant(t testing.TB, admin kubernetes.Interface, user string, p scaling.Permissions, namespaces ...string) {
	t.Helper()
	ctx := context.Background()
	subject := []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}}
	for _, ns := range namespaces {
		if _, err := admin.RbacV1().Roles(ns).Create(ctx, p.Role(ns, user), metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating the Role: %v", err)
		}
		rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: user}, Subjects: subject,
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: user}}
		if _, err := admin.RbacV1().RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating the RoleBinding: %v", err)
		}
	}
	if cr := p.ClusterRole(user); cr != nil {
		if _, err := admin.RbacV1().ClusterRoles().Create(ctx, cr, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating the ClusterRole: %v", err)
		}
		crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: user}, Subjects: subject,
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: user}}
		if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating the ClusterRoleBinding: %v", err)
		}
		t.Cleanup(func() {
			_ = admin.RbacV1().ClusterRoleBindings().Delete(context.Background(), user, metav1.DeleteOptions{})
			_ = admin.RbacV1().ClusterRoles().Delete(context.Background(), user, metav1.DeleteOptions{})
		})
	}
	// The RBAC authorizer learns of new bindings through its informers: a
	// request sent right after Grant can still be forbidden. Wait until the
	// authorizer allows one verb of each grant, as it will the operation's.
	for _, ns := range namespaces {
		awaitAllowed(t, admin, user, ns, p.Namespaced)
	}
	awaitAllowed(t, admin, user, "", p.Cluster)
}

func awaitAllowed(t testing.TB, admin kubernetes.Interface, user, ns string, rules []rbacv1.PolicyRule) {
	t.Helper()
	if len(rules) == 0 {
		return
	}
	r := rules[0]
	res, sub, _ := strings.Cut(r.Resources[0], "/")
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: user,
		ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Group: r.APIGroups[0], Resource: res, Subresource: sub, Verb: r.Verbs[0]}}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := admin.AuthorizationV1().SubjectAccessReviews().Create(context.Background(), sar, metav1.CreateOptions{})
		if err == nil && got.Status.Allowed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the grant to %s did not take effect within 30 s: %v", user, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// As is cfg impersonating user, with no group but system:authenticated:
// what the user may do is what Grant gave it.
func As(cfg *rest.Config, user string) *rest.Config {
	out := rest.CopyConfig(cfg)
	out.Impersonate = rest.ImpersonationConfig{UserName: user}
	return out
}

// Check fails t for each request that was forbidden or that no rule of p
// covers, and for each verb of a rule that no request used. The
// non-resource requests every client makes (discovery, /version) are
// allowed to every authenticated user and are not judged.
func Check(t testing.TB, p scaling.Permissions, reqs []reqcount.Request) {
	t.Helper()
	used, reported := map[string]bool{}, map[string]bool{}
	errorf := func(format string, args ...any) {
		if msg := fmt.Sprintf(format, args...); !reported[msg] {
			reported[msg] = true
			t.Errorf("%s", msg)
		}
	}
	for _, q := range reqs {
		if strings.HasPrefix(q.Resource, "/") {
			continue
		}
		if q.Code == 403 {
			errorf("forbidden: %s %s (group %q): a rule is missing", q.Verb, q.Path, q.Group)
			continue
		}
		rules := p.Namespaced
		if q.Namespace == "" {
			rules = p.Cluster
		}
		k, ok := covering(rules, q)
		if !ok {
			errorf("no rule covers %s %s (group %q, namespace %q)", q.Verb, q.Resource, q.Group, q.Namespace)
			continue
		}
		used[k] = true
	}
	for scope, rules := range map[string][]rbacv1.PolicyRule{"namespaced": p.Namespaced, "cluster": p.Cluster} {
		for _, r := range rules {
			for _, g := range r.APIGroups {
				for _, res := range r.Resources {
					for _, v := range r.Verbs {
						if k := key(g, res, v, scope == "cluster"); !used[k] {
							t.Errorf("unused %s rule: %s %s (group %q): remove it, or exercise what needs it", scope, v, res, g)
						}
					}
				}
			}
		}
	}
}

// Observed lists what the requests asked for, as "group resource verb"
// lines: what a rule set is written from.
func Observed(reqs []reqcount.Request) string {
	set := map[string]bool{}
	for _, q := range reqs {
		if strings.HasPrefix(q.Resource, "/") {
			continue
		}
		scope := "ns"
		if q.Namespace == "" {
			scope = "cluster"
		}
		set[fmt.Sprintf("%s %q %s %s code=%d", scope, q.Group, q.Resource, q.Verb, q.Code)] = true
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

func covering(rules []rbacv1.PolicyRule, q reqcount.Request) (string, bool) {
	for _, r := range rules {
		if slices.Contains(r.APIGroups, q.Group) && slices.Contains(r.Resources, q.Resource) && slices.Contains(r.Verbs, q.Verb) {
			return key(q.Group, q.Resource, q.Verb, q.Namespace == ""), true
		}
	}
	return "", false
}

func key(group, resource, verb string, cluster bool) string {
	return fmt.Sprintf("%v/%s/%s/%s", cluster, group, resource, verb)
}
