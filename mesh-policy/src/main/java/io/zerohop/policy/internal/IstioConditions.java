package io.zerohop.policy.internal;

import static io.zerohop.policy.internal.IstioValues.cidrs;
import static io.zerohop.policy.internal.IstioValues.matches;
import static io.zerohop.policy.internal.IstioValues.part;
import static io.zerohop.policy.internal.IstioValues.ports;
import static io.zerohop.policy.internal.IstioValues.serviceAccounts;
import static io.zerohop.policy.internal.IstioValues.values;
import static io.zerohop.policy.internal.IstioValues.wildcards;

import io.zerohop.policy.PolicyLoadException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Compiles one {@code when} condition of an AuthorizationPolicy rule: its key checked against
 * the attributes istiod knows ({@code pkg/config/security/security.go} ValidateAttribute and
 * validateMapKey, the key list of istio.io's authorization conditions reference), its values
 * parsed by the key's type, and whether ztunnel receives it (the five keys istiod's ambient
 * conversion passes on, {@code pilot/pkg/serviceregistry/ambient/authorization.go}).
 */
final class IstioConditions {

    private IstioConditions() {
    }

    /** istiod's validateMapKey: {@code a[b]} with a non-empty b. */
    private static boolean validMapKey(String key) {
        int open = key.indexOf('[');
        return key.endsWith("]") && open > 0 && open < key.length() - 2;
    }

    /**
     * Whether {@code key} (valid for istiod's validation) is one its generator cannot build: {@code request.headers} or
     * {@code request.auth.claims} not followed by {@code [} ({@link IstioCondition#UNBUILDABLE}).
     */
    static boolean unbuildable(String key) {
        for (String prefix : new String[] {"request.headers", "request.auth.claims"}) {
            if (key.startsWith(prefix) && key.length() > prefix.length() && key.charAt(prefix.length()) != '[') {
                return true;
            }
        }
        return false;
    }

