package io.zerohop.hbone.internal;

import io.spiffe.spiffeid.SpiffeId;
import io.zerohop.testing.netty.RecordMethods;
import java.net.InetSocketAddress;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The pool key compares every component, as the record's generated methods would. */
class RecordMethodsTest {
    @Test
    void poolKeyComparesEveryComponent() throws Exception {
        RecordMethods.assertComponentWise(new PoolKey(SpiffeId.parse("spiffe://cluster.local/ns/a/sa/b"),
                        Set.of(SpiffeId.parse("spiffe://cluster.local/ns/c/sa/d")), new InetSocketAddress("127.0.0.2", 15008)),
                v -> v instanceof SpiffeId ? SpiffeId.parse("spiffe://cluster.local/ns/x/sa/y") : v instanceof Set ? Set.of() : null);
    }
}
