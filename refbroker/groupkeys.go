package refbroker

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerbench/brokerbench/refbroker/group"
)

// regGroupKey registers k, a key served by the group coordinator, with the
// version range the coordinator declares in group.Versions (so ApiVersions
// never advertises more than the coordinator handles) and fn as its
// handler; k states everything else about the key.
//
// fn is a Coordinator method expression. The coordinator returns nil when
// ctx ends (the connection closed or the broker is stopping) while the
// request waits for a rebalance; the connection is then closed without a
// response, since the client is gone or the broker is going.
func regGroupKey[Req kmsg.Request, R any, PR interface {
	*R
	kmsg.Response
}](k apiKey, fn func(*group.Coordinator, context.Context, Req) PR) {
	v, ok := group.Versions()[k.key.Int16()]
	if !ok {
		panic(fmt.Sprintf("refbroker: group coordinator does not serve key %d (%s)", k.key, k.key.Name()))
	}
	k.min, k.max = v[0], v[1]
	name := k.key.Name()
	k.handle = func(ctx context.Context, cc *conn, req kmsg.Request) (kmsg.Response, error) {
		ctx = group.WithClientInfo(ctx, group.ClientInfo{ClientID: cc.clientID, Host: cc.remote})
		resp := fn(cc.b.groups, ctx, req.(Req))
		if resp == nil {
			return nil, fmt.Errorf("%w: %s abandoned: %w", errCloseConn, name, context.Cause(ctx))
		}
		return resp, nil
	}
	regKey(k)
}
