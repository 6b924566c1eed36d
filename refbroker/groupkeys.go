package refbroker

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brokerbench/brokerbench/refbroker/group"
)

// regGroupKey registers a key served by the group coordinator, with the
// version range the coordinator declares in group.Versions, so ApiVersions
// never advertises more than the coordinator handles.
//
// fn is a Coordinator method expression. The coordinator returns nil when
// ctx ends (the connection closed or the broker is stopping) while the
// request waits for a rebalance; the connection is then closed without a
// response, since the client is gone or the broker is going.
func regGroupKey[Req kmsg.Request, R any, PR interface {
	*R
	kmsg.Response
}](key int16, fn func(*group.Coordinator, context.Context, Req) PR) {
	v, ok := group.Versions()[key]
	if !ok {
		panic(fmt.Sprintf("refbroker: group coordinator does not serve key %d", key))
	}
	regKey(key, v[0], v[1], func(ctx context.Context, cc *conn, req kmsg.Request) (kmsg.Response, error) {
		ctx = group.WithClientInfo(ctx, group.ClientInfo{ClientID: cc.clientID, Host: cc.remote})
		resp := fn(cc.b.groups, ctx, req.(Req))
		if resp == nil {
			return nil, fmt.Errorf("%w: %s abandoned: %w", errCloseConn, kmsg.NameForKey(key), context.Cause(ctx))
		}
		if of, ok := any(resp).(*kmsg.OffsetFetchResponse); ok && cc.b.cfg.Faults != nil {
			cc.b.cfg.Faults.OffsetFetch(of)
		}
		return resp, nil
	})
}
