package io.zerohop.identity;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.testing.netty.RecordMethods;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** MeshTls' context-cache key compares every component, as the record's generated methods would. */
class RecordMethodsTest {
    @Test
    void meshTlsKeyComparesEveryComponent() throws Exception {
        Class<?> key = Class.forName("io.zerohop.identity.MeshTls$Key");
        Class<?> role = Class.forName("io.zerohop.identity.MeshTls$Role");
        var ctor = key.getDeclaredConstructor(role, SpiffeId.class, Set.class);
        ctor.setAccessible(true);
        Record sample = (Record) ctor.newInstance(role.getEnumConstants()[0], SpiffeId.parse("spiffe://cluster.local/ns/a/sa/b"),
                Set.of(SpiffeId.parse("spiffe://cluster.local/ns/c/sa/d")));
        RecordMethods.assertComponentWise(sample, v -> v instanceof SpiffeId ? SpiffeId.parse("spiffe://cluster.local/ns/x/sa/y")
                : v instanceof Set ? Set.of() : null);
    }
}
