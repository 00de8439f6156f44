//go:build tools

// Package tools pins the Kubernetes commands the deployment test builds (see ../build-kube.sh):
// the control plane, the kubelet and kubectl, all from the k8s.io/kubernetes module.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
