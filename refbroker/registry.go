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

// apiKey is everything refbroker knows about one served Kafka API key.
// Each key's registration, in its NN_name.go file, is the only place these
// facts are stated: dispatch, the connection loop, ApiVersions and the
// docs table read them from here and hold no key numbers of their own
// (TestNoKeyNumbersOutsideRegistrations keeps it so).
type apiKey struct {
	key      kmsg.Key
	min, max int16 // the version range ApiVersions advertises
	handle   handler

	// wait says whether the handler can wait for a long time.
	wait waitKind
	// frame says whether the request's frame buffer may be reused once
	// the handler returns.
	frame frameUse
	// unsupported lists the request fields and behaviours refbroker
	// ignores or refuses within the advertised versions, one short
	// factual line each; they are rendered into docs/refbroker.md. It
	// must be non-nil: allSupported when there is nothing to list, so
	// that a registration cannot forget the question.
	unsupported []string
	// headerV0 means the response header is v0 even for flexible
	// versions. Only ApiVersions: a client that does not know our
	// versions yet must be able to parse the answer (KIP-511).
	headerV0 bool
	// tooNew, when set, answers a request above max without decoding its
	// body (ApiVersions, KIP-511: the client retries at a version we
	// serve). Without it such a request closes the connection.
	tooNew func() kmsg.Response
	// encode, when set, appends the response body to dst in place of
	// resp.AppendTo: Fetch's leaves the record bytes of storage reads out
	// of the buffer and has the connection write them from the segments'
	// mappings (zerocopy.go), so that neither a copy nor a buffer the
	// size of the response is needed.
	encode func(cc *conn, dst []byte, resp kmsg.Response) []byte
	// checksOnArrival means the request is laid out as Produce's and the
	// reader sums and checks its record batches while the frame arrives
	// (producescan.go), for the handler to append with. Only Produce.
	checksOnArrival bool
	// preAuth means the key is served on a SASL listener before the
	// client has authenticated (KIP-152: ApiVersions, SaslHandshake,
	// SaslAuthenticate); any other key then closes the connection, as
	// Kafka does.
	preAuth bool
	// authorize serves the request under the ACL file (only when one is
	// loaded): it answers what the connection's principal may not do
	// with the key's authorization error and passes the rest to serve.
	// Required, so that no key can be served around the ACLs; noACL for
	// keys that need no permission.
	authorize aclCheck
}

// aclCheck is an apiKey's authorization step; see apiKey.authorize.
type aclCheck func(ctx context.Context, cc *conn, req kmsg.Request, serve handler) (kmsg.Response, error)

// noACL is the authorize of keys every principal may use.
func noACL(ctx context.Context, cc *conn, req kmsg.Request, serve handler) (kmsg.Response, error) {
	return serve(ctx, cc, req)
}

// waitKind says whether a key's handler can wait for a long time.
type waitKind uint8

const (
	_ waitKind = iota // unset: regKey refuses it
	// answersPromptly handlers return as soon as they have done their work.
	answersPromptly
	// mayBlock handlers can wait (a fetch long-poll, a rebalance): the
	// connection first writes the responses already encoded for earlier
	// pipelined requests, and a long wait is not logged as slow.
	mayBlock
)

// frameUse says what a handler does with the request frame's bytes.
type frameUse uint8

const (
	_ frameUse = iota // unset: regKey refuses it
	// keepsFrame: the decoded request aliases the frame ([]byte fields are
	// not copied) and the handler, or a coordinator, may keep such a
	// slice (JoinGroup's protocol metadata), so the buffer is given up.
	keepsFrame
	// releasesFrame: the handler keeps no reference into the frame once
	// it returns (storage copies appended batches, fetch keeps only
	// copied strings), so the connection reuses the buffer.
	releasesFrame
)

// allSupported is the unsupported list of a key with nothing to list.
var allSupported = []string{}

// apiKeys is the registry of served keys, indexed by the wire key. It is
// written only by regKey from init functions (one per NN_name.go file) and
// is read-only once the package is initialised, so it needs no lock.
var apiKeys = map[int16]*apiKey{}

// lookupKey returns the registration of a wire key, nil if not served.
func lookupKey(key int16) *apiKey { return apiKeys[key] }

