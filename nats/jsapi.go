package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/jsm.go/api"
	natsgo "github.com/nats-io/nats.go"
)

// request sends one JetStream API request and decodes the answer into resp.
// An error answer is an *APIError; no responder on a system subject is a
// *SystemAccountError.
func (c *Client) request(ctx context.Context, nc *natsgo.Conn, subject string, req any, resp any) error {
	var payload []byte
	if req != nil {
		var err error
		if payload, err = json.Marshal(req); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.RequestTimeout)
	defer cancel()
	msg, err := nc.RequestWithContext(ctx, subject, payload)
	if errors.Is(err, natsgo.ErrNoResponders) && nc == c.sys {
		return &SystemAccountError{Subject: subject, Err: err}
	}
	if err != nil {
		return fmt.Errorf("nats: %s: %w", subject, err)
	}
	var head api.JSApiResponse
	if err := json.Unmarshal(msg.Data, &head); err != nil {
		return fmt.Errorf("nats: decoding the answer to %s: %w", subject, err)
	}
	if head.Error != nil {
		return &APIError{Subject: subject, Code: head.Error.Code, ErrCode: head.Error.ErrCode, Description: head.Error.Description}
	}
	if resp != nil {
		return json.Unmarshal(msg.Data, resp)
	}
	return nil
}

func isAPIError(err error, code uint16) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.ErrCode == code
}

// evacuate asks the meta leader to move every asset off server
// ($JS.API.SERVER.EVACUATE, nats-server 2.15+). The server excludes the
// evacuated peer from each move, not from later ones.
func (c *Client) evacuate(ctx context.Context, server string) error {
	var resp api.JSApiMetaServerEvacuateResponse
	return c.request(ctx, c.sys, api.JSApiEvacuateServer, api.JSApiMetaServerEvacuateRequest{Server: server}, &resp)
}

// peerRemove removes a server from the meta group ($JS.API.SERVER.REMOVE,
// `nats server cluster peer-remove`).
func (c *Client) peerRemove(ctx context.Context, server string) error {
	var resp api.JSApiMetaServerRemoveResponse
	// By peer ID as well: once the others have forgotten a departed
	// server's name, the name alone finds nothing.
	return c.request(ctx, c.sys, api.JSApiRemoveServer, api.JSApiMetaServerRemoveRequest{Server: server, Peer: PeerID(server)}, &resp)
}

// setStreamReplicas changes a stream's num_replicas through a connection in
// its account. The configuration is sent back as the server returned it,
// as raw JSON, so that fields this package does not know survive. It reports
// whether it changed anything.
func (c *Client) setStreamReplicas(ctx context.Context, account, stream string, replicas int) (bool, error) {
	nc := c.opts.Accounts[account]
	if nc == nil {
		return false, &AccountConnectionError{Accounts: []string{account}, Streams: []StreamRef{{Account: account, Name: stream}}}
	}
	var info struct {
		Config map[string]any `json:"config"`
	}
	if err := c.request(ctx, nc, fmt.Sprintf(api.JSApiStreamInfoT, stream), nil, &info); err != nil {
		return false, err
	}
	if n, _ := info.Config["num_replicas"].(float64); int(n) == replicas {
		return false, nil
	}
	info.Config["num_replicas"] = replicas
	return true, c.request(ctx, nc, fmt.Sprintf(api.JSApiStreamUpdateT, stream), info.Config, nil)
}

// backstop is how often a wait re-reads the cluster when no event arrives.
// Raft catch-up ("current") and a peer turning offline publish no advisory,
// so advisories alone cannot end every wait.
const backstop = 250 * time.Millisecond

// events returns a channel that delivers when the cluster may have changed:
// a JetStream advisory in the system account or any configured account, a
// server shutting down, or the backstop interval passing. stop unsubscribes.
func (c *Client) events() (changed <-chan struct{}, stop func(), err error) {
	ch := make(chan struct{}, 1)
	signal := func(*natsgo.Msg) {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	var subs []*natsgo.Subscription
	done := make(chan struct{})
	stop = func() {
		close(done)
		for _, s := range subs {
			_ = s.Unsubscribe()
		}
	}
	subscribe := func(nc *natsgo.Conn, subject string) error {
		s, err := nc.Subscribe(subject, signal)
		if err == nil {
			subs = append(subs, s)
		}
		return err
	}
	if err := subscribe(c.sys, "$JS.EVENT.ADVISORY.>"); err != nil {
		stop()
		return nil, nil, err
	}
	if err := subscribe(c.sys, "$SYS.SERVER.*.SHUTDOWN"); err != nil {
		stop()
		return nil, nil, err
	}
	for _, nc := range c.opts.Accounts {
		if err := subscribe(nc, "$JS.EVENT.ADVISORY.>"); err != nil {
			stop()
			return nil, nil, err
		}
	}
	go func() {
		t := time.NewTicker(backstop)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				signal(nil)
			}
		}
	}()
	return ch, stop, nil
}
