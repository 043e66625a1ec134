package nodes

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// DefaultMaxPods is the kubelet's default --max-pods, the pods a node of a
// ServerType with Pods 0 admits.
const DefaultMaxPods = 110

// ServerType is a machine type workers are made of, as the cloud sells it.
// Its capacity is what a new node's kubelet reports before any reservation;
// Diagnose prefers the allocatable of an existing node of the type, which is
// what the kubelet really keeps, and estimates from Capacity minus Reserved
// only when there is none.
type ServerType struct {
	// Name is the provider's name of the type, e.g. "cpx32", and the value
	// of the node.kubernetes.io/instance-type label the cloud controller
	// manager puts on its nodes.
	Name string `json:"name"`
	// CPU is the type's vCPUs; Memory its RAM as the provider sells it
	// (Hetzner's "GB" are GiB: a cpx11's guest reports 1.9 GiB of its 2).
	CPU    resource.Quantity `json:"cpu"`
	Memory resource.Quantity `json:"memory"`
	// Pods is the kubelet's --max-pods; 0 means DefaultMaxPods.
	Pods int64 `json:"pods,omitempty"`
	// Dedicated: the vCPUs are dedicated (Hetzner's CCX) rather than shared.
	Dedicated bool `json:"dedicated,omitempty"`
	// Arch is the kubernetes.io/arch label of its nodes; "" means "amd64".
	Arch string `json:"arch,omitempty"`
	// Reserved overrides DefaultReserved for this type (see Diagnose.Reserved).
	Reserved corev1.ResourceList `json:"reserved,omitempty"`
}

// Capacity is the type's node capacity: cpu, memory and pods.
func (t ServerType) Capacity() corev1.ResourceList {
	pods := t.Pods
	if pods == 0 {
		pods = DefaultMaxPods
	}
	return corev1.ResourceList{
		corev1.ResourceCPU:    t.CPU.DeepCopy(),
		corev1.ResourceMemory: t.Memory.DeepCopy(),
		corev1.ResourcePods:   *resource.NewQuantity(pods, resource.DecimalSI),
	}
}

func (t ServerType) arch() string {
	if t.Arch == "" {
		return "amd64"
	}
	return t.Arch
}

// ServerTypes is a table of server types.
type ServerTypes []ServerType

// Lookup returns the type of that name (case-insensitive, as the provider's
// API accepts it).
func (s ServerTypes) Lookup(name string) (ServerType, bool) {
	for _, t := range s {
		if strings.EqualFold(t.Name, name) {
			return t, true
		}
	}
	return ServerType{}, false
}

// DefaultReserved is what Diagnose assumes the kubelet and the system keep
// of a new node's capacity when no node of its type exists yet to read the
// real allocatable from. It is an estimate, said as such in the
// Recommendation: the kubelet's default hard eviction threshold
// (memory.available<100Mi) is withheld from allocatable, the guest kernel
// reports a few hundred MiB less than the RAM sold (a "2 GB" cpx11 shows
// 1.9 GiB), and 100m of CPU keeps a pod sized to a whole vCPU count from
// being promised a node the system daemons already use. Set
// Diagnose.Reserved (or ServerType.Reserved) to the kube-reserved plus
// system-reserved plus eviction threshold of your kubelet configuration.
func DefaultReserved() corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("100m"),
		corev1.ResourceMemory: resource.MustParse("512Mi"),
	}
}

func diagType(name string, cpu, memGi int64, dedicated bool) ServerType {
	return ServerType{
		Name:      name,
		CPU:       *resource.NewQuantity(cpu, resource.DecimalSI),
		Memory:    *resource.NewQuantity(memGi<<30, resource.BinarySI),
		Dedicated: dedicated,
		Arch:      "amd64",
	}
}

// HetznerServerTypes are Hetzner Cloud's x86 AMD types, the table Diagnose
// uses when Diagnose.ServerTypes is nil: vCPUs and RAM (GB, as GiB) of the
// shared-vCPU CPX line, its first generation (cpx11-cpx51) and the 2025
// one (cpx12-cpx62), and of the dedicated-vCPU CCX line. The figures follow
// Hetzner's product pages (hetzner.com/cloud, `hcloud server-type list`);
// for this table they were checked against third-party records of those
// machines, not against Hetzner's API: benchmark runs measuring 1 core for
// a cpx12, 2 for a cpx22 and 4 for a cpx32, node tables giving a cpx42 8
// vCPU / 16 GB, a cpx52 12 / 24 and a cpx62 16 / 32, and the CCX list
// 2/8, 4/16, 8/32, 16/64, 32/128, 48/192. One reseller's catalogue lists
// the cpx22 with 3 vCPUs; the measured 2 is kept. Prices and disks are not
// modelled: Diagnose needs only what the scheduler counts. Providers change
// their lines: pass your own table in Diagnose.ServerTypes.
var HetznerServerTypes = ServerTypes{
	// CPX, first generation (shared AMD EPYC).
	diagType("cpx11", 2, 2, false),
	diagType("cpx21", 3, 4, false),
	diagType("cpx31", 4, 8, false),
	diagType("cpx41", 8, 16, false),
	diagType("cpx51", 16, 32, false),
	// CPX, 2025 generation (shared AMD EPYC).
	diagType("cpx12", 1, 2, false),
	diagType("cpx22", 2, 4, false),
	diagType("cpx32", 4, 8, false),
	diagType("cpx42", 8, 16, false),
	diagType("cpx52", 12, 24, false),
	diagType("cpx62", 16, 32, false),
	// CCX (dedicated AMD EPYC).
	diagType("ccx13", 2, 8, true),
	diagType("ccx23", 4, 16, true),
	diagType("ccx33", 8, 32, true),
	diagType("ccx43", 16, 64, true),
	diagType("ccx53", 32, 128, true),
	diagType("ccx63", 48, 192, true),
}
