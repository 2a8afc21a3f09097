package io.zerohop.policy.internal;

import static io.zerohop.policy.internal.IstioPolicy.NO_CIDRS;
import static io.zerohop.policy.internal.IstioPolicy.NO_PORTS;
import static io.zerohop.policy.internal.IstioPolicy.NO_STRINGS;
import static io.zerohop.policy.internal.IstioPolicy.portIn;

import io.zerohop.policy.AccessRequest;

/**
 * A compiled {@code when} condition of an Istio AuthorizationPolicy rule; keys are resolved to an
 * int at compile time ({@link IstioConditions}). Matched as the conditions istiod generates
 * ({@code pilot/pkg/security/authz/model}); {@link #l4} marks the five keys istiod's ambient
 * conversion passes to ztunnel.
 */
final class IstioCondition implements Cloneable {
    static final int SOURCE_IP = 0;
    static final int SOURCE_NAMESPACE = 1;
    static final int SOURCE_PRINCIPAL = 2;
    static final int DESTINATION_IP = 3;
    static final int DESTINATION_PORT = 4;
    static final int REMOTE_IP = 5;
    static final int CONNECTION_SNI = 6;
    static final int REQUEST_HEADER = 7;
    /** experimental.envoy.filters.*: no such filter metadata here, so always absent. */
    static final int ABSENT = 8;
    static final int SOURCE_SERVICE_ACCOUNT = 9;
    static final int SOURCE_TRUST_DOMAIN = 10;
    /**
     * A key istiod's validation accepts but its generator cannot build: {@code request.headers} or
     * {@code request.auth.claims} followed by something other than {@code [} ({@code request.headers [x-user]}: validateMapKey
     * asks only for a {@code [} somewhere and a final {@code ]}; extractNameInBrackets and extractNameInNestedBrackets,
     * pilot/pkg/security/authz/model/util.go, want the name's bracket right after the prefix). istiod's
     * {@code rule.checkError} (model.go) then drops the whole rule of an ALLOW policy (fewer requests allowed) and only the
     * condition of a DENY, AUDIT or CUSTOM one (more requests matched): {@link #dropsRule}.
     */
    static final int UNBUILDABLE = 11;
    /** request.auth.principal: the verified JWT's iss and sub ({@link RequestAuthMatch#anyPrincipal}). */
    static final int REQUEST_PRINCIPAL = 12;
    /** request.auth.audiences, request.auth.presenter, request.auth.claims[...]: a claim ({@link RequestAuthMatch#claim}). */
    static final int REQUEST_CLAIM = 13;

    /**
     * istiod's HeaderMatcher (pilot/pkg/security/authz/matcher/header.go): {@code *} is Envoy's
     * present_match, true for a header sent with an empty value; the other forms compare the value.
     */
    private static boolean headerAny(StringMatch[] ms, String value) {
        if (value == null) {
            return false;
        }
        for (StringMatch m : ms) {
            if (m.kind == StringMatch.Kind.PRESENCE || m.matches(value)) {
                return true;
            }
        }
        return false;
    }

    /**
     * The value Envoy's header matcher sees for {@link #header}: the pseudo-headers {@code :authority}
     * (the Host of an HTTP/1 request, also under the name {@code host}), {@code :method} and {@code :path} (normalised as Istio's default,
     * query kept, as Envoy rewrites {@code :path} before its filters) come from the request line; other
     * names from the headers; null when absent.
     */
    private String headerValue(AccessRequest r) {
        io.zerohop.policy.HttpAttributes h = r.http();
        switch (header) {
            case ":authority":
            case "host":
                // Envoy's header map looks "host" up as :authority (header_map_impl.cc StaticLookupTable).
                return h.host().isEmpty() ? null : h.host();
            case ":method":
                return h.method();
            case ":path": {
                String raw = h.path();
                String normalised = PathNormalizer.forIstio(raw);
                int q = raw.indexOf('?');
                if (normalised == null || q < 0) {
                    return normalised;
                }
                int hash = raw.indexOf('#', q);
                return normalised + raw.substring(q, hash < 0 ? raw.length() : hash);
            }
            default:
                return h.header(header);
        }
    }

    final int key;
    final String header;
    /** One of the five keys istiod's ambient conversion passes to ztunnel. */
    final boolean l4;
    /** {@code !l4}; the earlier name, kept for code written against it. */
    final boolean l7;
    StringMatch[] values = NO_STRINGS;
    StringMatch[] notValues = NO_STRINGS;
    /** {@code source.principal} only: the values Envoy matches after istiod's trust-domain migration ({@link TrustDomains}). */
    StringMatch[] valuesL7 = NO_STRINGS;
    StringMatch[] notValuesL7 = NO_STRINGS;
    /** {@code source.principal} and {@code source.trustDomain}: the values as written, migrated by {@link #withTrustDomains}. */
    java.util.List<String> written = java.util.List.of();
    java.util.List<String> notWritten = java.util.List.of();
    Cidr[] cidrs = NO_CIDRS;
    Cidr[] notCidrs = NO_CIDRS;
    int[] ports = NO_PORTS;
    int[] notPorts = NO_PORTS;
    IstioServiceAccounts serviceAccounts = IstioServiceAccounts.NONE;
    IstioServiceAccounts notServiceAccounts = IstioServiceAccounts.NONE;
    /** {@link #REQUEST_PRINCIPAL}: the values as istiod's requestPrincipalGenerator reads them. */
    RequestAuthMatch.Principal[] principals = RequestAuthMatch.NO_PRINCIPALS;
    RequestAuthMatch.Principal[] notPrincipals = RequestAuthMatch.NO_PRINCIPALS;
    /** {@link #REQUEST_CLAIM}: the claim's path in the payload. */
    String[] claimPath;
    boolean hasValues;
    boolean hasNotValues;
    /** {@link #UNBUILDABLE} in an ALLOW policy: the rule matches no request; in any other, this condition matches every one. */
    boolean dropsRule;

