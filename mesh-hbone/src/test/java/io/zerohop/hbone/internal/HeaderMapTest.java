package io.zerohop.hbone.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.Http2Headers;
import io.zerohop.hbone.TunnelInfo;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * The compact CONNECT header map a tunnel keeps (issue 14): it reads back exactly the text that was
 * sent or received, behaves as any immutable map, and keeps a canonical {@code traceparent} as its
 * numbers. Format cases from the W3C Trace Context spec's examples (www.w3.org/TR/trace-context,
 * section 3.2.2.1 / 3.2.4), which ztunnel's {@code TraceParent} (src/proxy/outbound.rs) follows.
 */
class HeaderMapTest {
    static final String W3C_EXAMPLE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    @Test
    @DisplayName("a canonical traceparent is kept as numbers and reads back unchanged; anything else stays text")
    void traceparentRoundTrips() {
        assertThat(HeaderMap.Traceparent.parse(W3C_EXAMPLE)).isNotNull().hasToString(W3C_EXAMPLE);
        String allF = "ff-ffffffffffffffffffffffffffffffff-ffffffffffffffff-ff";
        assertThat(HeaderMap.Traceparent.parse(allF)).hasToString(allF);
        String zeros = "00-00000000000000000000000000000000-0000000000000000-00";
        assertThat(HeaderMap.Traceparent.parse(zeros)).hasToString(zeros);
        for (String odd : List.of(W3C_EXAMPLE.toUpperCase(), W3C_EXAMPLE + "-x", W3C_EXAMPLE.substring(1),
                "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
                "00-ffffffffffffffffffffffffffffffff-fffffffffffffffe-0f".replace('e', 'E'))) {
            assertThat(HeaderMap.Traceparent.parse(odd)).as(odd).isNull();
        }
        Set<String> fresh = new HashSet<>();
        for (int i = 0; i < 100; i++) {
            String t = HeaderMap.Traceparent.random().toString();
            assertThat(t).matches("00-[0-9a-f]{32}-[0-9a-f]{16}-00");
            assertThat(HeaderMap.Traceparent.parse(t)).hasToString(t);
            fresh.add(t);
        }
        assertThat(fresh).hasSize(100);
    }

    @Test
    @DisplayName("reads as an immutable map equal to the plain one, in insertion order; TunnelInfo keeps it as it is")
    void behavesAsAMap() {
        Object forwarded = new Object() {
            @Override
            public String toString() {
                return "for=\"10.0.0.1:80\"";
            }
        };
        Map<String, String> m = HeaderMap.of(new String[] {"baggage", "traceparent", "forwarded"},
                new Object[] {"k8s.namespace.name=ns", HeaderMap.Traceparent.parse(W3C_EXAMPLE), forwarded});
        Map<String, String> plain = new LinkedHashMap<>();
        plain.put("baggage", "k8s.namespace.name=ns");
        plain.put("traceparent", W3C_EXAMPLE);
        plain.put("forwarded", "for=\"10.0.0.1:80\"");
        assertThat(m).isEqualTo(plain).hasSameHashCodeAs(plain).containsExactlyEntriesOf(plain);
        assertThat(plain).isEqualTo(m);
        assertThat(Map.copyOf(plain)).isEqualTo(m);
        assertThat(m.keySet()).containsExactly("baggage", "traceparent", "forwarded");
        assertThat(m.values()).containsExactly("k8s.namespace.name=ns", W3C_EXAMPLE, "for=\"10.0.0.1:80\"");
        assertThat(m.get("forwarded")).isEqualTo("for=\"10.0.0.1:80\"");
        assertThat(m.get("x")).isNull();
        assertThat(m.containsKey("traceparent")).isTrue();
        assertThatThrownBy(() -> m.put("a", "b")).isInstanceOf(UnsupportedOperationException.class);
        assertThatThrownBy(() -> m.keySet().remove("baggage")).isInstanceOf(UnsupportedOperationException.class);
        assertThatThrownBy(() -> m.entrySet().iterator().next().setValue("x")).isInstanceOf(UnsupportedOperationException.class);
        TunnelInfo info = new TunnelInfo(TunnelInfo.Direction.OUTBOUND, null, null, null, null, null, m);
        assertThat(info.headers()).isSameAs(m);
        assertThatThrownBy(() -> HeaderMap.of(new String[] {"a"}, new Object[0])).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> HeaderMap.of(new String[] {"a"}, new Object[] {null})).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    @DisplayName("any number of values reads back in order: up to three kept in fields, more in the array")
    void everySizeReadsBack() {
        for (int n = 1; n <= 6; n++) {
            String[] names = new String[n];
            Object[] values = new Object[n];
            Map<String, String> plain = new LinkedHashMap<>();
            for (int i = 0; i < n; i++) {
                names[i] = "h" + i;
                values[i] = i % 2 == 0 ? "v" + i : HeaderMap.Traceparent.parse(W3C_EXAMPLE);
                plain.put(names[i], values[i].toString());
            }
            Map<String, String> m = HeaderMap.of(names, values);
            assertThat(m).as("%d values", n).isEqualTo(plain).containsExactlyEntriesOf(plain).hasSize(n);
            assertThat(m.values()).containsExactlyElementsOf(plain.values());
            for (int i = 0; i < n; i++) {
                assertThat(m.get("h" + i)).isEqualTo(plain.get("h" + i));
            }
            java.util.List<String> seen = new java.util.ArrayList<>();
            m.forEach((k, v) -> seen.add(k + "=" + v));
            assertThat(seen).containsExactlyElementsOf(plain.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue()).toList());
        }
    }

    @Test
    @DisplayName("received CONNECT headers: lower-case names, repeats joined, traceparent compact, names shared per connection")
    void receivedHeaders() {
        Headers.Memo memo = new Headers.Memo();
        // Unvalidated, to see names lower-cased (Netty's decoder refuses upper case in HTTP/2 itself).
        Http2Headers h = new DefaultHttp2Headers(false).method("CONNECT").authority("10.0.0.1:80")
                .add("Baggage", "a=1").add("traceparent", W3C_EXAMPLE).add("forwarded", "for=\"10.0.0.2:1\"").add("baggage", "b=2");
        Map<String, String> first = Headers.plain(h, memo);
        assertThat(first).containsExactly(Map.entry("baggage", "a=1, b=2"), Map.entry("traceparent", W3C_EXAMPLE),
                Map.entry("forwarded", "for=\"10.0.0.2:1\""));
        Map<String, String> second = Headers.plain(new DefaultHttp2Headers().method("CONNECT").add("baggage", "a=1")
                .add("traceparent", W3C_EXAMPLE.toUpperCase()).add("forwarded", "for=\"10.0.0.2:2\""), memo);
        assertThat(second).containsExactly(Map.entry("baggage", "a=1"), Map.entry("traceparent", W3C_EXAMPLE.toUpperCase()),
                Map.entry("forwarded", "for=\"10.0.0.2:2\""));
        assertThat(Headers.plain(new DefaultHttp2Headers().method("CONNECT"), memo)).isEmpty();
    }
}
