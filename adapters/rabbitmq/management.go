package rabbitmq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/brokerbench/brokerbench/adapters"
)

// managementTimeout bounds one management API request: it is asked once
// per run, and a firewalled port must not hold the run up.
const managementTimeout = 3 * time.Second

// errManagementOff is returned when Config.ManagementURL is "off".
var errManagementOff = errors.New("management API not asked (BROKERBENCH_RABBITMQ_MANAGEMENT_URL=off)")

// managementURL is the management API's base URL: Config.ManagementURL,
// or the AMQP host on the management plugin's default port.
func (r *RabbitMQ) managementURL() (*url.URL, error) {
	switch r.cfg.ManagementURL {
	case "off":
		return nil, errManagementOff
	case "":
		scheme, port := "http", 15672
		if r.uri.Scheme == "amqps" {
			scheme, port = "https", 15671
		}
		return &url.URL{Scheme: scheme, Host: net.JoinHostPort(r.uri.Host, strconv.Itoa(port)), Path: "/"}, nil
	}
	u, err := url.Parse(r.cfg.ManagementURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("ManagementURL %s is not an http(s) URL", adapters.RedactURL(r.cfg.ManagementURL))
	}
	return u, nil
}

// queueMembers asks the management API for the members (nodes) of a
// quorum queue: GET /api/queues/{vhost}/{name}, field "members". The
// names are path-escaped, since queue names contain '/'.
func (r *RabbitMQ) queueMembers(ctx context.Context, queue string) ([]string, error) {
	base, err := r.managementURL()
	if err != nil {
		return nil, err
	}
	u := *base
	u.User = nil
	prefix := u.Path
	if prefix == "" || prefix[len(prefix)-1] != '/' {
		prefix += "/"
	}
	u.Path = prefix + "api/queues/" + r.uri.Vhost + "/" + queue
	u.RawPath = prefix + "api/queues/" + url.PathEscape(r.uri.Vhost) + "/" + url.PathEscape(queue)
	ctx, cancel := context.WithTimeout(ctx, managementTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("management API request: %w", err)
	}
	req.SetBasicAuth(r.uri.Username, r.uri.Password)
	tlsCfg, err := r.cfg.tlsConfig(u.Hostname())
	if err != nil {
		return nil, err
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	resp, err := client.Do(req)
	if err != nil {
		// The error names the URL, which holds no credentials (u.User is nil).
		return nil, fmt.Errorf("management API: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("management API GET %s: %s", u.Path, resp.Status)
	}
	var q struct {
		Members []string `json:"members"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&q); err != nil {
		return nil, fmt.Errorf("management API GET %s: decode: %w", u.Path, err)
	}
	if q.Members == nil {
		return nil, fmt.Errorf("management API GET %s: no members field (not a quorum queue?)", u.Path)
	}
	return q.Members, nil
}
