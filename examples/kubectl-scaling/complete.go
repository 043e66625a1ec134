package main

import (
	"slices"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// completeRelease makes a command's first argument complete to the Helm
// releases of the namespace, read as helm list does: from the release
// Secrets (labelled owner=helm), names only, no values.
func (s *session) completeRelease(cmd *cobra.Command, then ...string) *cobra.Command {
	cmd.ValidArgsFunction = func(cmd *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) == 1 && len(then) > 0 {
			return then, cobra.ShellCompDirectiveNoFileComp
		}
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		c, err := s.connect(cmd.Context())
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		list, err := c.Kube.CoreV1().Secrets(s.namespace()).List(cmd.Context(), metav1.ListOptions{LabelSelector: "owner=helm"})
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		var names []string
		for _, sec := range list.Items {
			if n := sec.Labels["name"]; n != "" && !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
		slices.Sort(names)
		return names, cobra.ShellCompDirectiveNoFileComp
	}
	return cmd
}
