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
 * take 73 s (benchmarks/results/policyload-*.md).
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

    private String yaml;

    @Setup
    public void setUp() {
        yaml = PolicyBenchmark.syntheticPolicies(policies);
    }

    @Benchmark
    public PolicyEngine loadAndBuild() throws Exception {
        return PolicyEngine.builder().policies(PolicyLoader.fromStringQuietly("synthetic", yaml)).build();
    }
}