    IstioCondition(int key, String header) {
        this.key = key;
        this.header = header;
        this.l4 = key == SOURCE_IP || key == SOURCE_NAMESPACE || key == SOURCE_PRINCIPAL
                || key == DESTINATION_IP || key == DESTINATION_PORT;
        this.l7 = !l4;
    }

    /**
     * The L7 view for trust domain bundle {@code bundle} ({@link TrustDomains}): {@code source.principal}'s
     * {@link #valuesL7} and {@link #notValuesL7} migrated, {@code source.trustDomain}'s values (matched at L7 only)
     * expanded. Called with istiod's default bundle at compile time, and on a copy by {@link #withTrustDomains}.
     */
    void migrate(java.util.List<String> bundle) {
        if (key == SOURCE_PRINCIPAL) {
            valuesL7 = IstioValues.matches(TrustDomains.migrateAll(written, bundle), false);
            notValuesL7 = IstioValues.matches(TrustDomains.migrateAll(notWritten, bundle), false);
        } else if (key == SOURCE_TRUST_DOMAIN) {
            values = IstioValues.matches(TrustDomains.expandAll(written, bundle), false);
            notValues = IstioValues.matches(TrustDomains.expandAll(notWritten, bundle), false);
        }
    }

    /** This condition for another trust domain bundle: itself when its key has no trust domain in it, else a migrated copy. */
    IstioCondition withTrustDomains(java.util.List<String> bundle) {
        if (key != SOURCE_PRINCIPAL && key != SOURCE_TRUST_DOMAIN) {
            return this;
        }
        IstioCondition c;
        try {
            c = (IstioCondition) clone();
        } catch (CloneNotSupportedException e) {
            throw new AssertionError(e);
        }
        c.migrate(bundle);
        return c;
    }

    /** At L4 ({@code l4}) a key ztunnel lacks is an empty match: never; each when entry is its own clause. */
    boolean matches(AccessRequest r, String path, boolean l4) {
        return l4 ? this.l4 && matches(r, true) : matches(r, false);
    }

    /**
     * On a connection that should have been parsed as HTTP and could not be: a key ztunnel evaluates as
     * at L4, any other key as matched (what it would have tested is unknown; see {@link IstioPolicy.Rule#matchesUnparsed}).
     */
    boolean matchesUnparsed(AccessRequest r) {
        // source.principal either way, as written or migrated (IstioSource.matchesUnparsed says why).
        return !this.l4 || matches(r, true) || (key == SOURCE_PRINCIPAL && matches(r, false));
    }

    /** As Envoy evaluates it (L7). */
    boolean matches(AccessRequest r, String path) {
        return matches(r, false);
    }

    private boolean matches(AccessRequest r, boolean l4) {
        if (key == UNBUILDABLE) {
            return !dropsRule;
        }
        if (hasValues && !test(r, false, l4)) {
            return false;
        }
        return !hasNotValues || !test(r, true, l4);
    }

    private boolean test(AccessRequest r, boolean negative, boolean l4) {
        StringMatch[] sm = negative ? notValues : values;
        switch (key) {
            case SOURCE_IP:
                return Cidr.any(negative ? notCidrs : cidrs, r.sourceAddress());
            case REMOTE_IP:
                return Cidr.any(negative ? notCidrs : cidrs, Cidr.remoteAddress(r));
            case DESTINATION_IP:
                return Cidr.any(negative ? notCidrs : cidrs, r.destinationAddress());
            case DESTINATION_PORT:
                return portIn(negative ? notPorts : ports, r.destinationPort());
            case SOURCE_NAMESPACE:
                // Envoy reads a namespace like te*t as a regex (srcNamespaceGenerator), ztunnel as written.
                return !l4 && StringMatch.anyEnvoyNamespaceGlob(sm) ? IstioSource.namespaceL7(sm, r.sourcePrincipal())
                        : IstioSource.namespaceAny(sm, r.sourcePrincipal());
            case SOURCE_PRINCIPAL:
                return IstioSource.principalAny(l4 ? sm : negative ? notValuesL7 : valuesL7, r.sourcePrincipal());
            case SOURCE_TRUST_DOMAIN:
                return IstioSource.trustDomainAny(sm, r.sourcePrincipal());
            case SOURCE_SERVICE_ACCOUNT:
                return (negative ? notServiceAccounts : serviceAccounts).any(r.sourcePrincipal());
            case CONNECTION_SNI:
                return StringMatch.any(sm, r.sni());
            case REQUEST_HEADER:
                return r.http() != null && headerAny(sm, headerValue(r));
            case REQUEST_PRINCIPAL:
                return r.http() != null && RequestAuthMatch.anyPrincipal(negative ? notPrincipals : principals, r.http().auth());
            case REQUEST_CLAIM:
                return r.http() != null && RequestAuthMatch.claim(claimPath, sm, r.http().auth());
            default:
                return false;
        }
    }
}
