package refbroker

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// aclOp is what an ACL line allows.
type aclOp uint8

const (
	// opProduce: Produce, and idempotent InitProducerID.
	opProduce aclOp = iota + 1
	// opConsume: Fetch, and the topic side of offset commits and fetches
	// and of share groups.
	opConsume
	// opGroup: join, sync, heartbeat, leave, commit to, describe and
	// delete a group (classic or share).
	opGroup
	// opAdmin: create, delete, alter the configs of and add partitions to
	// a topic; on the cluster, broker configs.
	opAdmin
)

// aclResource is the kind of resource an ACL line names.
type aclResource uint8

const (
	resTopic aclResource = iota + 1
	resGroup
	resCluster
)

// aclOps names the operations of the ACL file and the resource kinds each
// applies to.
var aclOps = map[string]struct {
	op    aclOp
	kinds []aclResource
}{
	"produce": {opProduce, []aclResource{resTopic}},
	"consume": {opConsume, []aclResource{resTopic}},
	"group":   {opGroup, []aclResource{resGroup}},
	"admin":   {opAdmin, []aclResource{resTopic, resCluster}},
}

// aclRule is one line of the ACL file.
type aclRule struct {
	principal string // "User:alice", or "User:*" / "*" for every principal
	op        aclOp
	res       aclResource
	name      string // resource name or prefix; "" for the cluster
	prefix    bool   // name ended in *: a prefix (Kafka PREFIXED); "*" alone matches all
}

// acls is the loaded ACL file; allow-only, deny by default. Read-only
// after loading.
type acls struct{ rules []aclRule }

// loadACLs reads an ACL file: one rule a line,
//
//	<principal> <operation> <resource>
//
// principal is User:<name> (what SASL or a client certificate
// authenticates; User:ANONYMOUS without either) or User:* for everyone;
// it may contain spaces (a certificate DN), since the last two fields are
// the operation and resource. operation is produce, consume, group or
// admin; resource is topic:<name>, group:<name> (a trailing * makes the
// name a prefix, * alone matches every name) or cluster. Blank lines and
// lines starting with # are skipped.
func loadACLs(path string) (*acls, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read ACL file: %w", err)
	}
	defer f.Close()
	a := &acls{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		t := strings.TrimSpace(sc.Text())
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		r, err := parseACLRule(t)
		if err != nil {
			return nil, fmt.Errorf("ACL file %s line %d: %w", path, line, err)
		}
		a.rules = append(a.rules, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read ACL file %s: %w", path, err)
	}
	return a, nil
}

func parseACLRule(t string) (aclRule, error) {
	fields := strings.Fields(t)
	if len(fields) < 3 {
		return aclRule{}, errors.New("want <principal> <operation> <resource>, e.g. User:alice produce topic:orders")
	}
	resource, opName := fields[len(fields)-1], fields[len(fields)-2]
	principal := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(strings.TrimSuffix(t, resource)), opName))
	if principal != "*" && (!strings.HasPrefix(principal, "User:") || principal == "User:") {
		return aclRule{}, fmt.Errorf("principal %q: want User:<name> or User:*", principal)
	}
	if principal == "*" {
		principal = "User:*"
	}
	op, ok := aclOps[opName]
	if !ok {
		return aclRule{}, fmt.Errorf("operation %q: want produce, consume, group or admin", opName)
	}
	r := aclRule{principal: principal, op: op.op}
	kind, name, _ := strings.Cut(resource, ":")
	switch kind {
	case "topic":
		r.res = resTopic
	case "group":
		r.res = resGroup
	case "cluster":
		r.res = resCluster
		if name != "" {
			return aclRule{}, fmt.Errorf("resource %q: the cluster has no name (write cluster)", resource)
		}
	default:
		return aclRule{}, fmt.Errorf("resource %q: want topic:<name>, group:<name> or cluster", resource)
	}
	if r.res != resCluster && name == "" {
		return aclRule{}, fmt.Errorf("resource %q: empty name (use * for all)", resource)
	}
	r.name, r.prefix = strings.CutSuffix(name, "*")
	ok = false
	for _, k := range op.kinds {
		ok = ok || k == r.res
	}
	if !ok {
		return aclRule{}, fmt.Errorf("operation %s does not apply to %s", opName, resource)
	}
	return r, nil
}

