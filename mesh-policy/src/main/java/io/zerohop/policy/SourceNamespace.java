package io.zerohop.policy;

import java.util.Objects;

/**
 * A namespace a loaded AuthorizationPolicy's rule names as a source ({@code rules[].from[].source.namespaces} or
 * {@code notNamespaces}), as its file wrote it: for tools that tell a user it names a namespace that does not exist, as
 * Istio's analyzer IST0101 ReferencedResourceNotFound does (istio/istio
 * pkg/config/analysis/analyzers/authz/authorizationpolicies.go {@code analyzeNamespaceNotFound}). A mistyped one is a
 * valid policy whose rule matches no source from there: a DENY then denies nothing from it. The decision never reads
 * this.
 *
 * @param policy    the policy, with its {@code spec.action} as written ({@code ALLOW} when absent); non-null
 * @param field     the field path, {@code spec.rules[0].from[1].source.notNamespaces[0]}; non-null
 * @param line      the 1-based line of the value in its file, 0 for a policy built in memory
 * @param namespace the value as written: a name, {@code *}, or a {@code prefix*} / {@code *suffix} pattern; non-null
 * @param file      the file the policy was read from, as the loader's other messages name it; null for a policy built
 *                  in memory
 */
public record SourceNamespace(PolicyRef policy, String field, int line, String namespace, String file) {

    public SourceNamespace {
        Objects.requireNonNull(policy, "policy");
        Objects.requireNonNull(field, "field");
        Objects.requireNonNull(namespace, "namespace");
    }

    /** A value of a policy built in memory: no file. */
    public SourceNamespace(PolicyRef policy, String field, int line, String namespace) {
        this(policy, field, line, namespace, null);
    }

    /** {@code file:line: } for a value read from a file, else "": the prefix of a tool's line about it. */
    public String place() {
        return file == null ? "" : file + ":" + line + ": ";
    }

    /**
     * Whether {@code namespace} (a namespace's name) matches this value as istiod's analyzer matches one
     * ({@code namespaceMatch}: {@code *} all, a leading or trailing {@code *} a suffix or prefix, else the name, in any
     * case).
     */
    public boolean matches(String name) {
        String exp = this.namespace;
        if (exp.equals("*")) {
            return true;
        }
        if (exp.startsWith("*")) {
            return name.endsWith(exp.substring(1));
        }
        if (exp.endsWith("*")) {
            return name.startsWith(exp.substring(0, exp.length() - 1));
        }
        return name.equalsIgnoreCase(exp);
    }
}
