package io.zerohop.policy;

import static io.zerohop.policy.ConformanceTest.ap;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The policies selecting a destination are matched once per destination workload and policy set
 * and then reused (zerohop's own optimisation, see the module README). These tests show that
 * reuse never changes a decision: many destinations (more than the reuse table's slots, so they
 * collide), equal but distinct {@link WorkloadRef}s, and one policy set under two root namespaces.
 */
class SelectedPoliciesTest {

    private static final int WORKLOADS = 3_000;

    private static String policies() {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < WORKLOADS; i++) {
            sb.append(ap("prod", "allow-" + i, "{selector: {matchLabels: {app: svc-" + i + "}}, rules: [{from: [{source: "
                    + "{principals: [cluster.local/ns/prod/sa/client-" + i + "]}}]}]}"));
        }
        sb.append(ap("prod", "deny-intruder", "{action: DENY, rules: [{from: [{source: {principals: [cluster.local/ns/prod/sa/intruder]}}]}]}"));
        sb.append(ap("mesh-root", "deny-svc-7", "{selector: {matchLabels: {app: svc-7}}, action: DENY, rules: [{}]}"));
        return sb.toString();
    }

    private static AccessRequest request(WorkloadRef dest, String client) {
        return AccessRequest.builder().sourcePrincipal("spiffe://cluster.local/ns/prod/sa/" + client)
                .sourceAddress("10.0.0.1").destinationAddress("10.0.0.2").destinationPort(8080).destination(dest).build();
    }

    private static WorkloadRef workload(int i) {
        return new WorkloadRef("prod", "svc-" + i, "svc-" + i, Map.of("app", "svc-" + i));
    }

    @Test
    void manyDestinationsInRandomOrderDecideAsTheirOwnPolicies() throws Exception {
        PolicyEngine e = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", policies())).build();
        List<Integer> order = new ArrayList<>();
        for (int round = 0; round < 3; round++) {
            for (int i = 0; i < WORKLOADS; i++) {
                order.add(i);
            }
        }
        Collections.shuffle(order, new Random(14));
        WorkloadRef[] refs = new WorkloadRef[WORKLOADS];
        for (int i : order) {
            // Every other visit uses a fresh but equal WorkloadRef: equal content, same decisions.
            WorkloadRef dest = refs[i] == null || i % 2 == 0 ? workload(i) : refs[i];
            refs[i] = dest;
            Decision own = e.evaluate(request(dest, "client-" + i));
            assertThat(own.allowed()).as("svc-%d from its own client", i).isTrue();
            assertThat(own.explain()).contains("prod/allow-" + i);
            Decision other = e.evaluate(request(dest, "client-" + ((i + 1) % WORKLOADS)));
            assertThat(other.allowed()).as("svc-%d from another client", i).isFalse();
            assertThat(e.evaluate(request(dest, "intruder")).explain()).contains("prod/deny-intruder");
        }
    }

    @Test
    void oneSetUnderTwoRootNamespacesDecidesPerRoot() throws Exception {
        PolicySet set = PolicyLoader.fromString("p.yaml", policies());
        PolicyEngine istioRoot = PolicyEngine.builder().policies(set).build();
        PolicyEngine meshRoot = PolicyEngine.builder().policies(set).rootNamespace("mesh-root").build();
        WorkloadRef svc7 = workload(7);
        AccessRequest r = request(svc7, "client-7");
        for (int i = 0; i < 3; i++) {
            assertThat(istioRoot.evaluate(r).allowed()).isTrue();
            Decision d = meshRoot.evaluate(r);
            assertThat(d.allowed()).isFalse();
            assertThat(d.explain()).contains("mesh-root/deny-svc-7");
        }
    }

    @Test
    void aReplacedSetIsNeverDecidedByTheOldSelection() throws Exception {
        WorkloadRef svc1 = workload(1);
        AccessRequest r = request(svc1, "client-1");
        PolicyEngine e = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", policies())).build();
        assertThat(e.evaluate(r).allowed()).isTrue();
        e.replace(PolicyLoader.fromString("q.yaml", ap("prod", "only-2", "{selector: {matchLabels: {app: svc-1}}, rules: [{from: [{source: "
                + "{principals: [cluster.local/ns/prod/sa/client-2]}}]}]}")));
        assertThat(e.evaluate(r).allowed()).isFalse();
    }

    @Test
    void workloadsSharingOneLabelsMapAreToldApartByNamespaceAndServiceAccount() throws Exception {
        // One map instance for several workloads (a caller may share one, as label-less refs share
        // Map.of()): the lookup's identity pass must still compare namespace and service account.
        Map<String, String> shared = Map.of("app", "svc-3");
        PolicyEngine e = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", policies()
                + ap("staging", "deny-all", "{action: DENY, rules: [{}]}"))).build();
        WorkloadRef prod = new WorkloadRef("prod", "svc-3", "svc-3", shared);
        WorkloadRef staging = new WorkloadRef("staging", "svc-3", "svc-3", shared);
        WorkloadRef otherAccount = new WorkloadRef("prod", "svc-3", "batch", shared);
        for (int i = 0; i < 3; i++) {
            assertThat(e.evaluate(request(prod, "client-3")).allowed()).isTrue();
            Decision d = e.evaluate(request(staging, "client-3"));
            assertThat(d.allowed()).isFalse();
            assertThat(d.explain()).contains("staging/deny-all");
            assertThat(e.evaluate(request(otherAccount, "client-3")).allowed()).isTrue();
        }
    }
}
