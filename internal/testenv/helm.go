package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
)

// HelmModule is the module whose cmd/helm the benchmarks run as the anchor
// tool (`helm upgrade --reuse-values --set ... --wait`).
const HelmModule = "helm.sh/helm/v3"

// HelmBinary returns the helm CLI of the version this module requires,
// built once per version into the binary cache ($SCALING_BIN_CACHE, else
// ~/.cache/ironflow-scaling; ~1 min cold). The repository's go.sum covers
// the Helm packages the SDK imports but not all of cmd/helm's, and a test
// must not rewrite the developer's go.mod/go.sum: it builds from a copy of
// both in a temporary folder, which resolves the same versions.
func HelmBinary(ctx context.Context) (string, error) {
	version := helmVersion()
	if version == "" {
		return "", fmt.Errorf("no %s in this binary's build info or go.mod", HelmModule)
	}
	bin := filepath.Join(binCache(), "helm-"+version, "helm")
	if st, err := os.Stat(bin); err == nil && st.Mode()&0o111 != 0 {
		return bin, nil
	}
	mod, err := os.MkdirTemp("", "helm-build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(mod)
	for _, f := range []string{"go.mod", "go.sum"} {
		data, err := os.ReadFile(filepath.Join(RepoRoot(), f))
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(mod, f), data, 0o644); err != nil {
			return "", err
		}
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return "", err
	}
	// Build next to the target and rename: a concurrent reader never sees
	// half a binary.
	tmp := bin + ".tmp" + fmt.Sprint(os.Getpid())
	cmd := exec.CommandContext(ctx, "go", "build", "-o", tmp, HelmModule+"/cmd/helm")
	cmd.Dir = mod
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building helm %s: %w\n%s", version, err, out)
	}
	return bin, os.Rename(tmp, bin)
}

func binCache() string {
	if d := os.Getenv("SCALING_BIN_CACHE"); d != "" {
		return d
	}
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, _ := os.UserHomeDir()
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "ironflow-scaling")
}

// helmVersion is the required version of HelmModule: from the build info of
// a test binary, else from go.mod.
func helmVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, d := range info.Deps {
			if d.Path == HelmModule {
				return d.Version
			}
		}
	}
	data, err := os.ReadFile(filepath.Join(RepoRoot(), "go.mod"))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == HelmModule {
			return f[1]
		}
	}
	return ""
}
