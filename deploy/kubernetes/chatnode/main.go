// Command chatnode serves the chat demo (package chatdemo) as one node of
// an actorio cluster on Kubernetes, whose membership is Kubernetes' own:
// protoactor-go's Kubernetes provider labels this pod and watches the pods
// labelled with the same cluster name (see ../actorio-cluster.yaml).
//
// It reads its pod's IP, name and namespace from POD_IP, POD_NAME and
// POD_NAMESPACE (the manifest sets them from the downward API) and
// listens on 3000 (HTTP) and 7001 (cluster).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/cluster/clusterproviders/k8s"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/actorio/actorio"
	"github.com/actorio/actorio/cluster"
	"github.com/actorio/actorio/cmd/demo/chatdemo"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(log); err != nil {
		log.Error("chatnode stopped", "err", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	podIP, pod, ns := os.Getenv("POD_IP"), os.Getenv("POD_NAME"), os.Getenv("POD_NAMESPACE")
	if podIP == "" || pod == "" || ns == "" {
		return errors.New("POD_IP, POD_NAME and POD_NAMESPACE must be set: the manifest sets them from the downward API")
	}
	// The in-cluster configuration: the pod's service account, whose Role
	// lets it read, watch and patch pods.
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return err
	}
	if err := clearMembership(cfg, ns, pod); err != nil {
		return err
	}
	members, err := k8s.NewWithConfig(cfg)
	if err != nil {
		return err
	}
	srv, err := actorio.NewServer(actorio.Options{
		Logger: log,
		Cluster: &actorio.ClusterOptions{
			// Plain links: the manifest's NetworkPolicy lets only the
			// pods reach the cluster port. For mutual TLS, mount a
			// certificate signed by the cluster's CA and set TLS and
			// Secret instead (README, "Security").
			Insecure: true,
			// The pods of a cluster carry the label
			// cluster.proto.actor/cluster=chat.
			Name: "chat",
			// The cluster port, on every interface of the pod; the other
			// nodes reach it at the pod's IP. Any node serves any session:
			// a request that the Service sent to another pod is handed to
			// this one through this port, so the Service needs no session
			// affinity.
			Address:           "0.0.0.0:7001",
			AdvertisedAddress: net.JoinHostPort(podIP, "7001"),
			Provider:          &cluster.Protoactor{Provider: members},
		},
	})
	if err != nil {
		return err
	}
	chatdemo.Register(srv)
	// Until SIGTERM, which Kubernetes sends before it stops the pod; then
	// Close leaves the cluster (the other nodes drop this one at once and
	// the provider removes the pod's cluster labels) and closes the
	// sockets. The page loads socket.io-client from its CDN.
	return chatdemo.Serve(srv, ":3000", "", log, "chatnode listening", "node", srv.ClusterNodes()[0])
}

// clearMembership removes the cluster labels (cluster.proto.actor/...)
// that a previous run of this container left on its pod when it died
// without closing. protoactor-go's provider keeps the labels it finds over
// the ones it sets, so the node would come back under the member id of
// the node that died, which the other nodes blocked when they dropped it:
// they would never send to it.
func clearMembership(cfg *rest.Config, ns, pod string) error {
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := client.CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("read pod %s/%s: %w", ns, pod, err)
	}
	stale := map[string]any{}
	for k := range p.Labels {
		if strings.HasPrefix(k, k8s.LabelPrefix) {
			stale[k] = nil // a merge patch removes a key set to null
		}
	}
	if len(stale) == 0 {
		return nil
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": stale}})
	if err != nil {
		return err
	}
	if _, err := client.CoreV1().Pods(ns).Patch(ctx, pod, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("remove the stale cluster labels of pod %s/%s: %w", ns, pod, err)
	}
	return nil
}
