package refbroker

import (
	"context"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handler serves one decoded request on a connection. It returns the
// response to write, or nil to write nothing (acks=0 produce). A non-nil
// error closes the connection; its text is the logged reason. ctx is done
// when the connection closes or the broker shuts down, and blocking
// handlers (fetch long-poll, JoinGroup) must return when it is.
type handler func(ctx context.Context, cc *conn, req kmsg.Request) (kmsg.Response, error)

// apiKey is one served Kafka API key: the version range advertised in
// ApiVersions and the handler dispatch calls.
type apiKey struct {
	key, min, max int16
	handle        handler
}

// apiKeys is the registry of served keys. It is written only by regKey
// from init functions (one per NN_name.go file) and is read-only once the
// package is initialised, so it needs no lock.
var apiKeys = map[int16]apiKey{}

// regKey registers the handler and version range of one API key. It panics
// on a duplicate or an invalid range: both are programming errors that must
// fail at init, not when a client asks.
func regKey(key, min, max int16, h handler) {
	if key < 0 || min < 0 || max < min || h == nil {
		panic(fmt.Sprintf("refbroker: invalid registration of key %d: v%d-v%d", key, min, max))
	}
	if _, dup := apiKeys[key]; dup {
		panic(fmt.Sprintf("refbroker: key %d (%s) registered twice", key, kmsg.NameForKey(key)))
	}
	apiKeys[key] = apiKey{key: key, min: min, max: max, handle: h}
}

// sortedAPIKeys returns the registry in key order, for ApiVersions and docs.
func sortedAPIKeys() []apiKey {
	out := make([]apiKey, 0, len(apiKeys))
	for _, k := range apiKeys {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

// dispatch checks the request's key and version against the registry,
// decodes the body and calls the key's handler. It is the only place
// requests are routed. Unknown keys and versions close the connection, as
// Kafka does: there is no response version the client could parse.
func dispatch(ctx context.Context, cc *conn, h requestHeader, r *kbin.Reader) (kmsg.Response, error) {
	k, ok := apiKeys[h.key]
	if !ok {
		return nil, fmt.Errorf("%w: unsupported API key %d (v%d, client %q)", errCloseConn, h.key, h.version, h.clientID)
	}
	if h.version < k.min || h.version > k.max {
		return nil, fmt.Errorf("%w: %s v%d outside supported v%d-v%d (client %q)", errCloseConn, kmsg.NameForKey(h.key), h.version, k.min, k.max, h.clientID)
	}
	req := kmsg.RequestForKey(h.key)
	if req == nil {
		return nil, fmt.Errorf("%w: no decoder for API key %d", errCloseConn, h.key)
	}
	req.SetVersion(h.version)
	if req.IsFlexible() {
		kmsg.SkipTags(r)
		if !r.Ok() {
			return nil, fmt.Errorf("%w: truncated %s request header tags", errCloseConn, kmsg.NameForKey(h.key))
		}
	}
	if err := req.ReadFrom(r.Src); err != nil {
		return nil, fmt.Errorf("%w: decode %s v%d: %v", errCloseConn, kmsg.NameForKey(h.key), h.version, err)
	}
	return k.handle(ctx, cc, req)
}
