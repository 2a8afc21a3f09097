package io.zerohop.core.internal;

import io.zerohop.core.Workload;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * The W3C {@code baggage} header ztunnel sends on every outbound CONNECT with the source workload's
 * metadata, and reads on the inbound side for metric labels (src/baggage.rs): comma-separated
 * {@code k8s.cluster.name}, {@code k8s.namespace.name}, {@code k8s.<type>.name} (deployment, cronjob,
 * pod, job), {@code service.name}, {@code service.version}, {@code cloud.region},
 * {@code cloud.availability_zone}; empty values are absent. A claim of the peer, never used for
 * policy.
 */
public record Baggage(String clusterId, String namespace, String workloadName, String serviceName, String revision,
                      String region, String zone) {
    public static final Baggage EMPTY = new Baggage(null, null, null, null, null, null, null);

    /**
     * A registry workload's baggage as ztunnel's {@code Workload::baggage}: service name and version
     * are the canonical service and revision; the workload type is {@code deployment} (the registry
     * does not know controller kinds).
     */
    public static Baggage of(Workload w) {
        return of(w, TrafficLabels.DEFAULT_CLUSTER);
    }

    /**
     * {@link #of(Workload)} with {@code clusterId} as the cluster of a workload without a
     * {@code topology.istio.io/cluster} label (ztunnel's {@code Workload::baggage} sends the
     * workload's {@code cluster_id}, never empty: src/state/workload.rs defaults it to {@code Kubernetes}).
     */
    public static Baggage of(Workload w, String clusterId) {
        return new Baggage(TrafficLabels.clusterOf(w.labels(), clusterId), w.namespace(), w.workloadName(),
                TrafficLabels.canonicalService(w.labels(), w.workloadName()), TrafficLabels.canonicalRevision(w.labels()),
                w.labels().get(TopologyLabels.REGION), w.labels().get(TopologyLabels.ZONE));
    }

    // Written out, not generated, as TrafficLabels' (the key of WorkloadStrings' table, hashed on a node
    // proxy's first outbound tunnel): every component is compared (RecordMethodsTest).
    @Override
    public boolean equals(Object other) {
        return other == this || other instanceof Baggage o &&
                Objects.equals(clusterId, o.clusterId) &&
                Objects.equals(namespace, o.namespace) &&
                Objects.equals(workloadName, o.workloadName) &&
                Objects.equals(serviceName, o.serviceName) &&
                Objects.equals(revision, o.revision) &&
                Objects.equals(region, o.region) &&
                Objects.equals(zone, o.zone);
    }

    @Override
    public int hashCode() {
        int h = Objects.hashCode(clusterId);
        h = 31 * h + Objects.hashCode(namespace);
        h = 31 * h + Objects.hashCode(workloadName);
        h = 31 * h + Objects.hashCode(serviceName);
        h = 31 * h + Objects.hashCode(revision);
        h = 31 * h + Objects.hashCode(region);
        h = 31 * h + Objects.hashCode(zone);
        return h;
    }

    /**
     * The header value, keys in ztunnel's order ({@code baggage_header_val}). Equal baggage gives the
     * same String instance: every tunnel of a workload shares it (issue 14).
     */
    public String header() {
        return WorkloadStrings.header(this);
    }

    /** The header value built anew; {@link #header()} shares it. */
    String formatHeader() {
        List<String> parts = new ArrayList<>(7);
        add(parts, "k8s.cluster.name", clusterId);
        add(parts, "k8s.namespace.name", namespace);
        add(parts, "k8s.deployment.name", workloadName);
        add(parts, "service.name", serviceName);
        add(parts, "service.version", revision);
        add(parts, "cloud.region", region);
        add(parts, "cloud.availability_zone", zone);
        return String.join(",", parts);
    }

    private static void add(List<String> parts, String key, String value) {
        if (value != null && !value.isEmpty()) {
            parts.add(key + "=" + value);
        }
    }

    /**
     * Parses a header value (repeated headers already joined with {@code ","}) as ztunnel's
     * {@code parse_baggage_header}: unknown keys and members without {@code =} are skipped, empty
     * values are absent, a later member wins, and a value with any character but visible ASCII, space and tab is no
     * baggage at all (hyper's {@code HeaderValue::to_str} fails on it; until 6 December zerohop read the other members).
     * Where it differs: whitespace around a member's key and value is trimmed, since repeated headers arrive joined with
     * {@code ", "} (ztunnel reads each header line on its own), so a single header {@code a=b, service.name=x} gives
     * {@code service.name} here and nothing in ztunnel. Equal headers give the same instance (its strings are
     * shared by every tunnel that carried that header).
     */
    public static Baggage parse(String header) {
        if (header == null || header.isEmpty()) {
            return EMPTY;
        }
        return WorkloadStrings.parsed(header);
    }

    static Baggage read(String header) {
        if (header == null || header.isEmpty()) {
            return EMPTY;
        }
        for (int i = 0; i < header.length(); i++) {
            char c = header.charAt(i);
            if (!(c >= 0x20 && c < 0x7f || c == '\t')) {
                // ztunnel reads the header with HeaderValue::to_str, which fails on anything but visible ASCII, SP and
                // HTAB, and takes the failure as no baggage at all (src/baggage.rs parse_baggage_header's `?`,
                // src/proxy/inbound.rs unwrap_or_default): one such byte anywhere drops every member.
                return EMPTY;
            }
        }
        String cluster = null, ns = null, workload = null, service = null, rev = null, region = null, zone = null;
        for (String member : header.split(",")) {
            String[] kv = member.split("=", -1);
            if (kv.length < 2) {
                continue;
            }
            String k = kv[0].trim();
            String v = kv[1].trim().isEmpty() ? null : kv[1].trim();
            switch (k) {
                case "k8s.cluster.name" -> cluster = v;
                case "k8s.namespace.name" -> ns = v;
                case "k8s.deployment.name", "k8s.cronjob.name", "k8s.pod.name", "k8s.job.name" -> workload = v;
                case "service.name" -> service = v;
                case "service.version" -> rev = v;
                case "cloud.region" -> region = v;
                case "cloud.availability_zone" -> zone = v;
                default -> { }
            }
        }
        return new Baggage(cluster, ns, workload, service, rev, region, zone);
    }
}