// matches reports whether r covers principal and the named resource.
func (r *aclRule) matches(principal string, res aclResource, name string) bool {
	if r.res != res || (r.principal != "User:*" && r.principal != principal) {
		return false
	}
	if r.prefix {
		return strings.HasPrefix(name, r.name)
	}
	return r.name == name
}

// allows reports whether a rule lets principal do op on the resource.
func (a *acls) allows(principal string, op aclOp, res aclResource, name string) bool {
	for i := range a.rules {
		if a.rules[i].op == op && a.rules[i].matches(principal, res, name) {
			return true
		}
	}
	return false
}

// describes reports whether principal may do anything with the resource,
// which is what Kafka's Describe implies (metadata, offsets, configs).
func (a *acls) describes(principal string, res aclResource, name string) bool {
	for i := range a.rules {
		if a.rules[i].matches(principal, res, name) {
			return true
		}
	}
	return false
}

// producesAnything reports whether principal may produce to some topic,
// which Kafka (3.0+) accepts for an idempotent InitProducerID.
func (a *acls) producesAnything(principal string) bool {
	for i := range a.rules {
		r := &a.rules[i]
		if r.op == opProduce && (r.principal == "User:*" || r.principal == principal) {
			return true
		}
	}
	return false
}

// may reports whether the connection's principal may do op on the
// resource; always true without an ACL file.
func (cc *conn) may(op aclOp, res aclResource, name string) bool {
	a := cc.b.aclsOrNil()
	return a == nil || a.allows(cc.auth.principal, op, res, name)
}

// mayDescribe reports whether the principal may see the resource at all.
func (cc *conn) mayDescribe(res aclResource, name string) bool {
	a := cc.b.aclsOrNil()
	return a == nil || a.describes(cc.auth.principal, res, name)
}

// aclsOrNil returns the loaded ACLs, nil when there are none.
func (b *Broker) aclsOrNil() *acls {
	if b.sec == nil {
		return nil
	}
	return b.sec.acls
}

// topicName returns a request's topic name, resolving a topic ID (newer
// versions name topics by ID); "" for an unknown ID, which the handler
// then answers with its own error.
func (cc *conn) topicName(name string, id [16]byte) string {
	if name != "" || id == [16]byte{} {
		return name
	}
	if tp := cc.b.topics.lookupID(id); tp != nil {
		return tp.name
	}
	return ""
}

func derefOr(s *string, def string) string {
	if s == nil {
		return def
	}
	return *s
}

// serveAllowed is how most keys apply the ACLs, as Kafka does: deny says
// which of the request's *items the principal may not use and gives the
// response entry for each (with the authorization error); those are taken
// out of the request, the rest is served, and the denied entries are
// appended to the response's list that out returns. When everything is
// denied the handler is not called and the answer is immediate.
func serveAllowed[I, D any, R kmsg.Response](ctx context.Context, cc *conn, req kmsg.Request, serve handler,
	items *[]I, deny func(I) (D, bool), out func(R) *[]D) (kmsg.Response, error) {
	var denied []D
	*items = slices.DeleteFunc(*items, func(it I) bool {
		d, no := deny(it)
		if no {
			denied = append(denied, d)
		}
		return no
	})
	var resp R
	if len(*items) > 0 || len(denied) == 0 {
		r, err := serve(ctx, cc, req)
		if err != nil || r == nil {
			return r, err
		}
		resp = r.(R)
	} else {
		resp = req.ResponseKind().(R)
	}
	list := out(resp)
	*list = append(*list, denied...)
	return resp, nil
}
