package io.zerohop.kubernetes.internal;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.zerohop.core.GatewayAddress;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The waypoints of the cluster and which one a workload or a Service uses, as istiod's ambient index computes them
 * (istio/istio pilot/pkg/serviceregistry/ambient/waypoints.go): {@code gatewayToWaypointTransform} and
 * {@code makeWaypoint} build one from every {@code gateway.networking.k8s.io/v1} Gateway, whatever its class, that has
 * {@code status.addresses}; {@code fetchWaypointForService} and {@code computeWaypoint}/{@code fetchWaypointForWorkload}
 * (workloads.go) pick one by the {@code istio.io/use-waypoint} labels. Built by {@link WorkloadState#flush} from the
 * Gateways and GatewayClasses the informers keep; immutable.
 *
 * <p>A label that names no waypoint, a waypoint whose listener does not admit the object's namespace, or one whose
 * {@code istio.io/waypoint-for} does not cover the object leaves it without a waypoint, as istiod (which writes a
 * {@code istio.io/WaypointBound} condition; zerohop writes nothing and logs one WARN naming the object and the label).
 * Without a waypoint, connections go to the destination directly.
 */
public final class Waypoints {
    /** istio/api {@code label.IoIstioUseWaypoint}. */
    static final String USE_WAYPOINT = "istio.io/use-waypoint";
    /** istio/api {@code label.IoIstioUseWaypointNamespace}. */
    static final String USE_WAYPOINT_NAMESPACE = "istio.io/use-waypoint-namespace";
    /** istio/api {@code label.IoIstioWaypointFor}: on a Gateway, else its GatewayClass; {@code service} when neither. */
    static final String WAYPOINT_FOR = "istio.io/waypoint-for";
    /** Gateway API's label on a Gateway's own pods (istio/api {@code label.IoK8sNetworkingGatewayGatewayName}). */
    static final String GATEWAY_NAME = "gateway.networking.k8s.io/gateway-name";
    /** istio/api {@code label.GatewayManaged}, which istiod's deployment controller sets on a waypoint's Service. */
    static final String GATEWAY_MANAGED = "gateway.istio.io/managed";
    /** istio/api {@code annotation.AmbientWaypointInboundBinding}: picks the listener whose allowedRoutes count. */
    static final String INBOUND_BINDING = "ambient.istio.io/waypoint-inbound-binding";

    static final String SERVICE = "service";
    static final String WORKLOAD = "workload";
    static final String ALL = "all";

    /** One waypoint: istiod's {@code Waypoint} (what zerohop uses of it). {@code address} may be null (none usable). */
    record Waypoint(String namespace, String name, GatewayAddress address, String trafficType, String from,
                    Selector selector) {
        String key() {
            return namespace + "/" + name;
        }
    }

    /**
     * A Kubernetes label selector ({@code metav1.LabelSelectorAsSelector}): null {@code matchLabels}/{@code expressions}
     * for none; {@link #NOTHING} for a missing or invalid one (istiod's {@code labels.Nothing()}).
     */
    record Selector(Map<String, String> matchLabels, List<Expression> expressions) {
        static final Selector NOTHING = new Selector(null, null);

        boolean matches(Map<String, String> labels) {
            if (this == NOTHING) {
                return false;
            }
            for (Map.Entry<String, String> e : matchLabels.entrySet()) {
                if (!e.getValue().equals(labels.get(e.getKey()))) {
                    return false;
                }
            }
            for (Expression x : expressions) {
                String v = labels.get(x.key());
                boolean ok = switch (x.operator()) {
                    case "In" -> v != null && x.values().contains(v);
                    case "NotIn" -> v == null || !x.values().contains(v);
                    case "Exists" -> v != null;
                    default -> v == null; // DoesNotExist; the others were refused when parsed
                };
                if (!ok) {
                    return false;
                }
            }
            return true;
        }
    }

    record Expression(String key, String operator, List<String> values) {}

    private final Map<String, Waypoint> byKey;
    /** Whether the Gateways or GatewayClasses could not be read (403): then no label can be checked ({@link #unread}). */
    private final boolean unread;
    /** The cluster's DNS domain, for the reference {@link #unread} keeps. */
    private final String clusterDomain;

    private Waypoints(Map<String, Waypoint> byKey, boolean unread, String clusterDomain) {
        this.byKey = byKey;
        this.unread = unread;
        this.clusterDomain = clusterDomain;
    }

    static final Waypoints NONE = new Waypoints(Map.of(), false, PodConversion.DEFAULT_CLUSTER_DOMAIN);

    /**
     * The waypoints of {@code gateways} (each stripped by {@link ObjectStrip#gateway}), their traffic type defaulting to
     * their class's in {@code classes} (GatewayClass name → object). A Gateway that does not parse is left out with one
     * WARN naming it and the field.
     */
    static Waypoints of(List<GenericKubernetesResource> gateways, Map<String, GenericKubernetesResource> classes) {
        return of(gateways, classes, false, false, PodConversion.DEFAULT_CLUSTER_DOMAIN);
    }

    /**
     * As {@link #of(List, Map)}; {@code unread}: the Gateways could not be listed (403), so whether a label's waypoint
     * exists, admits the object and covers its traffic is unknown, and each object that names one keeps a reference to
     * it ({@link #unread}) rather than none; {@code classesUnread}: the GatewayClasses could not be (403), so a Gateway
     * without its own {@code istio.io/waypoint-for} is taken for {@code all} traffic, not {@code service}: its class may
     * say {@code workload} or {@code all}, and a workload sent direct would bypass it (narrower than istiod when the
     * class says {@code service}; the class's inbound-binding annotation is not known either).
     */
    static Waypoints of(List<GenericKubernetesResource> gateways, Map<String, GenericKubernetesResource> classes,
                        boolean unread, boolean classesUnread, String clusterDomain) {
        if (gateways.isEmpty() && !unread) {
            return NONE;
        }
        Map<String, Waypoint> out = new HashMap<>();
        for (GenericKubernetesResource g : gateways) {
            String id = "Gateway " + g.getMetadata().getNamespace() + "/" + g.getMetadata().getName();
            try {
                Waypoint w = waypoint(g, classes, classesUnread, id);
                if (w != null) {
                    out.put(w.key(), w);
                }
            } catch (IllegalArgumentException bad) {
                PodConversion.warnOnce(id + " is no waypoint: " + bad.getMessage());
            }
        }
        return new Waypoints(Map.copyOf(out), unread, clusterDomain);
    }

    int size() {
        return byKey.size();
    }

    /** The waypoint of Gateway {@code ns/name}, or null; for tests. */
    Waypoint get(String key) {
        return byKey.get(key);
    }

    /**
     * istiod's {@code gatewayToWaypointTransform}: null when the Gateway has no {@code status.addresses} (not ready, or
     * not a waypoint at all: istiod skips those, and only those).
     */
    private static Waypoint waypoint(GenericKubernetesResource g, Map<String, GenericKubernetesResource> classes,
                                     boolean classesUnread, String id) {
        Map<String, Object> status = map(g.getAdditionalProperties().get("status"), "status");
        List<Object> addresses = list(status.get("addresses"), "status.addresses");
        if (addresses.isEmpty()) {
            return null;
        }
        Map<String, Object> spec = map(g.getAdditionalProperties().get("spec"), "spec");
        Object className = spec.get("gatewayClassName");
        GenericKubernetesResource cls = className == null ? null : classes.get(String.valueOf(className));
        Map<String, String> gwLabels = labels(g.getMetadata().getLabels());
        Map<String, String> clsLabels = cls == null ? Map.of() : labels(cls.getMetadata().getLabels());
        String traffic = gwLabels.getOrDefault(WAYPOINT_FOR, clsLabels.getOrDefault(WAYPOINT_FOR, classesUnread ? ALL : SERVICE));
        String binding = labels(g.getMetadata().getAnnotations()).get(INBOUND_BINDING);
        if (binding == null && cls != null) {
            binding = labels(cls.getMetadata().getAnnotations()).get(INBOUND_BINDING);
        }
        Map<String, Object> listener = allowedRoutesListener(list(spec.get("listeners"), "spec.listeners"), binding, id);
        String from = "Same";
        Selector selector = null;
        if (listener != null) {
            Map<String, Object> routes = map(listener.get("allowedRoutes"), "allowedRoutes");
            if (routes.get("namespaces") != null) {
                Map<String, Object> ns = map(routes.get("namespaces"), "allowedRoutes.namespaces");
                from = ns.get("from") == null ? "Same" : String.valueOf(ns.get("from"));
                selector = selector(ns.get("selector"), id);
            }
        }
        return new Waypoint(g.getMetadata().getNamespace(), g.getMetadata().getName(),
                address(g.getMetadata().getNamespace(), addresses, id), traffic, from, selector);
    }

    /**
     * istiod's {@code makeAllowedRoutes}: the listener the inbound binding names (its port; else, for {@code PROXY}, the
     * {@code istio.io/PROXY} listener), else the HBONE listener on 15008; null when none (then {@code Same}).
     */
    private static Map<String, Object> allowedRoutesListener(List<Object> listeners, String binding, String id) {
        Integer port = null;
        String protocol = null;
        if (binding != null) {
            String[] parts = binding.split("/", -1);
            if (parts.length <= 2 && (parts[0].equals("NONE") || parts[0].equals("PROXY"))) {
                protocol = parts[0];
                port = 0;
                if (parts.length == 2) {
                    try {
                        port = Integer.parseUnsignedInt(parts[1]);
                    } catch (NumberFormatException bad) {
                        PodConversion.warnOnce(id + ": annotation " + INBOUND_BINDING + " \"" + binding + "\": invalid port");
                    }
                }
            } else {
                PodConversion.warnOnce(id + ": annotation " + INBOUND_BINDING + " \"" + binding + "\" is not \"<NONE|PROXY>\""
                        + " or \"<NONE|PROXY>/<port>\": ignored (as istiod)");
            }
        }
        if (protocol != null && (port != 0 || protocol.equals("PROXY"))) {
            for (Object o : listeners) {
                Map<String, Object> l = map(o, "spec.listeners[]");
                if (port != 0 ? number(l.get("port")) == port : "istio.io/PROXY".equals(l.get("protocol"))) {
                    return l;
                }
            }
        }
        for (Object o : listeners) {
            Map<String, Object> l = map(o, "spec.listeners[]");
            if ("HBONE".equals(l.get("protocol")) && number(l.get("port")) == 15008) {
                return l;
            }
        }
        return null;
    }

    /** istiod's {@code getGatewayAddress}: the first Hostname address, else the first IPAddress that parses; else null. */
    private static GatewayAddress address(String namespace, List<Object> addresses, String id) {
        for (Object o : addresses) {
            Map<String, Object> a = map(o, "status.addresses[]");
            if ("Hostname".equals(a.get("type")) && a.get("value") instanceof String v && !v.isEmpty()) {
                return GatewayAddress.of(namespace, v);
            }
        }
        for (Object o : addresses) {
            Map<String, Object> a = map(o, "status.addresses[]");
            if ("IPAddress".equals(a.get("type")) && a.get("value") instanceof String v) {
                InetAddress ip = ServiceEntryConversion.ipOrNull(v);
                if (ip != null) {
                    return GatewayAddress.of(ip);
                }
                PodConversion.warnOnce(id + ": field status.addresses: \"" + v + "\" is no IP address, skipped");
            }
        }
        return null;
    }

    private static Selector selector(Object o, String id) {
        if (o == null) {
            return Selector.NOTHING;
        }
        Map<String, Object> m = map(o, "allowedRoutes.namespaces.selector");
        Map<String, String> match = new LinkedHashMap<>();
        map(m.getOrDefault("matchLabels", Map.of()), "matchLabels").forEach((k, v) -> match.put(k, String.valueOf(v)));
        List<Expression> exprs = new ArrayList<>();
        for (Object x : list(m.get("matchExpressions"), "matchExpressions")) {
            Map<String, Object> e = map(x, "matchExpressions[]");
            String op = String.valueOf(e.get("operator"));
            List<String> values = new ArrayList<>();
            list(e.get("values"), "matchExpressions[].values").forEach(v -> values.add(String.valueOf(v)));
            boolean valid = switch (op) {
                case "In", "NotIn" -> !values.isEmpty();
                case "Exists", "DoesNotExist" -> values.isEmpty();
                default -> false;
            };
            if (!valid || !(e.get("key") instanceof String key)) {
                // istiod ignores LabelSelectorAsSelector's error and keeps a nil selector; it then admits nothing.
                PodConversion.warnOnce(id + ": field spec.listeners[].allowedRoutes.namespaces.selector: invalid"
                        + " expression " + e + ": no namespace is admitted");
                return Selector.NOTHING;
            }
            exprs.add(new Expression(key, op, List.copyOf(values)));
        }
        return new Selector(match, exprs);
    }

    // ---- which waypoint an object uses ----

    /** Why an object that asks for a waypoint has none (istiod's WaypointBound condition reasons). */
    private enum Refusal { NOT_READY, ATTACHMENT_DENIED, UNSUPPORTED_TRAFFIC_TYPE, NOT_READ, CROSS_NAMESPACE_FORBIDDEN }

    /** A waypoint found for an object, or the reason none was, and which label asked (null: none asked). */
    private record Found(Waypoint waypoint, Refusal refusal, String asked, String by) {
        static final Found NOTHING = new Found(null, null, null, null);
    }

    /**
     * istiod's {@code GetUseWaypoint}: the waypoint {@code labels} name (absent: null), in {@code istio.io/use-waypoint-namespace}
     * or else {@code namespace}; {@code "none"} returns {@code "none"}.
     */
    private static String useWaypoint(Map<String, String> labels, String namespace) {
        String name = labels.get(USE_WAYPOINT);
        if (name == null) {
            return null;
        }
        if (name.equals("none")) {
            return "none";
        }
        return labels.getOrDefault(USE_WAYPOINT_NAMESPACE, namespace) + "/" + name;
    }

    /**
     * istiod's {@code fetchWaypointForTarget}: the object's own label first ({@code none} opts out; a name that is no
     * waypoint leaves it without one, the namespace's label is not consulted), else its namespace's.
     *
     * @param nsLabels the labels of the object's namespace, null when the namespace is not known
     */
    private Found target(String namespace, Map<String, String> labels, Map<String, String> nsLabels, String id) {
        String own = useWaypoint(labels, namespace);
        if ("none".equals(own)) {
            return Found.NOTHING;
        }
        String asked = own;
        String by = id;
        if (asked == null && nsLabels != null) {
            String ns = useWaypoint(nsLabels, namespace);
            if (ns != null && !ns.equals("none")) {
                asked = ns;
                by = "Namespace " + namespace;
            }
        }
        if (asked == null) {
            return Found.NOTHING;
        }
        Waypoint w = byKey.get(asked);
        if (unread) {
            return new Found(null, Refusal.NOT_READ, asked, by);
        }
        if (w == null) {
            return new Found(null, Refusal.NOT_READY, asked, by);
        }
        if (!admits(w, namespace, nsLabels)) {
            return new Found(null, Refusal.ATTACHMENT_DENIED, asked, by);
        }
        return new Found(w, null, asked, by);
    }

    /** istiod's {@code AllowsAttachmentFromNamespace}: the waypoint's listener's {@code allowedRoutes.namespaces}. */
    private static boolean admits(Waypoint w, String namespace, Map<String, String> nsLabels) {
        return switch (w.from()) {
            case "All" -> true;
            case "Selector" -> (w.selector() == null ? Selector.NOTHING : w.selector())
                    .matches(nsLabels == null ? Map.of() : nsLabels);
            default -> w.namespace().equals(namespace);
        };
    }

    /**
     * The waypoint of a Service or ServiceEntry (istiod's {@code fetchWaypointForService}): none for a waypoint's or an
     * east-west gateway's own Service ({@code gateway.istio.io/managed}); else the one its labels or its namespace's name,
     * when that waypoint is for {@code service} or {@code all} traffic. Null: none (logged once when one was asked for).
     *
     * @param id the object as the WARN names it ({@code Service ns/name})
     */
    GatewayAddress forService(String id, String namespace, Map<String, String> labels, Map<String, String> nsLabels) {
        return forService(id, namespace, labels, nsLabels, false);
    }

    /**
     * As {@link #forService(String, String, Map, Map)}; {@code namespaceOnly}: a ServiceEntry whose MeshConfig
     * {@code serviceEntryVisibility} is {@code NAMESPACE}, which istiod's {@code fetchWaypointForService} refuses a
     * waypoint of another namespace ({@code WaypointCrossNamespaceForbidden}: it would expose the entry to the waypoint's
     * namespace), after the traffic type. Whatever the other namespace's Gateway says (absent, not admitting, unread),
     * istiod then sends no waypoint, so an unread one is no reference here either.
     */
    GatewayAddress forService(String id, String namespace, Map<String, String> labels, Map<String, String> nsLabels,
                              boolean namespaceOnly) {
        String managed = labels.get(GATEWAY_MANAGED);
        if ("istio.io-mesh-controller".equals(managed) || "istio.io-eastwest-controller".equals(managed)) {
            return null;
        }
        Found f = target(namespace, labels, nsLabels, id);
        if (f.waypoint != null && !SERVICE.equals(f.waypoint.trafficType()) && !ALL.equals(f.waypoint.trafficType())) {
            f = new Found(null, Refusal.UNSUPPORTED_TRAFFIC_TYPE, f.asked, f.by);
        }
        if (namespaceOnly && f.asked != null && !f.asked.startsWith(namespace + "/")
                && (f.waypoint != null || f.refusal == Refusal.NOT_READ)) {
            f = new Found(null, Refusal.CROSS_NAMESPACE_FORBIDDEN, f.asked, f.by);
        }
        return result(f, id, namespace, SERVICE);
    }

    /**
     * The waypoint of a pod, WorkloadEntry or ServiceEntry endpoint (istiod's {@code computeWaypoint}): none for a
     * waypoint's own instance (its {@code gateway.networking.k8s.io/gateway-name} label names a waypoint of its
     * namespace); else the one its labels or its namespace's name, when that waypoint is for {@code workload} or
     * {@code all} traffic (one for {@code service} named by the namespace only is silently no waypoint, as in istiod).
     */
    GatewayAddress forWorkload(String id, String namespace, Map<String, String> labels, Map<String, String> nsLabels) {
        String instanceOf = labels.get(GATEWAY_NAME);
        if (instanceOf != null && !instanceOf.isEmpty() && byKey.containsKey(namespace + "/" + instanceOf)) {
            return null;
        }
        Found f = target(namespace, labels, nsLabels, id);
        if (f.refusal == Refusal.NOT_READ && instanceOf != null && f.asked.equals(namespace + "/" + instanceOf)) {
            return null; // the waypoint's own instance, as above, its Gateway unread
        }
        if (f.waypoint != null && !WORKLOAD.equals(f.waypoint.trafficType()) && !ALL.equals(f.waypoint.trafficType())) {
            f = labels.containsKey(USE_WAYPOINT) ? new Found(null, Refusal.UNSUPPORTED_TRAFFIC_TYPE, f.asked, f.by) : Found.NOTHING;
        }
        return result(f, id, namespace, WORKLOAD);
    }

    private GatewayAddress result(Found f, String id, String namespace, String kind) {
        if (f.waypoint != null) {
            return f.waypoint.address();
        }
        if (f.refusal == null) {
            return null;
        }
        if (f.refusal == Refusal.NOT_READ) {
            return unread(f, id, kind);
        }
        // A namespace's label is logged once for the namespace (per kind of object), not once for each of its pods.
        boolean own = f.by.equals(id);
        String label = (own ? id : f.by) + ": label " + USE_WAYPOINT + " names waypoint " + f.asked;
        String why = switch (f.refusal) {
            case NOT_READY -> "which is not known (no Gateway " + f.asked + " with status.addresses; istiod: WaypointIsNotReady)";
            case ATTACHMENT_DENIED -> "whose listener's allowedRoutes do not admit namespace " + namespace
                    + " (istiod: AttachmentDenied)";
            case UNSUPPORTED_TRAFFIC_TYPE -> "whose " + WAYPOINT_FOR + " (" + byKey.get(f.asked).trafficType()
                    + ") does not cover " + kind + " traffic (istiod: UnsupportedTrafficType)";
            case CROSS_NAMESPACE_FORBIDDEN -> "of another namespace, which a ServiceEntry of visibility NAMESPACE"
                    + " (serviceEntryVisibility) may not use (istiod: WaypointCrossNamespaceForbidden)";
            case NOT_READ -> throw new AssertionError("handled by unread");
        };
        PodConversion.warnOnce(USE_WAYPOINT + " label", label + ", " + why + ": " + (own ? "no waypoint, connections to it go"
                : "its " + (kind.equals(SERVICE) ? "Services" : "workloads") + " that name none themselves have no waypoint,"
                + " connections to them go") + " directly, as with istiod");
        return null;
    }

    /**
     * A label whose waypoint cannot be looked up: the Gateways or GatewayClasses are forbidden (403, a role from before
     * this was read). istiod would route through the waypoint when it exists, admits the namespace and covers the
     * traffic; going direct would bypass its L7 policy where it does (a silent widening, so until 7 December), so the
     * object keeps a reference to the waypoint's Service by the name istiod's deployment controller gives a waypoint's
     * Service and its gateway controller writes as the Gateway's {@code Hostname} address ({@code NAME.NS.svc.DOMAIN},
     * pilot/pkg/config/kube/gateway/conversion.go): a connection goes through that Service when the registry has it, and
     * is refused "unknown waypoint" by mesh-core when it does not; never direct. Narrower than istiod where the waypoint
     * is missing, denies the namespace or is for other traffic (istiod: direct).
     */
    private GatewayAddress unread(Found f, String id, String kind) {
        int slash = f.asked.indexOf('/');
        String ns = f.asked.substring(0, slash);
        String name = f.asked.substring(slash + 1);
        boolean own = f.by.equals(id);
        PodConversion.warnOnce(USE_WAYPOINT + " label", (own ? id : f.by) + ": label " + USE_WAYPOINT + " names waypoint "
                + f.asked + ", which cannot be looked up (Gateways or GatewayClasses forbidden: re-apply the role):"
                + (own ? "" : " its " + (kind.equals(SERVICE) ? "Services" : "workloads") + " that name none themselves")
                + " use the waypoint's Service " + name + "." + ns + ".svc." + clusterDomain + " if it is known, else"
                + " connections are refused as to an unknown waypoint; never sent directly");
        return GatewayAddress.of(ns, name + "." + ns + ".svc." + clusterDomain);
    }

    // ---- parsing ----

    private static Map<String, String> labels(Map<String, String> m) {
        return m == null ? Map.of() : m;
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> map(Object o, String field) {
        if (o == null) {
            return Map.of();
        }
        if (o instanceof Map<?, ?> m) {
            return (Map<String, Object>) m;
        }
        throw new IllegalArgumentException("field " + field + ": not an object");
    }

    @SuppressWarnings("unchecked")
    private static List<Object> list(Object o, String field) {
        if (o == null) {
            return List.of();
        }
        if (o instanceof List<?> l) {
            return (List<Object>) l;
        }
        throw new IllegalArgumentException("field " + field + ": not a list");
    }

    private static long number(Object o) {
        return o instanceof Number n ? n.longValue() : -1;
    }

    /** The keys kept by {@link ObjectStrip#gateway} in {@code metadata.annotations}. */
    static final Set<String> KEPT_ANNOTATIONS = Set.of(INBOUND_BINDING);
}
