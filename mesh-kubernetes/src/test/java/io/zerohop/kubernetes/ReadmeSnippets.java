package io.zerohop.kubernetes;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.spiffe.bundle.x509bundle.X509Bundle;
import io.spiffe.spiffeid.TrustDomain;
import io.zerohop.core.Mesh;
import io.zerohop.identity.CertificateManager;
import io.zerohop.identity.istio.IstioCaClient;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/** The code of mesh-kubernetes/README.md, kept here so that it compiles with the module. */
final class ReadmeSnippets {
    private ReadmeSnippets() {}

    // README: Embedded
    static Mesh embedded() throws Exception {
        KubernetesClient client = new KubernetesClientBuilder().build();   // in-cluster service account
        KubernetesDiscovery k8s = KubernetesDiscovery.forPod(client,
                System.getenv("POD_NAMESPACE"), System.getenv("POD_NAME")).start();
        k8s.synced().get(60, TimeUnit.SECONDS);                             // not ready before this

        // Identity: the Istio CA, with the pod's projected token (audience istio-ca).
        String[] ca = System.getenv("ISTIO_CA_ADDRESS").split(":");         // istiod.istio-system.svc:15012
        Path roots = Path.of(System.getenv("ISTIO_CA_ROOT_CERT"));          // istio-ca-root-cert ConfigMap
        IstioCaClient istio = IstioCaClient.builder().address(ca[0], Integer.parseInt(ca[1]))
                .caCertificates(roots).tokenFile(Path.of(System.getenv("ISTIO_CA_TOKEN"))).build();
        TrustDomain td = TrustDomain.parse("cluster.local");
        CertificateManager certs = CertificateManager.builder().issuer(istio)
                .trustBundle(new X509Bundle(td, new java.util.HashSet<>(istio.meshRoots())))
                .build();
        // istiod's root rotation rewrites the ConfigMap: peers under the new root are trusted from the next handshake.
        istio.addMeshRootsListener(r -> certs.updateBundles(
                io.spiffe.bundle.x509bundle.X509BundleSet.of(java.util.List.of(new X509Bundle(td, new java.util.HashSet<>(r))))));

        Mesh mesh = k8s.applyTo(Mesh.builder())                             // registry + policy engine
                .identityProvider(certs)
                .identity(k8s.self().orElseThrow().identity())              // spiffe://cluster.local/ns/NS/sa/SA
                .inbound(new InetSocketAddress(15008))
                .build();
        mesh.start().get(10, TimeUnit.SECONDS);
        // Outbound to a pod outside this namespace: look it up first (one API call, then cached).
        k8s.lookup(java.net.InetAddress.getByName("10.0.3.7"));
        return mesh;
    }

    // README: Node proxy
    static Mesh nodeProxy(KubernetesClient client, io.zerohop.identity.IdentityProvider provider) throws Exception {
        KubernetesDiscovery k8s = KubernetesDiscovery.forNode(client, System.getenv("NODE_NAME")).start();
        k8s.synced().get(60, TimeUnit.SECONDS);
        return k8s.applyTo(Mesh.builder()).identityProvider(provider).inbound(new InetSocketAddress(15008)).build();
    }
}
