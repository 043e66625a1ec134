package nats

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/ironflow/scaling"
)

// varzResponse is the part of a server's VARZ reply a Verify reads: the
// routes its configuration names, which a config reload changes.
type varzResponse struct {
	Server struct {
		Name string `json:"name"`
	} `json:"server"`
	Data *struct {
		Cluster struct {
			URLs []string `json:"urls"`
		} `json:"cluster"`
	} `json:"data"`
}

const varzSubject = "$SYS.REQ.SERVER.PING.VARZ"

// routesCheck says whether each of n servers runs a configuration that
// routes to n ordinals, the chart's routes for the new size. With the
// config reloader a server reloads nats.conf whenever its ConfigMap reaches
// it, which can be well after the new servers joined: until every server
// has, a reload can still break and re-form routes under a client that just
// placed a stream. The servers themselves are the only ones to ask.
func routesCheck(ctx context.Context, nc *natsgo.Conn, n int, now time.Time) scaling.Check {
	ch := scaling.Check{Name: "servers-routes", Expected: fmt.Sprintf("%d servers, each configured with %d routes", n, n), ObservedAt: now}
	replies, err := ping(ctx, nc, varzSubject, nil, inspectWindow, func(out []varzResponse) bool { return len(out) >= n })
	if err != nil {
		ch.Observed = err.Error()
		return ch
	}
	var parts []string
	ok := 0
	for _, r := range replies {
		routes := 0
		if r.Data != nil {
			routes = len(r.Data.Cluster.URLs)
		}
		parts = append(parts, fmt.Sprintf("%s %d", r.Server.Name, routes))
		if routes == n {
			ok++
		}
	}
	slices.Sort(parts)
	ch.Observed = strings.Join(parts, ", ")
	ch.Passed = ok == n && len(replies) == n
	return ch
}
