// Package ports hands out free loopback ports to the components the
// project's tests and helpers start (a control plane, NATS servers).
package ports

import "net"

// Free returns n distinct loopback ports free at the time of the call. It
// holds them all open until it returns, so none is handed out twice; they
// are released before the caller binds them, and a collision in that window
// is rare and fails the start loudly rather than silently.
func Free(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
