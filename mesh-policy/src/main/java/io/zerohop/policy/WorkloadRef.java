package io.zerohop.policy;

import java.util.Map;
import java.util.Objects;

/**
 * A workload as policy sees it: namespace, name, service account, pod labels and named ports. Where names come from a person (a
 * workloads file, {@code zerohop policy check --dest}, a {@code Workload}), build it with {@link #checked}, which
 * validates them as the Kubernetes API server does (k8s.io/apimachinery pkg/util/validation/validation.go): a name no
 * API server accepts names no workload, and a policy written for the workload meant could never select it. The
 * constructor takes the names as given: a ref made from a peer's or the proxy's SPIFFE ID (mesh-core's
 * {@code PolicyAuthorizer.refOf}) carries what the ID's path says, which SPIFFE allows to be {@code Prod} or
 * {@code web_sa}; refusing it there failed every tunnel to such an identity instead of deciding it.
 *
 * <p>Throws {@link IllegalArgumentException} when the namespace is empty, or a named port breaks the rules above
 *
 * @param namespace      Kubernetes namespace, required, not empty
 * @param name           workload name (used in explanations only), may be empty (null: empty)
 * @param serviceAccount service account, may be empty (null: empty)
 * @param labels         pod labels; copied, never null
 * @param namedPorts     the workload's TCP container ports by name ({@code containers[].ports[]} with a {@code name} and
 *                       protocol TCP, as Cilium's {@code GetPodMetadata} collects them), which Cilium's named
 *                       {@code toPorts} ({@code port: http}) resolve against; copied. Null when they are not known (a
 *                       workload built without them, one known by its SPIFFE ID only): then a named port covers no
 *                       port for an allow and may cover any for an {@code ingressDeny} (fail closed). Keys are
 *                       Kubernetes port names (at most 15 of a-z, 0-9 and '-', a letter among them, no "--", no '-'
 *                       at either end), values 1-65535
 */
