package io.zerohop.policy;

import java.util.HashMap;
import java.util.Map;

/** Fluent test request with sensible defaults: frontend (mTLS) calling prod/backend on 8080 at L4. */
final class R {
    String principal = "spiffe://cluster.local/ns/prod/sa/frontend";
    String src = "10.0.0.1";
    String dst = "10.0.0.2";
    int port = 8080;
    String destNs = "prod";
    String destName = "backend";
    String destSa = "backend";
    Map<String, String> destLabels = new HashMap<>(Map.of("app", "backend"));
    WorkloadRef source = new WorkloadRef("prod", "frontend", "frontend", Map.of("app", "frontend"));
    HttpAttributes http;
    String sni;

    static R r() {
        return new R();
    }

    R principal(String p) {
        principal = p;
        return this;
    }

    R plaintext() {
        principal = null;
        return this;
    }

    R src(String a) {
        src = a;
        return this;
    }

    R dst(String a) {
        dst = a;
        return this;
    }

    R port(int p) {
        port = p;
        return this;
    }

    R dest(String ns, String name, Map<String, String> labels) {
        destNs = ns;
        destName = name;
        destLabels = new HashMap<>(labels);
        return this;
    }

    /** The destination's service account. */
    R sa(String serviceAccount) {
        destSa = serviceAccount;
        return this;
    }

    R source(WorkloadRef w) {
        source = w;
        return this;
    }

    R sourceLabels(String ns, Map<String, String> labels) {
        source = new WorkloadRef(ns, "peer", "peer", labels);
        return this;
    }

    R http(String method, String path) {
        http = HttpAttributes.of(method, path);
        return this;
    }

    R http(String method, String path, String host, Map<String, String> headers) {
        http = new HttpAttributes(method, path, host, headers);
        return this;
    }

    R l4() {
        http = null;
        return this;
    }

    R sni(String s) {
        sni = s;
        return this;
    }

    AccessRequest build() {
        return AccessRequest.builder().sourcePrincipal(principal).sourceAddress(src).destinationAddress(dst)
                .destinationPort(port).destination(new WorkloadRef(destNs, destName, destSa, destLabels))
                .sourceWorkload(source).http(http).sni(sni).build();
    }

    @Override
    public String toString() {
        return (principal == null ? "plaintext" : principal) + " " + src + " -> " + destNs + "/" + destName + ":" + port
                + (http == null ? "" : " " + http.method() + " " + http.path());
    }
}
