package io.zerohop.policy.internal;

import io.zerohop.policy.PolicyLoadException;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads and validates the value lists of an AuthorizationPolicy (strings, IPs and CIDRs, service
 * accounts, ports) as istiod's {@code pkg/config/security/security.go} and
 * {@code pkg/config/validation/validation.go} do (CheckEmptyValues, CheckWildcardValues,
 * ValidateIPs, CheckServiceAccount, ValidatePorts), and words them for decisions' explanations.
 */
final class IstioValues {

    private IstioValues() {
    }

    static String part(String attribute, List<String> values, boolean negative) {
        String op = negative ? (values.size() == 1 ? "not " : "not in ") : (values.size() == 1 ? "" : "in ");
        return attribute + " " + op + (values.size() == 1 ? values.get(0) : list(values));
    }

    /** At most this many values of a list are written into an explanation. */
    static final int SHOWN = 10;

    /**
     * {@code values} as {@code [a, b, c]}, the first {@link #SHOWN} only, then how many more: an explanation is built once
     * per rule and written into every access line it decides, and a rule of 100,000 principals wrote ~3 MB per denied
     * tunnel (a new-user pass ran a proxy out of heap so with a stalled log reader).
     */
    static String list(List<?> values) {
        if (values.size() <= SHOWN) {
            return values.toString();
        }
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < SHOWN; i++) {
            b.append(i == 0 ? "" : ", ").append(values.get(i));
        }
        return b.append(", ... ").append(values.size() - SHOWN).append(" more]").toString();
    }

    /** A list of non-empty strings (istiod's CheckEmptyValues; quoted as the CRD's string type requires). */
    static List<String> values(YNode parent, String key) throws PolicyLoadException {
        // Asked for every field a source or operation may have, present or not: the name for the error only when present.
        return parent.get(key) == null ? List.of() : Fields.strings(parent, key, capitalize(key));
    }

    /** Whether {@code key} holds a list with at least one entry. */
    static boolean nonEmpty(YNode parent, String key) throws PolicyLoadException {
        YNode n = parent.get(key);
        return n != null && !n.items().isEmpty();
    }

    static String capitalize(String key) {
        return Character.toUpperCase(key.charAt(0)) + key.substring(1);
    }

    static StringMatch[] matches(List<String> values, boolean ignoreCase) {
        StringMatch[] out = new StringMatch[values.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = StringMatch.parse(values.get(i), ignoreCase);
        }
        return out;
    }

    static StringMatch[] field(YNode parent, String key, String attribute, boolean ignoreCase,
                                       List<String> describe) throws PolicyLoadException {
        List<String> values = values(parent, key);
        if (values.isEmpty()) {
            return IstioPolicy.NO_STRINGS;
        }
        describe.add(part(attribute, values, key.startsWith("not")));
        return matches(values, ignoreCase);
    }

    /** istiod's CheckWildcardValues. */
    static void wildcards(YNode parent, String key) throws PolicyLoadException {
        YNode n = parent.get(key);
        if (n == null) {
            return;
        }
        for (YNode item : n.items()) {
            String v = item.string();
            int count = v.length() - v.replace("*", "").length();
            if (count > 1) {
                throw item.error("at most one wildcard is allowed, found in " + capitalize(key) + ": \"" + v + "\"");
            }
            if (count == 1 && !v.equals("*") && !v.startsWith("*") && !v.endsWith("*")) {
                throw item.error("wildcard is only allowed at the start or end, found in " + capitalize(key) + ": \"" + v + "\"");
            }
        }
    }

    static void trustDomainValues(YNode parent, String key) throws PolicyLoadException {
        wildcards(parent, key);
        YNode n = parent.get(key);
        if (n != null) {
            for (YNode item : n.items()) {
                if (item.string().contains("/")) {
                    throw item.error("trust domain must not contain '/', found in " + capitalize(key) + ": \""
                            + item.string() + "\"");
                }
            }
        }
    }


    static Cidr[] cidrs(YNode parent, String key, String attribute, List<String> describe) throws PolicyLoadException {
        List<String> values = values(parent, key);
        if (values.isEmpty()) {
            return IstioPolicy.NO_CIDRS;
        }
        Cidr[] out = new Cidr[values.size()];
        List<YNode> items = parent.get(key).items();
        for (int i = 0; i < out.length; i++) {
            out[i] = ipOrCidr(items.get(i));
        }
        describe.add(part(attribute, values, key.startsWith("not")));
        return out;
    }

    /** istiod's ValidateIPs: Go's netip parsing, so no leading zeros ({@code 010.0.0.1} is refused). */
    static Cidr ipOrCidr(YNode n) throws PolicyLoadException {
        String v = n.string();
        Cidr c = Cidr.parse(v);
        if (c == null) {
            throw n.error(v.contains("/") ? "bad CIDR range (" + v + ")" : "bad IP address (" + v + ")");
        }
        return c;
    }

    /** istiod's CheckServiceAccount; entries are {@code name} (the policy's namespace) or {@code ns/name}. */
    static IstioServiceAccounts serviceAccounts(YNode src, String key, String namespace, List<String> describe)
            throws PolicyLoadException {
        YNode n = src.get(key);
        if (n == null || n.items().isEmpty()) {
            return IstioServiceAccounts.NONE;
        }
        List<YNode> items = n.items();
        if (items.size() > 16) {
            throw n.error("may not have more than 16 values");
        }
        String[] nss = new String[items.size()];
        String[] names = new String[items.size()];
        List<String> texts = new ArrayList<>();
        String field = capitalize(key);
        for (int i = 0; i < items.size(); i++) {
            YNode item = items.get(i);
            String v = item.string();
            if (v.isEmpty()) {
                throw item.error("empty value not allowed, found in " + field);
            }
            if (v.contains("*")) {
                throw item.error("wildcard not allowed, found in " + field);
            }
            int slashes = v.length() - v.replace("/", "").length();
            if (slashes > 1) {
                throw item.error("expected format 'serviceAccount' or 'namespace/serviceAccount', found \"" + v + "\" in " + field);
            }
            // Go's len: bytes of UTF-8, not characters (security.go CheckServiceAccount).
            if (v.length() > 320 || v.getBytes(java.nio.charset.StandardCharsets.UTF_8).length > 320) {
                // istiod's text verbatim (pkg/config/security/security.go), whose Go len counts UTF-8 bytes: said so when they differ.
                int bytes = v.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
                throw item.error("value cannot exceed 320 characters, found \"" + v + "\" in " + field
                        + (bytes != v.length() ? " (" + bytes + " bytes in UTF-8, which istiod counts)" : ""));
            }
            int slash = v.indexOf('/');
            if (slash == 0) {
                throw item.error("expected format 'serviceAccount' or 'namespace/serviceAccount', found empty namespace \""
                        + v + "\" in " + field);
            }
            if (slash == v.length() - 1) {
                throw item.error("expected format 'serviceAccount' or 'namespace/serviceAccount', found empty serviceAccount \""
                        + v + "\" in " + field);
            }
            nss[i] = slash < 0 ? namespace : v.substring(0, slash);
            names[i] = slash < 0 ? v : v.substring(slash + 1);
            texts.add(nss[i] + "/" + names[i]);
        }
        describe.add(part("source.serviceAccount", texts, key.startsWith("not")));
        return new IstioServiceAccounts(nss, names);
    }

    /** istiod's ValidatePorts: a decimal 0..65535 given as a string. */
    static int[] ports(YNode parent, String key, String field) throws PolicyLoadException {
        YNode n = parent.get(key);
        if (n == null) {
            return IstioPolicy.NO_PORTS;
        }
        List<YNode> items = n.items();
        int[] out = new int[items.size()];
        for (int i = 0; i < out.length; i++) {
            YNode item = items.get(i);
            String v = item.string();
            if (v.isEmpty()) {
                throw item.error("empty value not allowed, found in " + field);
            }
            // Go's strconv.ParseUint(v, 10, 32) (security.ValidatePorts, ambient stringToPort): decimal digits
            // only, any number of leading zeros.
            long p = -1;
            if (v.chars().allMatch(c -> c >= '0' && c <= '9')) {
                String digits = v.replaceFirst("^0+(?=.)", "");
                p = digits.length() <= 10 ? Long.parseLong(digits) : -1;
            }
            if (p < 0 || p > 65535) {
                throw item.error("bad port (" + v + ")");
            }
            out[i] = (int) p;
        }
        return out;
    }

}