// regKey registers one API key. It panics on a duplicate or an incomplete
// registration: both are programming errors that must fail at init, not
// when a client asks.
func regKey(k apiKey) {
	if err := k.validate(); err != nil {
		panic(fmt.Sprintf("refbroker: invalid registration: %v", err))
	}
	if _, dup := apiKeys[k.key.Int16()]; dup {
		panic(fmt.Sprintf("refbroker: key %d (%s) registered twice", k.key, k.key.Name()))
	}
	apiKeys[k.key.Int16()] = &k
}

// validate reports the first property the registration leaves undeclared.
func (k *apiKey) validate() error {
	name := fmt.Sprintf("key %d (%s)", k.key, k.key.Name())
	switch {
	case k.key.Request() == nil:
		return fmt.Errorf("%s: no kmsg request type", name)
	case k.min < 0 || k.max < k.min:
		return fmt.Errorf("%s: invalid version range v%d-v%d", name, k.min, k.max)
	case k.handle == nil:
		return fmt.Errorf("%s: no handler", name)
	case k.wait == 0:
		return fmt.Errorf("%s: wait unset (answersPromptly or mayBlock)", name)
	case k.frame == 0:
		return fmt.Errorf("%s: frame unset (keepsFrame or releasesFrame)", name)
	case k.unsupported == nil:
		return fmt.Errorf("%s: unsupported features unset (allSupported when there are none)", name)
	case k.authorize == nil:
		return fmt.Errorf("%s: authorize unset (noACL when the key needs no permission)", name)
	}
	return nil
}

// sortedAPIKeys returns the registry in key order, for ApiVersions and docs.
func sortedAPIKeys() []*apiKey {
	out := make([]*apiKey, 0, len(apiKeys))
	for _, k := range apiKeys {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

// dispatch checks the request's key and version against the registry,
// decodes the body and serves it, through Config.Intercept when a test set
// one. It is the only place requests are routed. Unknown keys and versions
// close the connection, as Kafka does: there is no response version the
// client could parse.
// k is h.key's registration, nil when the key is not served.
func dispatch(ctx context.Context, cc *conn, k *apiKey, h requestHeader, r *kbin.Reader) (kmsg.Response, error) {
	if k == nil {
		return nil, fmt.Errorf("%w: unsupported API key %d (v%d, client %q)", errCloseConn, h.key, h.version, h.clientID)
	}
	if h.version > k.max && k.tooNew != nil {
		return k.tooNew(), nil
	}
	if err := k.checkVersion(h.version); err != nil {
		return nil, fmt.Errorf("%w: %w (client %q)", errCloseConn, err, h.clientID)
	}
	if err := cc.auth.admit(cc, k); err != nil {
		return nil, err
	}
	req := k.key.Request()
	req.SetVersion(h.version)
	if req.IsFlexible() {
		kmsg.SkipTags(r)
		if !r.Ok() {
			return nil, fmt.Errorf("%w: truncated %s request header tags", errCloseConn, k.key.Name())
		}
	}
	if err := req.ReadFrom(r.Src); err != nil {
		return nil, fmt.Errorf("%w: decode %s v%d: %v", errCloseConn, k.key.Name(), h.version, err)
	}
	if intercept := cc.b.cfg.Intercept; intercept != nil {
		return intercept(ctx, req, cc.serveDecoded)
	}
	return k.serve(ctx, cc, req)
}

// serve runs the key's handler, through its authorize step when an ACL
// file is loaded.
func (k *apiKey) serve(ctx context.Context, cc *conn, req kmsg.Request) (kmsg.Response, error) {
	if s := cc.b.sec; s != nil && s.acls != nil {
		return k.authorize(ctx, cc, req, k.handle)
	}
	return k.handle(ctx, cc, req)
}

// checkVersion reports a version outside the advertised range.
func (k *apiKey) checkVersion(v int16) error {
	if v < k.min || v > k.max {
		return fmt.Errorf("%w: %s v%d outside supported v%d-v%d", errNotServed, k.key.Name(), v, k.min, k.max)
	}
	return nil
}

// serveDecoded is the Handler given to Config.Intercept: it serves a
// decoded request of any served key and version with the broker's own
// handler, on this connection, without interception.
func (cc *conn) serveDecoded(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	k := lookupKey(req.Key())
	if k == nil {
		return nil, fmt.Errorf("%w: API key %d", errNotServed, req.Key())
	}
	if err := k.checkVersion(req.GetVersion()); err != nil {
		return nil, err
	}
	return k.serve(ctx, cc, req)
}
