package scale

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Tier is one of the five sizing tiers of the Fluxbase scaling guide
// ("Scaling Roadmap by User Count", https://fluxbase.eu/deployment/scaling;
// its source is docs/src/content/docs/deployment/scaling.md of
// github.com/fluxbase-eu/fluxbase). Its Preset is what a move to the tier
// sets, through Template:
//
//	client.PlanTemplate(ctx, scale.Template{Namespace: ns, Release: rel, To: scale.TierLarge.Preset})
//
// The guide's app figures (instances, requests/limits, HPA min/max) are
// taken as they are. The guide sizes PostgreSQL in cores ("2-4 cores");
// the reference chart renders no PostgreSQL resources value, so the cores
// are carried as text (PostgresCores) and the shape that the chart can
// express is PostgresInstances and Pooler.
//
// Small, Medium and Large stay what they are, not aliases of these tiers:
// they are the reference chart's own value files (values-small.yaml, ...),
// whose figures differ from the guide's (small requests 100m/128Mi there,
// 250m/512Mi here), and plans already stored with them must plan again the
// same way.
type Tier struct {
	Preset
	// Users is the guide's user range of the tier ("1,000 - 10,000").
	Users string
	// MaxUsers is the range's upper end; 0 for the open-ended last tier.
	MaxUsers int64
	// PostgresCores is the guide's PostgreSQL size ("2-4 cores"), for the
	// reader: the chart cannot set it.
	PostgresCores string
	// PostgresShape is the guide's PostgreSQL topology in words.
	PostgresShape string
}

func tierResources(cpu, memory string) corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory)}
}

// tierHPA is the guide's HPA example's targets (CPU 70 %, memory 80 %) and
// its scale-down stabilization of 300 s, with each tier's own bounds.
func tierHPA(min, max int32) *AutoscalingPreset {
	return &AutoscalingPreset{MinReplicas: min, MaxReplicas: max, TargetCPU: 70, TargetMemory: 80, ScaleDownStabilizationWindowSecs: 300}
}

// The guide's tiers. Where the guide gives a range or no number, the
// choice and its reason are on the tier.
var (
	// TierSmall: "< 1,000 users: 1-2 Fluxbase instances, single PostgreSQL
	// instance", requests 250m/512Mi, limits 500m/1Gi. One replica (the
	// range's lower end): a single instance needs no clustering, no
	// pooler and one NATS server.
	TierSmall = Tier{
		Preset: Preset{Name: "tier-small", Replicas: 1, NATSReplicas: 1, PostgresInstances: 1,
			Requests: tierResources("250m", "512Mi"), Limits: tierResources("500m", "1Gi")},
		Users: "< 1,000", MaxUsers: 1_000, PostgresCores: "not sized by the guide", PostgresShape: "single instance"}
	// TierMedium: "1,000 - 10,000 users: 2-3 instances, PostgreSQL with 2-4
	// cores", requests 500m/1Gi, limits 1000m/2Gi. Three replicas (the
	// upper end: losing one still leaves two), one PostgreSQL instance (the
	// guide adds a read replica only at the next tier), a PgBouncer pooler
	// (the guide: pooling is "critical for horizontal scaling") and three
	// NATS servers (the chart's clustered topology; the guide has no NATS).
	TierMedium = Tier{
		Preset: Preset{Name: "tier-medium", Replicas: 3, Clustering: true, NATSReplicas: 3, PostgresInstances: 1, Pooler: true,
			Requests: tierResources("500m", "1Gi"), Limits: tierResources("1000m", "2Gi")},
		Users: "1,000 - 10,000", MaxUsers: 10_000, PostgresCores: "2-4 cores", PostgresShape: "single instance"}
	// TierLarge: "10,000 - 100,000 users: 3-5 instances with HPA,
	// PostgreSQL with 4-8 cores, PostgreSQL read replica", requests
	// 1000m/2Gi, limits 2000m/4Gi, HPA 3-10. Two PostgreSQL instances: the
	// primary and its read replica.
	TierLarge = Tier{
		Preset: Preset{Name: "tier-large", Replicas: 3, Clustering: true, NATSReplicas: 3, PostgresInstances: 2, Pooler: true,
			Autoscaling: tierHPA(3, 10), Requests: tierResources("1000m", "2Gi"), Limits: tierResources("2000m", "4Gi")},
		Users: "10,000 - 100,000", MaxUsers: 100_000, PostgresCores: "4-8 cores", PostgresShape: "primary + read replica"}
	// TierXL: "100,000 - 1,000,000 users: 5-10 instances with aggressive
	// HPA, PostgreSQL cluster (primary + 2+ replicas)", requests 2000m/4Gi,
	// limits 4000m/8Gi, HPA 5-20. Three PostgreSQL instances (the "2+"
	// replicas' lower end). The guide gives no cores for this tier.
	TierXL = Tier{
		Preset: Preset{Name: "tier-xl", Replicas: 5, Clustering: true, NATSReplicas: 3, PostgresInstances: 3, Pooler: true,
			Autoscaling: tierHPA(5, 20), Requests: tierResources("2000m", "4Gi"), Limits: tierResources("4000m", "8Gi")},
		Users: "100,000 - 1,000,000", MaxUsers: 1_000_000, PostgresCores: "not sized by the guide", PostgresShape: "primary + 2 or more replicas"}
	// TierEnterprise: "1,000,000+ users: 10-50+ instances across regions,
	// PostgreSQL sharding or distributed database", requests 4000m/8Gi,
	// limits 8000m/16Gi, HPA 10-50. Sharding, other databases and regions
	// are beyond one release of the chart: the tier keeps the XL tier's
	// three CloudNativePG instances and says so in PostgresShape.
	TierEnterprise = Tier{
		Preset: Preset{Name: "tier-enterprise", Replicas: 10, Clustering: true, NATSReplicas: 3, PostgresInstances: 3, Pooler: true,
			Autoscaling: tierHPA(10, 50), Requests: tierResources("4000m", "8Gi"), Limits: tierResources("8000m", "16Gi")},
		Users: "1,000,000+", PostgresCores: "not sized by the guide",
		PostgresShape: "the guide: sharding or a distributed database (out of the chart's reach; 3 instances here)"}
)

// Tiers returns the guide's five tiers, smallest first. The slice is a new
// copy each call; its Presets share their ResourceLists with the package's
// variables, which callers must not modify.
func Tiers() []Tier {
	return []Tier{TierSmall, TierMedium, TierLarge, TierXL, TierEnterprise}
}

// TierNamed returns the tier called name ("xl" or "tier-xl", any case) and
// whether there is one.
func TierNamed(name string) (Tier, bool) {
	n := strings.TrimPrefix(strings.ToLower(strings.TrimSpace(name)), "tier-")
	for _, t := range Tiers() {
		if t.Short() == n {
			return t, true
		}
	}
	return Tier{}, false
}

// Short is the guide's name of the tier: small, medium, large, xl or
// enterprise.
func (t Tier) Short() string { return strings.TrimPrefix(t.Name, "tier-") }

// tierIndex is t's position in Tiers(), -1 for a tier not of the guide.
func tierIndex(name string) int {
	for i, t := range Tiers() {
		if t.Name == name {
			return i
		}
	}
	return -1
}
