// Package deploy holds the container image definition and the Kubernetes
// manifests of distributed runs (docs/distributed.md); its test renders
// the manifests as `kubectl apply -k` would and decodes them strictly
// against the Kubernetes API types, since no cluster runs here.
package deploy

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/brokerbench/brokerbench/workloads"
)

// render runs kustomize on dir and returns the documents it produces.
func render(t *testing.T, dir string) [][]byte {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize %s: %v", dir, err)
	}
	out, err := m.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	var docs [][]byte
	for _, d := range bytes.Split(out, []byte("\n---\n")) {
		if len(bytes.TrimSpace(d)) > 0 {
			docs = append(docs, d)
		}
	}
	return docs
}

// TestManifestsDecodeStrictly decodes every rendered object into its API
// type, rejecting unknown or misspelled fields, and checks the wiring a
// distributed run relies on: the Indexed Job, the headless Service its pods
// are named under, the coordinator's worker list, the workload ConfigMap
// and the credentials Secret.
func TestManifestsDecodeStrictly(t *testing.T) {
	var workers, coordinator batchv1.Job
	var svc corev1.Service
	var cm corev1.ConfigMap
	var secret corev1.Secret
	for _, d := range render(t, "kubernetes") {
		var meta struct {
			Kind     string
			Metadata struct{ Name string }
		}
		if err := yaml.Unmarshal(d, &meta); err != nil {
			t.Fatal(err)
		}
		var into any
		switch id := meta.Kind + "/" + meta.Metadata.Name; {
		case id == "Job/brokerbench-workers":
			into = &workers
		case id == "Job/brokerbench-coordinator":
			into = &coordinator
		case id == "Service/brokerbench-workers":
			into = &svc
		case id == "ConfigMap/brokerbench-workloads":
			into = &cm
		case id == "Secret/brokerbench-credentials":
			into = &secret
		case meta.Kind == "Namespace":
			into = &corev1.Namespace{}
		case meta.Kind == "PersistentVolumeClaim":
			into = &corev1.PersistentVolumeClaim{}
		default:
			t.Fatalf("unexpected object %s in the rendered manifests:\n%s", id, d)
		}
		if err := yaml.UnmarshalStrict(d, into); err != nil {
			t.Fatalf("%s/%s does not decode strictly: %v\n%s", meta.Kind, meta.Metadata.Name, err, d)
		}
	}
	ws := workers.Spec
	if ws.CompletionMode == nil || *ws.CompletionMode != batchv1.IndexedCompletion {
		t.Errorf("workers Job is not Indexed: %v", ws.CompletionMode)
	}
	if ws.Completions == nil || ws.Parallelism == nil || *ws.Completions != *ws.Parallelism {
		t.Fatalf("workers Job: completions %v and parallelism %v must be equal: every shard runs at once", ws.Completions, ws.Parallelism)
	}
	n := int(*ws.Completions)
	pod := ws.Template.Spec
	if pod.Subdomain != svc.Name || svc.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("worker pods' subdomain %q must name the headless Service %q (clusterIP %q)", pod.Subdomain, svc.Name, svc.Spec.ClusterIP)
	}
	for k, v := range svc.Spec.Selector {
		if ws.Template.Labels[k] != v {
			t.Errorf("Service selects %s=%s, worker pods carry %q", k, v, ws.Template.Labels[k])
		}
	}
	env := map[string]string{}
	for _, e := range pod.Containers[0].Env {
		env[e.Name] = e.Value
	}
	if env["BROKERBENCH_SHARDS"] != fmt.Sprint(n) {
		t.Errorf("BROKERBENCH_SHARDS=%q, want the Job's completions %d", env["BROKERBENCH_SHARDS"], n)
	}
	if _, ok := env["BROKERBENCH_RUN_ID"]; !ok {
		t.Error("workers have no BROKERBENCH_RUN_ID: their topics would differ")
	}
	if len(pod.Containers[0].EnvFrom) == 0 || pod.Containers[0].EnvFrom[0].SecretRef == nil || pod.Containers[0].EnvFrom[0].SecretRef.Name != secret.Name {
		t.Errorf("workers do not take their settings from the Secret %q", secret.Name)
	}
	var list string
	for _, a := range coordinator.Spec.Template.Spec.Containers[0].Args {
		if v, ok := strings.CutPrefix(a, "--workers="); ok {
			list = v
		}
	}
	urls := strings.Split(list, ",")
	if len(urls) != n {
		t.Fatalf("coordinator --workers names %d workers, the Job runs %d", len(urls), n)
	}
	for i, u := range urls {
		want := fmt.Sprintf("http://%s-%d.%s:", workers.Name, i, svc.Name)
		if !strings.HasPrefix(u, want) {
			t.Errorf("coordinator worker %d is %s, want %s...", i, u, want)
		}
	}
	// The ConfigMap's workload file must be one brokerbench accepts.
	f, err := os.CreateTemp(t.TempDir(), "workloads-*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(cm.Data["workloads.yaml"]); err != nil {
		t.Fatal(err)
	}
	f.Close()
	file, err := workloads.Load(f.Name())
	if err != nil {
		t.Fatalf("the ConfigMap's workloads.yaml: %v", err)
	}
	for _, w := range file.Workloads {
		if err := workloads.CheckShardable(w, n); err != nil {
			t.Error(err)
		}
	}
}
