package io.zerohop.core.internal.http;

import io.zerohop.core.JwtCheck;
import io.zerohop.policy.JwtRule;
import io.zerohop.policy.WorkloadRef;
import java.net.InetSocketAddress;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * {@link JwtCheck}'s body: {@link JwtAuthn} on a request held in a map, with a key cache of its own that fetches once
 * and never refreshes (no timers). A token whose remote keys have no answer yet is held as the proxy holds it
 * ({@link JwtAuthn.Hold}): here the caller's thread waits for the answer, at most the hold's timeout, then the step runs
 * again with the hold, as the proxy's connection loop does.
 */
public final class OfflineJwt {
    private OfflineJwt() {
    }

    public static JwtCheck.Result check(List<JwtRule> rules, String method, String path, String authority, Map<String, String> headers) {
        Map<String, String> h = new LinkedHashMap<>(headers);
        String[] target = {path};
        JwtAuthn.Message m = new JwtAuthn.Message() {
            @Override
            public String method() {
                return method;
            }

            @Override
            public List<String> headers(String name) {
                String v = h.get(name);
                return v == null ? List.of() : List.of(v);
            }

            @Override
            public void remove(String name) {
                h.remove(name);
            }

            @Override
            public void add(String name, String value) {
                h.merge(name, value, (a, b) -> a + "," + b);
            }

            @Override
            public String path() {
                return target[0];
            }

            @Override
            public void path(String p) {
                target[0] = p;
            }
        };
        InetSocketAddress nowhere = new InetSocketAddress("0.0.0.0", 0);
        Conn conn = new Conn("check", null, null, nowhere, nowhere, nowhere, new WorkloadRef("check", "check", "check", Map.of()),
                null, null);
        JwksCache keys = new JwksCache(JwksCache::defaultClient, null);
        JwtAuthn step = new JwtAuthn(keys, () -> System.currentTimeMillis() / 1000);
        String host = authority == null ? "" : authority;
        JwtAuthn.Outcome o = step.authenticate(conn, rules, m, "http", host);
        if (o.held()) {
            try {
                o.hold().answered().get(o.hold().timeout().toNanos(), TimeUnit.NANOSECONDS);
            } catch (java.util.concurrent.TimeoutException | java.util.concurrent.ExecutionException e) {
                // As the proxy after its hold's timeout: the step says JWKS_FETCH_FAIL for the keys still missing.
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            o = step.authenticate(conn, rules, m, "http", host, o.hold());
        }
        if (o.refused()) {
            return new JwtCheck.Result(o.status(), o.failure().text, null, Map.copyOf(headers), path);
        }
        return new JwtCheck.Result(0, null, o.auth(), java.util.Collections.unmodifiableMap(h), target[0]);
    }
}