public record WorkloadRef(String namespace, String name, String serviceAccount, Map<String, String> labels,
                          Map<String, Integer> namedPorts) {

    public WorkloadRef {
        Objects.requireNonNull(namespace, "namespace");
        if (namespace.isEmpty()) {
            throw new IllegalArgumentException("namespace must not be empty");
        }
        name = name == null ? "" : name;
        serviceAccount = serviceAccount == null ? "" : serviceAccount;
        labels = labels == null ? Map.of() : Map.copyOf(labels);
        if (namedPorts != null) {
            // A copy of an immutable map is that map: a Workload's ref per connection shares its one map.
            namedPorts = Map.copyOf(namedPorts);
            if (!namedPorts.isEmpty()) {
                checkNamedPorts(namedPorts);
            }
        }
    }

    /** A ref whose named ports are not known ({@link #namedPorts} null). */
    public WorkloadRef(String namespace, String name, String serviceAccount, Map<String, String> labels) {
        this(namespace, name, serviceAccount, labels, null);
    }

    /**
     * Checks named ports as the Kubernetes API server checks a container port's name ({@code IsValidPortName},
     * k8s.io/apimachinery pkg/util/validation) and its number (1-65535).
     *
     * @throws IllegalArgumentException naming the port and what is wrong with it
     */
    public static void checkNamedPorts(Map<String, Integer> namedPorts) {
        namedPorts.forEach((name, port) -> {
            String why = portNameProblem(name);
            if (why != null) {
                throw new IllegalArgumentException("named port \"" + name + "\": " + why
                        + " (Kubernetes' port name rules, k8s.io/apimachinery pkg/util/validation IsValidPortName)");
            }
            if (port == null || port < 1 || port > 65535) {
                throw new IllegalArgumentException("named port \"" + name + "\": port " + port + " is out of range 1-65535");
            }
        });
    }

    /** apimachinery's {@code IsValidPortName} as one reason, or null when {@code name} is a valid port name. */
    private static String portNameProblem(String name) {
        if (name == null || name.isEmpty()) {
            return "must not be empty";
        }
        if (name.length() > 15) {
            return "must be no more than 15 characters";
        }
        boolean letter = false;
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            if (!(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-')) {
                return "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)";
            }
            letter |= c >= 'a' && c <= 'z';
        }
        if (!letter) {
            return "must contain at least one letter (a-z)";
        }
        if (name.contains("--")) {
            return "must not contain consecutive hyphens";
        }
        if (name.charAt(0) == '-' || name.charAt(name.length() - 1) == '-') {
            return "must not begin or end with a hyphen";
        }
        return null;
    }

    /**
     * A ref whose names are checked as the Kubernetes API server checks them: the namespace a DNS-1123 label
     * ({@code IsDNS1123Label}, as {@code ValidateNamespaceName}: lower-case letters, digits and '-', starting and ending
     * with a letter or digit, at most 63 characters); the name, when not empty, and the service account, when not
     * empty, DNS-1123 subdomains ({@code IsDNS1123Subdomain}: as a label, plus '.' between labels, at most 253
     * characters; a pod's name, {@code ValidateServiceAccountName}).
     *
     * @throws IllegalArgumentException naming the field, the value and what is wrong with it (apimachinery's wording)
     */
    public static WorkloadRef checked(String namespace, String name, String serviceAccount, Map<String, String> labels) {
        WorkloadRef r = new WorkloadRef(namespace, name, serviceAccount, labels);
        checkNames(r.namespace, r.name, r.serviceAccount);
        return r;
    }

    /**
     * {@link #checked(String, String, String, Map)} with named ports ({@link #namedPorts}; null: not known).
     *
     * @throws IllegalArgumentException as that method, or for a named port as the constructor
     */
    public static WorkloadRef checked(String namespace, String name, String serviceAccount, Map<String, String> labels,
                                      Map<String, Integer> namedPorts) {
        WorkloadRef r = new WorkloadRef(namespace, name, serviceAccount, labels, namedPorts);
        checkNames(r.namespace, r.name, r.serviceAccount);
        return r;
    }

    /**
     * {@link #checked}'s checks alone, for a caller that keeps the names itself (mesh-core's {@code Workload}).
     *
     * @throws IllegalArgumentException as {@link #checked}
     */
    public static void checkNames(String namespace, String name, String serviceAccount) {
        check("namespace", namespace, false);
        if (name != null && !name.isEmpty()) {
            check("name", name, true);
        }
        if (serviceAccount != null && !serviceAccount.isEmpty()) {
            check("serviceAccount", serviceAccount, true);
        }
    }

    /** A ref with no service account, names taken as given (as the constructor; {@link #checked} validates). */
    public static WorkloadRef of(String namespace, String name, Map<String, String> labels) {
        return new WorkloadRef(namespace, name, "", labels);
    }

    /**
     * apimachinery's {@code IsDNS1123Label} ({@code subdomain} false) or {@code IsDNS1123Subdomain} (true), with its
     * messages: one pass over the characters, no regex.
     */
    /** {@code value}, the field {@code field}, is a DNS-1123 label (or subdomain); else an exception in apimachinery's words. */
    static void check(String field, String value, boolean subdomain) {
        java.util.Objects.requireNonNull(value, field);
        if (!valid(value, subdomain)) {
            String lower = value.toLowerCase(java.util.Locale.ROOT);
            // The lower-case form only when it would pass: "Backend_1" -> "backend_1" is still refused (newuser18).
            String upper = lower.equals(value) || !valid(lower, subdomain) ? "" : " (upper case: write \"" + lower + "\"?)";
            if (value.length() > (subdomain ? 253 : 63)) {
                throw new IllegalArgumentException(field + " \"" + value + "\": must be no more than " + (subdomain ? 253 : 63)
                        + " characters (it has " + value.length() + ")");
            }
            throw new IllegalArgumentException(field + " \"" + value + "\": " + (subdomain
                    ? "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must"
                    + " start and end with an alphanumeric character (e.g. 'example.com')"
                    : "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and"
                    + " end with an alphanumeric character (e.g. 'my-name', or '123-abc')") + upper
                    + " (Kubernetes' name rules, k8s.io/apimachinery pkg/util/validation " + (subdomain ? "IsDNS1123Subdomain" : "IsDNS1123Label")
                    + ")");
        }
    }

    private static boolean valid(String value, boolean subdomain) {
        return io.zerohop.policy.internal.KubernetesNames.dns1123(value, subdomain);
    }

    @Override
    public String toString() {
        return namespace + "/" + name;
    }
}
