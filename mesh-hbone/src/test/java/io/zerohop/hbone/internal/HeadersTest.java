package io.zerohop.hbone.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.util.AsciiString;
import java.util.Map;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * {@link Headers#plain}: the CONNECT's regular headers, and with a connection's {@link Headers.Memo}
 * one {@code String} per repeated name and value instead of a copy per tunnel (issue 14). The header
 * set is ztunnel's (src/proxy/outbound.rs: baggage, a fresh traceparent, forwarded).
 */
class HeadersTest {
    private static final String BAGGAGE = "k8s.cluster.name=Kubernetes,k8s.namespace.name=prod,k8s.deployment.name=client,"
            + "service.name=client,service.version=v1";

    private static Http2Headers connect(String traceparent) {
        // As the HPACK decoder hands them over: fresh AsciiStrings, never the same instance twice.
        return new DefaultHttp2Headers().method("CONNECT").authority("10.0.0.1:8080")
                .add(new AsciiString("baggage"), new AsciiString(BAGGAGE))
                .add(new AsciiString("traceparent"), new AsciiString(traceparent))
                .add(new AsciiString("forwarded"), new AsciiString("for=\"10.0.0.9:41000\""));
    }

    @Test
    @DisplayName("the tunnels of one connection share the baggage string; a fresh traceparent stays each tunnel's own")
    void oneConnectionSharesRepeatedValues() {
        Headers.Memo memo = new Headers.Memo();
        Map<String, String> a = Headers.plain(connect("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"), memo);
        Map<String, String> b = Headers.plain(connect("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"), memo);
        assertThat(a).containsOnlyKeys("baggage", "traceparent", "forwarded");
        assertThat(a.get("baggage")).isEqualTo(BAGGAGE).isSameAs(b.get("baggage"));
        assertThat(a.get("forwarded")).isSameAs(b.get("forwarded"));
        assertThat(b.get("traceparent")).isEqualTo("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
        assertThat(a.keySet().stream().filter(k -> k.equals("baggage")).findFirst().orElseThrow())
                .isSameAs(b.keySet().stream().filter(k -> k.equals("baggage")).findFirst().orElseThrow());
        // Without a memo every tunnel has its own copy (what the inbound proxy kept per tunnel before).
        assertThat(Headers.plain(connect("00-1"), null).get("baggage")).isNotSameAs(a.get("baggage"));
    }

    @Test
    @DisplayName("a changed value replaces the remembered one; repeated names are still joined with \", \"; no pseudo-header leaks")
    void changedAndRepeatedValues() {
        Headers.Memo memo = new Headers.Memo();
        Headers.plain(connect("00-1"), memo);
        Http2Headers other = new DefaultHttp2Headers().method("CONNECT").authority("10.0.0.1:8080")
                .add("baggage", "a=1").add("baggage", "b=2");
        assertThat(Headers.plain(other, memo)).containsExactlyEntriesOf(Map.of("baggage", "a=1, b=2"));
        assertThat(Headers.plain(new DefaultHttp2Headers().method("CONNECT").authority("10.0.0.1:8080"), memo)).isEmpty();
    }

    private static Http2Headers many() {
        Http2Headers many = new DefaultHttp2Headers().method("CONNECT").authority("10.0.0.1:8080");
        for (int i = 0; i < 3 * Headers.Memo.MAX; i++) {
            many.add(new AsciiString("x-h" + i), new AsciiString("v" + i));
        }
        return many;
    }

    @Test
    @DisplayName("a peer sending many distinct names gets copies beyond the memo's bound, all of them correct")
    void theMemoIsBounded() {
        Headers.Memo memo = new Headers.Memo();
        Map<String, String> a = Headers.plain(many(), memo);
        Map<String, String> b = Headers.plain(many(), memo);
        assertThat(a).hasSize(3 * Headers.Memo.MAX).isEqualTo(b);
        assertThat(a.get("x-h0")).isSameAs(b.get("x-h0"));
        assertThat(a.get("x-h" + (3 * Headers.Memo.MAX - 1))).isNotSameAs(b.get("x-h" + (3 * Headers.Memo.MAX - 1)));
    }

    /** Bytes this thread allocated so far (com.sun.management.ThreadMXBean; by reflection, as HeaderListLimitTest). */
    private static long allocatedHere() throws Exception {
        // The tests compile in module io.zerohop.hbone, which reads neither java.management nor jdk.management.
        Object mx = Class.forName("java.lang.management.ManagementFactory").getMethod("getThreadMXBean").invoke(null);
        return (long) Class.forName("com.sun.management.ThreadMXBean").getMethod("getThreadAllocatedBytes", long.class)
                .invoke(mx, Thread.currentThread().getId());
    }

    @Test
    @DisplayName("a name repeated 1,900 times (a 64 KiB header list of 'a' fields) is joined without copying the value at each repeat")
    void repeatsAreJoinedInLinearSpace() throws Exception {
        // RFC 9113 section 8.2.3 and RFC 9110 section 5.3: repeated fields combine with ", " in order. 1,900 empty
        // values named "a" fit the HBONE limit (32 + 1 bytes each); the old join allocated ~15 MB for them (helper 281).
        Http2Headers h = new DefaultHttp2Headers().method("CONNECT").authority("10.0.0.1:8080");
        for (int i = 0; i < 1_900; i++) {
            h.add(new AsciiString("a"), new AsciiString(""));
        }
        h.add(new AsciiString("b"), new AsciiString("1"));
        Headers.plain(h, new Headers.Memo()); // class loading and the first-use allocations out of the count
        long before = allocatedHere();
        Map<String, String> m = Headers.plain(h, new Headers.Memo());
        long allocated = allocatedHere() - before;
        assertThat(m).containsOnlyKeys("a", "b");
        assertThat(m.get("a")).hasSize(2 * 1_899).isEqualTo(", ".repeat(1_899));
        assertThat(m.get("b")).isEqualTo("1");
        assertThat(allocated).as("bytes allocated to read the list").isLessThan(1_000_000);
    }

    @Test
    @DisplayName("many distinct names, some repeated, read back in order with their repeats joined in order")
    void manyNamesKeepTheirOrderAndRepeats() {
        Http2Headers h = new DefaultHttp2Headers().method("CONNECT").authority("10.0.0.1:8080");
        java.util.LinkedHashMap<String, String> expected = new java.util.LinkedHashMap<>();
        for (int round = 0; round < 3; round++) {
            for (int i = 0; i < 4 * Headers.LINEAR_LOOKUP; i++) {
                if (round > 0 && i % 3 != 0) {
                    continue;
                }
                String name = "x-" + i;
                String value = "v" + i + "." + round;
                h.add(new AsciiString(name), new AsciiString(value));
                expected.merge(name, value, (a, b) -> a + ", " + b);
            }
        }
        Map<String, String> m = Headers.plain(h, null);
        assertThat(m).containsExactlyEntriesOf(expected);
        assertThat(m.get("x-3")).isEqualTo("v3.0, v3.1, v3.2");
        assertThat(m.get("x-1")).isEqualTo("v1.0");
    }
}