    static IstioCondition condition(YNode n, String namespace, int action, List<String> parts,
                                                   List<String> l7, FoundFields httpFound) throws PolicyLoadException {
        YNode keyNode = n.get("key");
        String key = keyNode == null ? "" : keyNode.string();
        if (key.isEmpty()) {
            // istiod's message; a missing key is the CRD's `required: [key]` too (istio/api authorization_policy.proto,
            // Condition.key REQUIRED), which the API server reports first.
            throw n.error("`key` must not be empty" + (keyNode == null ? " (the CRD: " + n.path + ".key: Required value)" : ""));
        }
        List<String> values = values(n, "values");
        List<String> notValues = values(n, "notValues");
        if (values.isEmpty() && notValues.isEmpty()) {
            throw n.error("at least one of `values` or `notValues` must be set for key " + key);
        }
        if (action == IstioPolicy.CUSTOM && (key.equals("source.namespace") || key.equals("source.serviceAccount")
                || key.equals("source.trustDomain") || key.equals("source.principal") || key.startsWith("request.auth."))) {
            throw keyNode.error(key + " is currently not supported with CUSTOM action");
        }
        int kind;
        String header = null;
        if (key.startsWith("request.headers")) {
            if (!validMapKey(key)) {
                throw keyNode.error("bad key (" + key + "): should have format a[b]");
            }
            if (unbuildable(key)) {
                kind = IstioCondition.UNBUILDABLE;
            } else {
                kind = IstioCondition.REQUEST_HEADER;
                header = key.substring(key.indexOf('[') + 1, key.length() - 1).toLowerCase(Locale.ROOT);
            }
        } else if (key.startsWith("request.auth.claims") || key.startsWith("experimental.envoy.filters.")) {
            if (!validMapKey(key)) {
                throw keyNode.error("bad key (" + key + "): should have format a[b]");
            }
            kind = unbuildable(key) ? IstioCondition.UNBUILDABLE
                    : key.startsWith("request.auth.claims") ? IstioCondition.REQUEST_CLAIM : IstioCondition.ABSENT;
        } else {
            kind = switch (key) {
                case "source.ip" -> IstioCondition.SOURCE_IP;
                case "remote.ip" -> IstioCondition.REMOTE_IP;
                case "source.namespace" -> IstioCondition.SOURCE_NAMESPACE;
                case "source.principal" -> IstioCondition.SOURCE_PRINCIPAL;
                case "source.serviceAccount" -> IstioCondition.SOURCE_SERVICE_ACCOUNT;
                case "source.trustDomain" -> IstioCondition.SOURCE_TRUST_DOMAIN;
                case "destination.ip" -> IstioCondition.DESTINATION_IP;
                case "destination.port" -> IstioCondition.DESTINATION_PORT;
                case "connection.sni" -> IstioCondition.CONNECTION_SNI;
                case "request.auth.principal" -> IstioCondition.REQUEST_PRINCIPAL;
                case "request.auth.audiences", "request.auth.presenter" -> IstioCondition.REQUEST_CLAIM;
                case "destination.namespace" -> throw keyNode.error("attribute " + key + " is replaced by the metadata.namespace");
                case "destination.name", "destination.user" ->
                        throw keyNode.error("deprecated attribute " + key + ": only supported in v1alpha1");
                default -> {
                    if (key.startsWith("destination.labels")) {
                        throw keyNode.error("attribute " + key + " is replaced by the workload selector");
                    }
                    throw keyNode.error("unknown attribute: " + key);
                }
            };
        }
        IstioCondition c = new IstioCondition(kind, header);
        if (kind == IstioCondition.REQUEST_PRINCIPAL) {
            c.principals = RequestAuthMatch.principals(values);
            c.notPrincipals = RequestAuthMatch.principals(notValues);
        } else if (kind == IstioCondition.REQUEST_CLAIM) {
            // istiod's generators: audiences the aud claim, presenter azp, claims[...] extractNameInNestedBrackets.
            c.claimPath = key.equals("request.auth.audiences") ? RequestAuthMatch.AUDIENCES
                    : key.equals("request.auth.presenter") ? RequestAuthMatch.PRESENTER
                    : RequestAuthMatch.claimPath(key.substring("request.auth.claims".length()));
        }
        c.hasValues = !values.isEmpty();
        c.hasNotValues = !notValues.isEmpty();
        if (kind == IstioCondition.UNBUILDABLE) {
            c.dropsRule = action == IstioPolicy.ALLOW;
            httpFound.add(key, n);
            l7.add("when key " + key + " (" + (c.dropsRule ? "the rule dropped" : "the condition dropped")
                    + ": istiod cannot build it)");
            return c;
        }
        switch (kind) {
            case IstioCondition.SOURCE_IP, IstioCondition.REMOTE_IP, IstioCondition.DESTINATION_IP -> {
                c.cidrs = cidrs(n, "values", key, new ArrayList<>());
                c.notCidrs = cidrs(n, "notValues", key, new ArrayList<>());
            }
            case IstioCondition.DESTINATION_PORT -> {
                c.ports = ports(n, "values", key);
                c.notPorts = ports(n, "notValues", key);
            }
            case IstioCondition.SOURCE_SERVICE_ACCOUNT -> {
                c.serviceAccounts = serviceAccounts(n, "values", namespace, new ArrayList<>());
                c.notServiceAccounts = serviceAccounts(n, "notValues", namespace, new ArrayList<>());
            }
            default -> {
                if (kind == IstioCondition.SOURCE_TRUST_DOMAIN) {
                    wildcards(n, "values");
                    wildcards(n, "notValues");
                }
                c.values = matches(values, false);
                c.notValues = matches(notValues, false);
                if (kind == IstioCondition.SOURCE_PRINCIPAL || kind == IstioCondition.SOURCE_TRUST_DOMAIN) {
                    c.written = List.copyOf(values);
                    c.notWritten = List.copyOf(notValues);
                    c.migrate(TrustDomains.DEFAULT);
                }
                if (kind == IstioCondition.SOURCE_NAMESPACE) {
                    c.values = StringMatch.asNamespaces(c.values);
                    c.notValues = StringMatch.asNamespaces(c.notValues);
                }
            }
        }
        if (!c.l4) {
            httpFound.add(key, n);
        }
        List<String> target = c.l4 ? parts : l7;
        if (!values.isEmpty()) {
            target.add(part(key, values, false));
        }
        if (!notValues.isEmpty()) {
            target.add(part(key, notValues, true));
        }
        return c;
    }
}
