// mgitd-manifests validates the objects `helm template` renders for the mgitd chart.
//
// Every object is decoded into the typed Go API of its kind (k8s.io/api for the built-in
// kinds, the Prometheus Operator's and KEDA's own API packages for their CRDs) with unknown
// and duplicate fields rejected, so a misspelt or misplaced field fails here instead of being
// dropped silently by the API server. Then the rendered set is checked as a whole: the
// checks kube-linter runs by default that apply to these kinds, plus the ones the project
// asks for on top (liveness and readiness probes, no default service account, no pod
// without a NetworkPolicy), and Pod Security Standard "restricted". An Ingress may route only
// the webhook paths, to the webhook listener's port.
//
// Usage: mgitd-manifests RENDERED.yaml
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// newObject returns an empty typed object for an apiVersion/kind, or nil if the chart is not
// expected to render that kind (which is itself an error: nothing unknown gets through).
func newObject(apiVersion, kind string) any {
	switch apiVersion + " " + kind {
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}
	case "v1 Service":
		return &corev1.Service{}
	case "v1 ServiceAccount":
		return &corev1.ServiceAccount{}
	case "v1 Secret":
		return &corev1.Secret{}
	case "apps/v1 StatefulSet":
		return &appsv1.StatefulSet{}
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}
	case "policy/v1 PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}
	case "networking.k8s.io/v1 NetworkPolicy":
		return &networkingv1.NetworkPolicy{}
	case "networking.k8s.io/v1 Ingress":
		return &networkingv1.Ingress{}
	case "autoscaling/v2 HorizontalPodAutoscaler":
		return &autoscalingv2.HorizontalPodAutoscaler{}
	case "monitoring.coreos.com/v1 ServiceMonitor":
		return &monitoringv1.ServiceMonitor{}
	case "monitoring.coreos.com/v1 PrometheusRule":
		return &monitoringv1.PrometheusRule{}
	case "keda.sh/v1alpha1 ScaledObject":
		return &kedav1alpha1.ScaledObject{}
	case "keda.sh/v1alpha1 TriggerAuthentication":
		return &kedav1alpha1.TriggerAuthentication{}
	}
	return nil
}

type rendered struct {
	source string // "# Source:" line of helm template, for messages
	kind   string
	name   string
	obj    any
}

type workload struct {
	name     string
	replicas *int32
	selector *metav1.LabelSelector
	template corev1.PodTemplateSpec
}

type checker struct {
	objects  []rendered
	problems []string
}

