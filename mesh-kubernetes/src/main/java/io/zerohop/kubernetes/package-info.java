/**
 * Kubernetes control-plane adapter: API-server informers feed zerohop's workload registry and
 * policies ({@link KubernetesDiscovery}).
 */
package io.zerohop.kubernetes;
