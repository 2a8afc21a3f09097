package io.zerohop.benchmarks;

import io.zerohop.policy.PolicyEngine;
import io.zerohop.policy.PolicyLoader;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * ms to load {@link PolicyBenchmark}'s synthetic policy text (1,000 or 10,000 AuthorizationPolicies, one
 * CiliumNetworkPolicy per ten, 0.38 / 3.8 MB) and build an engine from it: what a node proxy pays at
 * start, at every change of a watched file, and in Kubernetes mode at every policy change (mesh-kubernetes
 * loads the cluster's objects together, {@link PolicyLoader#fromStringQuietly}, as here). The time should
 * grow with the text, not with its square: a per-key scan from the top of the text made 10,000 policies
 * take 73 s (benchmarks/results/policyload-*.md), and a per-key scan to the end of the line made the same policies
 * written as one line of JSON take 12 s.
 *
 * <p>{@code form}: {@code documents} is {@link PolicyBenchmark}'s text, one YAML document per policy;
 * {@code list} and {@code json} are the same number of AuthorizationPolicies as one {@code v1 List} in the order
 * {@code kubectl get -o yaml} writes it (items before kind), in block YAML and as one line of JSON.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 5)
@Measurement(iterations = 3, time = 5)
@Fork(1)
public class PolicyLoadBenchmark {

    @Param({"1000", "10000"})
    public int policies;

    @Param({"documents", "list", "json"})
    public String form;

    private String yaml;

    @Setup
    public void setUp() {
        yaml = switch (form) {
            case "documents" -> PolicyBenchmark.syntheticPolicies(policies);
            case "list" -> list(policies, false);
            case "json" -> list(policies, true);
            default -> throw new IllegalArgumentException(form);
        };
    }

    /** {@code n} AuthorizationPolicies, each with a selector, a principal, a port and a method, as one {@code v1 List}. */
    static String list(int n, boolean json) {
        StringBuilder sb = new StringBuilder(n * 450).append(json ? "{\"apiVersion\":\"v1\",\"items\":[" : "apiVersion: v1\nitems:\n");
        for (int i = 0; i < n; i++) {
            String name = "allow-" + i;
            String app = "svc-" + i;
            String principal = "cluster.local/ns/bench/sa/client-" + i;
            sb.append(json
                    ? (i == 0 ? "" : ",") + "{\"apiVersion\":\"security.istio.io/v1\",\"kind\":\"AuthorizationPolicy\",\"metadata\":{\"name\":\""
                    + name + "\",\"namespace\":\"bench\"},\"spec\":{\"selector\":{\"matchLabels\":{\"app\":\"" + app
                    + "\"}},\"rules\":[{\"from\":[{\"source\":{\"principals\":[\"" + principal
                    + "\"]}}],\"to\":[{\"operation\":{\"ports\":[\"8080\"],\"methods\":[\"GET\"]}}]}]}}"
                    : "- apiVersion: security.istio.io/v1\n  kind: AuthorizationPolicy\n  metadata:\n    name: " + name
                    + "\n    namespace: bench\n  spec:\n    selector:\n      matchLabels:\n        app: " + app
                    + "\n    rules:\n    - from:\n      - source:\n          principals:\n          - " + principal
                    + "\n      to:\n      - operation:\n          ports:\n          - \"8080\"\n          methods:\n          - GET\n");
        }
        return sb.append(json ? "],\"kind\":\"List\",\"metadata\":{\"resourceVersion\":\"\"}}\n"
                : "kind: List\nmetadata:\n  resourceVersion: \"\"\n").toString();
    }

    @Benchmark
    public PolicyEngine loadAndBuild() throws Exception {
        return PolicyEngine.builder().policies(PolicyLoader.fromStringQuietly("synthetic", yaml)).build();
    }
}