func (c *checker) failf(obj rendered, format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf("%s %s (%s): %s", obj.kind, obj.name, obj.source, fmt.Sprintf(format, args...)))
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: mgitd-manifests RENDERED.yaml")
		os.Exit(2)
	}
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	c := &checker{}
	if err := c.decodeAll(data); err != nil {
		fmt.Fprintf(os.Stderr, "mgitd-manifests: %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	c.checkAll()
	counts := map[string]int{}
	for _, o := range c.objects {
		counts[o.kind]++
	}
	kinds := make([]string, 0, len(counts))
	for k, n := range counts {
		kinds = append(kinds, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(kinds)
	if len(c.problems) > 0 {
		for _, p := range c.problems {
			fmt.Fprintln(os.Stderr, "mgitd-manifests: "+p)
		}
		fmt.Fprintf(os.Stderr, "mgitd-manifests: %s: %d problems\n", os.Args[1], len(c.problems))
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "mgitd-manifests: %s: %d objects decoded strictly and checked (%s)\n",
		os.Args[1], len(c.objects), strings.Join(kinds, " "))
}

func (c *checker) decodeAll(data []byte) error {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		source := "?"
		for _, line := range strings.Split(string(doc), "\n") {
			if s, ok := strings.CutPrefix(line, "# Source: "); ok {
				source = s
			}
		}
		var head struct {
			APIVersion string            `json:"apiVersion"`
			Kind       string            `json:"kind"`
			Metadata   metav1.ObjectMeta `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			return fmt.Errorf("%s: %w", source, err)
		}
		if head.Kind == "" && head.APIVersion == "" {
			continue // an empty document (a template that rendered nothing)
		}
		obj := newObject(head.APIVersion, head.Kind)
		if obj == nil {
			return fmt.Errorf("%s: unexpected kind %s %s", source, head.APIVersion, head.Kind)
		}
		// Decoded as the API server decodes: field names are case-sensitive (encoding/json
		// alone would accept readOnlyRootFileSystem), unknown and duplicate fields are errors.
		jsonDoc, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			return fmt.Errorf("%s: %s %s: %w", source, head.Kind, head.Metadata.Name, err)
		}
		strictErrs, err := sigsjson.UnmarshalStrict(jsonDoc, obj, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
		if err == nil && len(strictErrs) > 0 {
			err = errors.Join(strictErrs...)
		}
		if err != nil {
			return fmt.Errorf("%s: %s %s: %w", source, head.Kind, head.Metadata.Name, err)
		}
		if head.Metadata.Name == "" {
			return fmt.Errorf("%s: %s without metadata.name", source, head.Kind)
		}
		c.objects = append(c.objects, rendered{source: source, kind: head.Kind, name: head.Metadata.Name, obj: obj})
	}
	if len(c.objects) == 0 {
		return errors.New("no objects rendered")
	}
	return nil
}

func (c *checker) workloads() []workload {
	var ws []workload
	for _, o := range c.objects {
		switch v := o.obj.(type) {
		case *appsv1.StatefulSet:
			ws = append(ws, workload{v.Name, v.Spec.Replicas, v.Spec.Selector, v.Spec.Template})
		case *appsv1.Deployment:
			ws = append(ws, workload{v.Name, v.Spec.Replicas, v.Spec.Selector, v.Spec.Template})
		}
	}
	return ws
}

func (c *checker) find(kind, name string) *rendered {
	for i := range c.objects {
		if c.objects[i].kind == kind && c.objects[i].name == name {
			return &c.objects[i]
		}
	}
	return nil
}

func selectsPodsOf(selector labels.Selector, ws []workload) bool {
	for _, w := range ws {
		if selector.Matches(labels.Set(w.template.Labels)) {
			return true
		}
	}
	return false
}

// mgitdConfig reads the key = value lines of the rendered mgitd.conf, a flat TOML file. The
// chart writes every string with toJson, so a quoted value decodes as a JSON string; arrays
// (kafka_property) and numbers are kept as written.
func (c *checker) mgitdConfig() map[string]string {
	for _, o := range c.objects {
		cm, ok := o.obj.(*corev1.ConfigMap)
		if !ok {
			continue
		}
		text, ok := cm.Data["mgitd.conf"]
		if !ok {
			continue
		}
		conf := map[string]string{}
		for _, line := range strings.Split(text, "\n") {
			key, value, found := strings.Cut(line, "=")
			if !found || strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			value = strings.TrimSpace(value)
			var decoded string
			if strings.HasPrefix(value, `"`) && json.Unmarshal([]byte(value), &decoded) == nil {
				value = decoded
			}
			conf[strings.TrimSpace(key)] = value
		}
		return conf
	}
	return nil
}

// checkConsistency: the pieces that must agree with mgitd's own settings.
func (c *checker) checkConsistency() {
	conf := c.mgitdConfig()
	if conf == nil {
		c.problems = append(c.problems, "no ConfigMap with mgitd.conf rendered")
		return
	}
	for _, key := range []string{"brokers", "group_id", "jobs_topic"} {
		if conf[key] == "" {
			c.problems = append(c.problems, "mgitd.conf has no "+key)
		}
	}
	// KEDA must watch the lag of mgitd's own group on mgitd's intake topic.
	for _, o := range c.objects {
		so, ok := o.obj.(*kedav1alpha1.ScaledObject)
		if !ok {
			continue
		}
		for _, t := range so.Spec.Triggers {
			if t.Type != "kafka" {
				c.failf(o, "trigger type %q, want kafka", t.Type)
				continue
			}
			if t.Metadata["consumerGroup"] != conf["group_id"] || t.Metadata["topic"] != conf["jobs_topic"] {
				c.failf(o, "trigger watches group %q topic %q, mgitd consumes group %q topic %q",
					t.Metadata["consumerGroup"], t.Metadata["topic"], conf["group_id"], conf["jobs_topic"])
			}
			if t.Metadata["bootstrapServers"] == "" || t.Metadata["lagThreshold"] == "" {
				c.failf(o, "trigger lacks bootstrapServers or lagThreshold")
			}
		}
	}
	// The NetworkPolicy must let mgitd reach the broker ports it is configured with.
	for _, o := range c.objects {
		np, ok := o.obj.(*networkingv1.NetworkPolicy)
		if !ok {
			continue
		}
		allowed := map[int32]bool{}
		for _, rule := range np.Spec.Egress {
			for _, p := range rule.Ports {
				if p.Port != nil && p.Port.Type == intstr.Int {
					allowed[p.Port.IntVal] = true
				}
			}
		}
		for _, broker := range strings.Split(conf["brokers"], ",") {
			i := strings.LastIndex(broker, ":")
			var port int32
			if _, err := fmt.Sscanf(broker[i+1:], "%d", &port); i < 0 || err != nil {
				c.failf(o, "cannot read the port of broker %q", broker)
				continue
			}
			if !allowed[port] {
				c.failf(o, "egress does not allow broker port %d (%s)", port, broker)
			}
		}
	}
	// MGITD_HTTP_LISTEN's port is the container port the probes and Services use.
	for _, w := range c.workloads() {
		for _, ctr := range w.template.Spec.Containers {
			listen := envValue(ctr, "MGITD_HTTP_LISTEN")
			port := containerPort(ctr, "http")
			if listen == "" || !strings.HasSuffix(listen, fmt.Sprintf(":%d", port)) {
				c.problems = append(c.problems, fmt.Sprintf("%s: MGITD_HTTP_LISTEN %q is not on the http container port %d", w.name, listen, port))
			}
			c.checkWebhookListener(w, ctr)
		}
	}
}

func envValue(ctr corev1.Container, name string) string {
	for _, env := range ctr.Env {
		if env.Name == name {
			return env.Value
		}
	}
	return ""
}

func containerPort(ctr corev1.Container, name string) int32 {
	for _, p := range ctr.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return -1
}

// checkWebhookListener: MGITD_WEBHOOK_LISTEN is on the `webhooks` container port, the routes
// file is on a read-only mount, and every NetworkPolicy of the pods lets some peers, and not
// every source by omission, reach that port.
func (c *checker) checkWebhookListener(w workload, ctr corev1.Container) {
	listen := envValue(ctr, "MGITD_WEBHOOK_LISTEN")
	port := containerPort(ctr, "webhooks")
	if listen == "" && port < 0 {
		return
	}
	if listen == "" || !strings.HasSuffix(listen, fmt.Sprintf(":%d", port)) {
		c.problems = append(c.problems, fmt.Sprintf("%s: MGITD_WEBHOOK_LISTEN %q is not on the webhooks container port %d", w.name, listen, port))
	}
	routes := envValue(ctr, "MGITD_WEBHOOK_ROUTES_FILE")
	mounted := false
	for _, m := range ctr.VolumeMounts {
		mounted = mounted || (m.ReadOnly && strings.HasPrefix(routes, strings.TrimSuffix(m.MountPath, "/")+"/"))
	}
	if !mounted {
		c.problems = append(c.problems, fmt.Sprintf("%s: MGITD_WEBHOOK_ROUTES_FILE %q is not on a read-only mount", w.name, routes))
	}
	for _, o := range c.objects {
		np, ok := o.obj.(*networkingv1.NetworkPolicy)
		if !ok {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		if err != nil || !sel.Matches(labels.Set(w.template.Labels)) {
			continue
		}
		allowed := false
		for _, rule := range np.Spec.Ingress {
			for _, p := range rule.Ports {
				if p.Port != nil && ((p.Port.Type == intstr.String && p.Port.StrVal == "webhooks") ||
					(p.Port.Type == intstr.Int && p.Port.IntVal == port)) {
					allowed = true
					if len(rule.From) == 0 {
						c.failf(o, "the webhook port's ingress rule has no peers: every source may reach it")
					}
				}
			}
		}
		if !allowed {
			c.failf(o, "no ingress rule allows the webhook port %d", port)
		}
	}
}

func (c *checker) checkAll() {
	c.checkConsistency()
	ws := c.workloads()
	if len(ws) == 0 {
		c.problems = append(c.problems, "no workload rendered")
	}
	for _, o := range c.objects {
		switch v := o.obj.(type) {
		case *appsv1.StatefulSet:
			c.checkWorkload(o, workload{v.Name, v.Spec.Replicas, v.Spec.Selector, v.Spec.Template})
			if c.find("Service", v.Spec.ServiceName) == nil {
				c.failf(o, "serviceName %q is not rendered", v.Spec.ServiceName)
			}
		case *appsv1.Deployment:
			c.checkWorkload(o, workload{v.Name, v.Spec.Replicas, v.Spec.Selector, v.Spec.Template})
		case *corev1.Service:
			c.checkService(o, v, ws)
		case *policyv1.PodDisruptionBudget:
			c.checkPDB(o, v, ws)
		case *networkingv1.NetworkPolicy:
			sel, err := metav1.LabelSelectorAsSelector(&v.Spec.PodSelector)
			if err != nil || !selectsPodsOf(sel, ws) {
				c.failf(o, "podSelector matches no rendered pod")
			}
		case *networkingv1.Ingress:
			c.checkIngress(o, v)
		case *autoscalingv2.HorizontalPodAutoscaler:
			c.checkScaleTarget(o, v.Spec.ScaleTargetRef.Kind, v.Spec.ScaleTargetRef.Name)
			if v.Spec.MinReplicas == nil || *v.Spec.MinReplicas < 1 || v.Spec.MaxReplicas < *v.Spec.MinReplicas {
				c.failf(o, "replica bounds are not 1 <= min <= max")
			}
		case *kedav1alpha1.ScaledObject:
			c.checkScaleTarget(o, v.Spec.ScaleTargetRef.Kind, v.Spec.ScaleTargetRef.Name)
			if len(v.Spec.Triggers) == 0 {
				c.failf(o, "no triggers")
			}
			for _, t := range v.Spec.Triggers {
				if t.AuthenticationRef != nil && c.find("TriggerAuthentication", t.AuthenticationRef.Name) == nil {
					c.failf(o, "authenticationRef %q is not rendered", t.AuthenticationRef.Name)
				}
			}
		case *monitoringv1.ServiceMonitor:
			c.checkServiceMonitor(o, v)
		case *monitoringv1.PrometheusRule:
			if len(v.Spec.Groups) == 0 {
				c.failf(o, "no rule groups")
			}
			for _, g := range v.Spec.Groups {
				if len(g.Rules) == 0 {
					c.failf(o, "rule group %q has no rules", g.Name)
				}
			}
		}
	}
}

func (c *checker) checkScaleTarget(o rendered, kind, name string) {
	if kind != "StatefulSet" || c.find("StatefulSet", name) == nil {
		c.failf(o, "scale target %s %q is not a rendered StatefulSet", kind, name)
	}
	// Two autoscalers on one workload fight each other.
	n := 0
	for _, other := range c.objects {
		if other.kind == "HorizontalPodAutoscaler" || other.kind == "ScaledObject" {
			n++
		}
	}
	if n > 1 {
		c.failf(o, "more than one autoscaler rendered")
	}
}

func (c *checker) checkService(o rendered, svc *corev1.Service, ws []workload) {
	if len(svc.Spec.Selector) == 0 {
		c.failf(o, "no selector")
		return
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	// kube-linter dangling-service
	var matched []workload
	for _, w := range ws {
		if sel.Matches(labels.Set(w.template.Labels)) {
			matched = append(matched, w)
		}
	}
	if len(matched) == 0 {
		c.failf(o, "selector matches no rendered pod (dangling service)")
		return
	}
	// kube-linter invalid-target-ports: a named targetPort must be a container port.
	for _, p := range svc.Spec.Ports {
		if p.TargetPort.Type != intstr.String {
			continue
		}
		for _, w := range matched {
			if !hasContainerPort(w.template.Spec, p.TargetPort.StrVal) {
				c.failf(o, "targetPort %q is not a port of %s's containers", p.TargetPort.StrVal, w.name)
			}
		}
	}
}

// checkIngress: the Ingress exposes the webhook paths only, on the webhook listener's port of
// a rendered Service (metrics and health stay inside the cluster).
func (c *checker) checkIngress(o rendered, ing *networkingv1.Ingress) {
	if ing.Spec.DefaultBackend != nil {
		c.failf(o, "a default backend sends every path to the pods")
	}
	paths := 0
	for _, rule := range ing.Spec.Rules {
		if rule.HTTP == nil {
			continue
		}
		for _, p := range rule.HTTP.Paths {
			paths++
			if !strings.HasPrefix(p.Path, "/webhooks/") {
				c.failf(o, "path %q is outside /webhooks/", p.Path)
			}
			svc := p.Backend.Service
			if svc == nil {
				c.failf(o, "path %q has no Service backend", p.Path)
				continue
			}
			if svc.Port.Name != "webhooks" {
				c.failf(o, "path %q goes to port %q/%d, not the webhooks port", p.Path, svc.Port.Name, svc.Port.Number)
				continue
			}
			target := c.find("Service", svc.Name)
			if target == nil {
				c.failf(o, "backend Service %q is not rendered", svc.Name)
				continue
			}
			found := false
			for _, sp := range target.obj.(*corev1.Service).Spec.Ports {
				found = found || sp.Name == svc.Port.Name
			}
			if !found {
				c.failf(o, "backend Service %q has no port %q", svc.Name, svc.Port.Name)
			}
		}
	}
	if paths == 0 {
		c.failf(o, "no paths")
	}
}

func hasContainerPort(spec corev1.PodSpec, name string) bool {
	for _, ctr := range spec.Containers {
		for _, p := range ctr.Ports {
			if p.Name == name {
				return true
			}
		}
	}
	return false
}

func (c *checker) checkPDB(o rendered, pdb *policyv1.PodDisruptionBudget, ws []workload) {
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil || !selectsPodsOf(sel, ws) {
		c.failf(o, "selector matches no rendered pod")
	}
	// kube-linter pdb-max-unavailable / pdb-min-available: a PDB that allows no eviction
	// blocks every node drain.
	if mu := pdb.Spec.MaxUnavailable; mu != nil && ((mu.Type == intstr.Int && mu.IntVal == 0) || mu.StrVal == "0%") {
		c.failf(o, "maxUnavailable 0 blocks every voluntary eviction")
	}
	if pdb.Spec.MaxUnavailable == nil && pdb.Spec.MinAvailable == nil {
		c.failf(o, "neither maxUnavailable nor minAvailable")
	}
}

func (c *checker) checkServiceMonitor(o rendered, sm *monitoringv1.ServiceMonitor) {
	sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
	if err != nil {
		c.failf(o, "selector: %v", err)
		return
	}
	var services []*corev1.Service
	for _, other := range c.objects {
		if svc, ok := other.obj.(*corev1.Service); ok && sel.Matches(labels.Set(svc.Labels)) {
			services = append(services, svc)
		}
	}
	if len(services) != 1 {
		c.failf(o, "selector matches %d services, want exactly 1 (every series would be scraped twice)", len(services))
		return
	}
	for _, ep := range sm.Spec.Endpoints {
		found := false
		for _, p := range services[0].Spec.Ports {
			found = found || p.Name == ep.Port
		}
		if !found {
			c.failf(o, "endpoint port %q is not a port of Service %s", ep.Port, services[0].Name)
		}
	}
}

// checkWorkload: kube-linter's default checks for pods, the extra ones the project enables,
// and Pod Security Standard "restricted".
func (c *checker) checkWorkload(o rendered, w workload) {
	spec := w.template.Spec
	// mismatching-selector
	sel, err := metav1.LabelSelectorAsSelector(w.selector)
	if err != nil || sel.Empty() || !sel.Matches(labels.Set(w.template.Labels)) {
		c.failf(o, "selector does not match the pod template's labels")
	}
	// default-service-account, non-existent-service-account, deprecated-service-account-field
	switch {
	case spec.ServiceAccountName == "" || spec.ServiceAccountName == "default":
		c.failf(o, "uses the default service account")
	case c.find("ServiceAccount", spec.ServiceAccountName) == nil:
		c.failf(o, "service account %q is not rendered", spec.ServiceAccountName)
	}
	if spec.DeprecatedServiceAccount != "" {
		c.failf(o, "sets the deprecated serviceAccount field")
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		c.failf(o, "mounts a service account token it does not need")
	}
	// host-network, host-pid, host-ipc
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		c.failf(o, "shares a host namespace")
	}
	// sensitive-host-mounts, docker-sock, writable-host-mount: no hostPath at all.
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			c.failf(o, "hostPath volume %q", v.Name)
		}
	}
	// unsafe-sysctls
	if psc := spec.SecurityContext; psc != nil && len(psc.Sysctls) > 0 {
		c.failf(o, "sets sysctls")
	}
	// PSS restricted, pod level
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		c.failf(o, "pod securityContext.runAsNonRoot is not true")
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		c.failf(o, "pod seccompProfile is not RuntimeDefault")
	}
	// no-anti-affinity: several replicas should not share a node.
	if w.replicas == nil || *w.replicas > 1 {
		if spec.Affinity == nil || spec.Affinity.PodAntiAffinity == nil {
			c.failf(o, "several replicas without podAntiAffinity")
		}
	}
	// non-isolated-pod: some NetworkPolicy selects the pods, for ingress and egress.
	ingress, egress := false, false
	for _, other := range c.objects {
		np, ok := other.obj.(*networkingv1.NetworkPolicy)
		if !ok {
			continue
		}
		npSel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		if err != nil || !npSel.Matches(labels.Set(w.template.Labels)) {
			continue
		}
		for _, t := range np.Spec.PolicyTypes {
			ingress = ingress || t == networkingv1.PolicyTypeIngress
			egress = egress || t == networkingv1.PolicyTypeEgress
		}
	}
	if !ingress || !egress {
		c.failf(o, "pods are not isolated by a NetworkPolicy for ingress and egress (non-isolated-pod)")
	}
	if len(spec.InitContainers) > 0 {
		c.failf(o, "init containers are not expected")
	}
	for _, ctr := range spec.Containers {
		c.checkContainer(o, ctr)
	}
}

