package io.zerohop.policy.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import io.zerohop.policy.PolicyRef;
import io.zerohop.testing.netty.RecordMethods;
import java.lang.reflect.Constructor;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The records mesh-policy hashes after start (a reload's {@code PolicyRef} sets, the JWT rules' cache key) have
 * {@code equals}, {@code hashCode} and {@code toString} written out, so the JDK's {@code ObjectMethods} bootstrap
 * never runs in a proxy (benchmarks/results/records-*.md), and they still mean what the generated ones mean.
 */
class RecordMethodsTest {
    @Test
    void policyRefComparesEveryComponentAndBootstrapsNothing() throws Exception {
        RecordMethods.assertComponentWise(new PolicyRef(PolicyRef.Kind.AUTHORIZATION_POLICY, "ns", "allow", "ALLOW"), null);
        RecordMethods.assertNoObjectMethods(PolicyRef.class);
        // Null namespace and action are allowed and read as empty: equal, with one hash code, to the empty ones.
        PolicyRef nulls = new PolicyRef(PolicyRef.Kind.CILIUM_CLUSTERWIDE_NETWORK_POLICY, null, "ccnp", null);
        PolicyRef empty = new PolicyRef(PolicyRef.Kind.CILIUM_CLUSTERWIDE_NETWORK_POLICY, "", "ccnp", "");
        assertEquals(empty, nulls);
        assertEquals(empty.hashCode(), nulls.hashCode());
    }

    @Test
    void jwtKeyComparesEveryComponentAndBootstrapsNothing() throws Exception {
        @SuppressWarnings("unchecked")
        Class<? extends Record> type = (Class<? extends Record>) Class.forName(CompiledPolicies.class.getName() + "$JwtKey");
        Constructor<?> ctor = type.getDeclaredConstructor(String.class, Map.class, String.class);
        ctor.setAccessible(true);
        Record sample = (Record) ctor.newInstance("ns", Map.of("app", "a"), "istio-system");
        RecordMethods.assertComponentWise(sample, v -> v instanceof Map ? Map.of("app", "b") : null);
        RecordMethods.assertNoObjectMethods(type);
        assertEquals("JwtKey[namespace=ns, labels={app=a}, rootNamespace=istio-system]", sample.toString());
        // Null components (a caller's null root namespace or labels) compare as the generated methods compare them.
        Object nulls = ctor.newInstance(null, null, null);
        Object nullsToo = ctor.newInstance(null, null, null);
        assertEquals(nulls, nullsToo);
        assertEquals(nulls.hashCode(), nullsToo.hashCode());
        assertNotEquals(nulls, sample);
        assertNotEquals(sample, nulls);
        assertNotEquals(ctor.newInstance("ns", Map.of("app", "a"), null), sample);
        assertNotEquals(sample, ctor.newInstance("ns", null, "istio-system"));
    }
}
