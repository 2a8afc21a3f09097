package io.zerohop.kubernetes.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.StatusBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.net.ConnectException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.Test;

/**
 * {@link Informers.Failures}: one WARN line per retry round, not one per informer, and the cause on
 * one line. The exceptions are built as fabric8 delivers them to an informer's exception handler
 * (a refused connection from the JDK HTTP client: a CompletionException around a ConnectException
 * without a message; a refusal: a KubernetesClientException carrying the API server's Status);
 * RetryLogTest (examples/standalone-proxy) covers the same lines from a real closed port.
 */
class FailuresTest {
    private static final List<String> INFORMERS = List.of("Pod", "Service", "Namespace", "AuthorizationPolicy (security.istio.io/v1)",
            "AuthorizationPolicy (security.istio.io/v1beta1)", "PeerAuthentication (security.istio.io/v1)",
            "PeerAuthentication (security.istio.io/v1beta1)", "CiliumNetworkPolicy (cilium.io/v2)", "CiliumClusterwideNetworkPolicy (cilium.io/v2)");

    @Test
    void oneLinePerRoundOfTheNineInformers() {
        Informers.Failures f = new Informers.Failures("https://10.96.0.1:443/", 1000);
        Throwable refused = new CompletionException(new ConnectException());
        List<String> logged = new ArrayList<>();
        for (int round = 0; round < 3; round++) {
            for (String i : INFORMERS) {
                if (f.failed(i, refused)) {
                    logged.add(round + " " + i);
                }
            }
        }
        assertThat(logged).containsExactly("0 Pod", "1 Pod", "2 Pod");
    }

    @Test
    void anotherCauseHasItsOwnLine() {
        Informers.Failures f = new Informers.Failures("https://10.96.0.1:443/", 1000);
        assertThat(f.failed("Pod", new CompletionException(new ConnectException()))).isTrue();
        assertThat(f.failed("Service", new CompletionException(new ConnectException()))).isFalse();
        KubernetesClientException forbidden = new KubernetesClientException(new StatusBuilder().withCode(403)
                .withMessage("ciliumnetworkpolicies.cilium.io is forbidden: User \"system:serviceaccount:zerohop-system:zerohop-node\" cannot list resource").build());
        assertThat(f.failed("CiliumNetworkPolicy (cilium.io/v2)", forbidden)).isTrue();
    }

    @Test
    void theCauseOnOneLine() {
        assertThat(Informers.Failures.describe(new CompletionException(new ConnectException()))).isEqualTo("cannot connect (java.net.ConnectException)");
        assertThat(Informers.Failures.describe(new KubernetesClientException(new StatusBuilder().withCode(403)
                .withMessage("pods is forbidden: User \"u\" cannot list resource \"pods\"").build())))
                .isEqualTo("HTTP 403: pods is forbidden: User \"u\" cannot list resource \"pods\"");
        assertThat(Informers.Failures.describe(new KubernetesClientException("An error has occurred.",
                new javax.net.ssl.SSLHandshakeException("PKIX path building failed\nmore"))))
                .isEqualTo("SSLHandshakeException: PKIX path building failed");
    }
}