func (c *checker) checkContainer(o rendered, ctr corev1.Container) {
	where := "container " + ctr.Name + ": "
	// latest-tag
	image := ctr.Image
	if !strings.Contains(image, "@sha256:") {
		slash := strings.LastIndex(image, "/")
		colon := strings.LastIndex(image, ":")
		if colon < slash || strings.HasSuffix(image, ":latest") {
			c.failf(o, "%simage %q has no pinned tag or digest", where, image)
		}
	}
	// no-liveness-probe, no-readiness-probe (and the probes use the declared port)
	for name, p := range map[string]*corev1.Probe{"liveness": ctr.LivenessProbe, "readiness": ctr.ReadinessProbe, "startup": ctr.StartupProbe} {
		if p == nil {
			c.failf(o, "%sno %s probe", where, name)
			continue
		}
		if p.HTTPGet == nil {
			c.failf(o, "%s%s probe is not an HTTP GET on the health endpoints", where, name)
			continue
		}
		if p.HTTPGet.Port.Type == intstr.String && !hasContainerPort(corev1.PodSpec{Containers: []corev1.Container{ctr}}, p.HTTPGet.Port.StrVal) {
			c.failf(o, "%s%s probe port %q is not declared", where, name, p.HTTPGet.Port.StrVal)
		}
	}
	if ctr.LivenessProbe != nil && ctr.LivenessProbe.HTTPGet != nil && ctr.LivenessProbe.HTTPGet.Path != "/health/live" {
		c.failf(o, "%sliveness probe path %q, want /health/live", where, ctr.LivenessProbe.HTTPGet.Path)
	}
	if ctr.ReadinessProbe != nil && ctr.ReadinessProbe.HTTPGet != nil && ctr.ReadinessProbe.HTTPGet.Path != "/health/ready" {
		c.failf(o, "%sreadiness probe path %q, want /health/ready", where, ctr.ReadinessProbe.HTTPGet.Path)
	}
	// unset-cpu-requirements, unset-memory-requirements
	if ctr.Resources.Requests.Cpu().IsZero() {
		c.failf(o, "%sno CPU request", where)
	}
	if ctr.Resources.Requests.Memory().IsZero() || ctr.Resources.Limits.Memory().IsZero() {
		c.failf(o, "%smemory request or limit unset", where)
	}
	// env-var-secret: a variable named like a secret must come from a Secret.
	for _, env := range ctr.Env {
		upper := strings.ToUpper(env.Name)
		if (strings.Contains(upper, "SECRET") || strings.Contains(upper, "PASSWORD") || strings.Contains(upper, "TOKEN")) &&
			(env.ValueFrom == nil || env.ValueFrom.SecretKeyRef == nil) {
			c.failf(o, "%senv %s looks secret but does not come from a Secret", where, env.Name)
		}
	}
	// ssh-port
	for _, p := range ctr.Ports {
		if p.ContainerPort == 22 {
			c.failf(o, "%sexposes port 22", where)
		}
	}
	// privileged-container, privilege-escalation-container, run-as-non-root,
	// no-read-only-root-fs, drop-net-raw-capability; PSS restricted, container level.
	sc := ctr.SecurityContext
	if sc == nil {
		c.failf(o, "%sno securityContext", where)
		return
	}
	if sc.Privileged != nil && *sc.Privileged {
		c.failf(o, "%sprivileged", where)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		c.failf(o, "%sallowPrivilegeEscalation is not false", where)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		c.failf(o, "%sroot filesystem is writable", where)
	}
	if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
		c.failf(o, "%snot forced to a non-root user", where)
	}
	dropsAll := false
	if sc.Capabilities != nil {
		for _, d := range sc.Capabilities.Drop {
			dropsAll = dropsAll || d == "ALL"
		}
		if len(sc.Capabilities.Add) > 0 {
			c.failf(o, "%sadds capabilities", where)
		}
	}
	if !dropsAll {
		c.failf(o, "%sdoes not drop ALL capabilities", where)
	}
	if sc.SeccompProfile != nil && sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		c.failf(o, "%sseccompProfile is not RuntimeDefault", where)
	}
	// Everything writable must be a volume: the workspace (and nothing from the host).
	writable := 0
	for _, m := range ctr.VolumeMounts {
		if !m.ReadOnly {
			writable++
			if m.MountPath != "/var/lib/mgitd" {
				c.failf(o, "%swritable mount %s: only the workspace should be writable", where, m.MountPath)
			}
		}
	}
	if writable != 1 {
		c.failf(o, "%s%d writable mounts, want the workspace only", where, writable)
	}
}
