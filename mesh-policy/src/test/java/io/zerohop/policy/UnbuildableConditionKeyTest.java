package io.zerohop.policy;

import static io.zerohop.policy.ConformanceTest.ap;
import static io.zerohop.policy.R.r;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A {@code when} key istiod's validation accepts but its generator cannot build (found by an Istio authz pass on
 * 4 December; until then each of these widened access). istio/istio pkg/config/security/security.go
 * {@code ValidateAttribute} takes any key that starts with {@code request.headers} or {@code request.auth.claims} and
 * passes {@code validateMapKey} (a {@code [} somewhere, a final {@code ]}); pilot/pkg/security/authz/model/util.go
 * {@code extractNameInBrackets} / {@code extractNameInNestedBrackets} then want the name's {@code [} right after the
 * prefix (their tests: {@code TestExtractNameInBrackets}, {@code "bad]"} fails). model.go {@code rule.checkError}
 * returns that error for an ALLOW policy, and builder.go skips the rule; for DENY, AUDIT and CUSTOM it drops only the
 * condition, so the rule matches more.
 */
class UnbuildableConditionKeyTest {

    private static PolicyEngine engine(String yaml) throws Exception {
        return PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", yaml)).build();
    }

    @Test
    void anAllowRuleWithSuchAKeyIsDroppedAndItsPolicyStillApplies() throws Exception {
        // A space before the bracket: zerohop read the header after the first '[' and allowed x-user: admin.
        PolicyEngine e = engine(ap("prod", "allow-admin",
                "{rules: [{when: [{key: \"request.headers [x-user]\", values: [admin]}]}, {to: [{operation: {paths: [/public]}}]}]}"));
        Decision admin = e.evaluate(r().http("GET", "/", "backend", Map.of("x-user", "admin")).build());
        assertThat(admin.allowed()).as(admin.explain()).isFalse();
        assertThat(admin.outcome()).isEqualTo(Decision.Outcome.DENIED_DEFAULT);
        // The policy's other rule is built and allows as before.
        assertThat(e.evaluate(r().http("GET", "/public").build()).allowed()).isTrue();
        // Spelled right, the same rule allows.
        PolicyEngine right = engine(ap("prod", "allow-admin", "{rules: [{when: [{key: \"request.headers[x-user]\", values: [admin]}]}]}"));
        assertThat(right.evaluate(r().http("GET", "/", "backend", Map.of("x-user", "admin")).build()).allowed()).isTrue();
    }

    @Test
    void aClaimsKeyWithoutItsBracketDropsTheAllowRuleToo() throws Exception {
        // notValues on an absent claim matched every request (no JWT here), so this allowed all.
        PolicyEngine e = engine(ap("prod", "allow-not-guest",
                "{rules: [{when: [{key: \"request.auth.claims.groups[0]\", notValues: [guest]}]}]}"));
        assertThat(e.evaluate(r().http("GET", "/").build()).allowed()).isFalse();
        PolicyEngine right = engine(ap("prod", "allow-not-guest",
                "{rules: [{when: [{key: \"request.auth.claims[groups]\", notValues: [guest]}]}]}"));
        assertThat(right.evaluate(r().http("GET", "/").build()).allowed()).isTrue();
    }

    @Test
    void aDenyRuleLosesOnlyTheCondition() throws Exception {
        for (String key : new String[] {"request.headers [x-user]", "request.auth.claimsX[a]", "request.headersX[a]"}) {
            PolicyEngine e = engine(ap("prod", "deny-x", "{action: DENY, rules: [{to: [{operation: {methods: [POST]}}],"
                    + " when: [{key: \"" + key + "\", values: [admin]}]}]}"));
            Decision post = e.evaluate(r().http("POST", "/").build());
            assertThat(post.allowed()).as(key).isFalse();
            assertThat(post.outcome()).isEqualTo(Decision.Outcome.DENIED_BY_RULE);
            assertThat(post.explain()).contains("when key " + key + " (the condition dropped: istiod cannot build it)");
            // The rule's other field still decides.
            assertThat(e.evaluate(r().http("GET", "/").build()).allowed()).as(key).isTrue();
        }
        // Spelled right, a request without the header is not denied.
        PolicyEngine right = engine(ap("prod", "deny-x",
                "{action: DENY, rules: [{when: [{key: \"request.headers[x-user]\", values: [admin]}]}]}"));
        assertThat(right.evaluate(r().http("POST", "/").build()).allowed()).isTrue();
    }

    @Test
    void aCustomRuleLosesOnlyTheCondition() throws Exception {
        PolicyEngine e = engine(ap("prod", "ext", "{action: CUSTOM, provider: {name: opa},"
                + " rules: [{when: [{key: \"request.headers [x-user]\", values: [admin]}]}]}"));
        Decision d = e.evaluate(r().http("GET", "/").build());
        assertThat(d.outcome()).isEqualTo(Decision.Outcome.DENIED_CUSTOM);
    }

    @Test
    void theLoaderSaysWhereAndWhat() throws Exception {
        PolicySet allow = PolicyLoader.fromString("p.yaml", ap("prod", "allow-admin",
                "{rules: [{when: [{key: \"request.headers [x-user]\", values: [admin]}]}]}"));
        assertThat(allow.warnings()).anySatisfy(w -> assertThat(w)
                .startsWith("p.yaml:4: ")
                .contains("spec.rules[0].when[0].key \"request.headers [x-user]\"")
                .contains("istiod accepts this key but cannot build it")
                .contains("this ALLOW rule is dropped: it allows no request"));
        PolicySet deny = PolicyLoader.fromString("p.yaml", ap("prod", "deny-x",
                "{action: DENY, rules: [{when: [{key: \"request.auth.claimsX[a]\", values: [x]}]}]}"));
        assertThat(deny.warnings()).anySatisfy(w -> assertThat(w)
                .contains("spec.rules[0].when[0].key \"request.auth.claimsX[a]\"")
                .contains("this condition is dropped"));
        // Not also described as an absent JWT claim, whose notValues would match.
        assertThat(deny.warnings()).noneSatisfy(w -> assertThat(w).contains("request authentication attributes (request.auth.claimsX[a])"));
        // Nor as an HTTP attribute zerohop enforces itself: it enforces none of it (a new-user pass read the note so).
        assertThat(allow.warnings()).noneSatisfy(w -> assertThat(w).contains("zerohop enforces them itself"));
        assertThat(deny.warnings()).noneSatisfy(w -> assertThat(w).contains("zerohop enforces them itself"));
    }

    /**
     * On a port zerohop does not parse, a DENY rule with a {@code when} key that is no L4 attribute never matches, as
     * istiod's ztunnel translation leaves it an empty match (pilot/pkg/serviceregistry/ambient/authorization.go
     * handleRule, hasEffectiveRules: "Groups with only empty matches are skipped by ztunnel"); the warning says both.
     */
    @Test
    void aDenyRuleWithTheKeyDeniesNothingAtL4AndTheWarningSaysSo() throws Exception {
        String spec = "{action: DENY, rules: [{from: [{source: {namespaces: [prod]}}], when: [{key: \"request.headers [x-user]\","
                + " values: [admin]}]}]}";
        PolicyEngine e = engine(ap("prod", "deny-x", spec));
        assertThat(e.evaluate(r().http("GET", "/").build()).allowed()).as("HTTP: the rule's other field decides").isFalse();
        assertThat(e.evaluate(r().build()).allowed()).as("opaque TCP: ztunnel skips the rule").isTrue();
        assertThat(PolicyLoader.fromString("p.yaml", ap("prod", "deny-x", spec)).warnings()).anySatisfy(w -> assertThat(w)
                .contains("this condition is dropped: on ports zerohop parses as HTTP the rule matches whatever its other"
                        + " fields match; on ports declared tcp (never parsed) the rule never matches, as ztunnel skips a rule with a"
                        + " condition that is no L4 attribute"));
    }

    /**
     * A pseudo-header zerohop's requests do not carry (:protocol) is warned: its condition never matches here, unlike
     * Envoy's. :scheme is carried (mesh-core sets it as Envoy's connection manager does) and not warned.
     */
    @Test
    void aConditionOnAPseudoHeaderZerohopHasNoValueForIsWarned() throws Exception {
        PolicySet deny = PolicyLoader.fromString("p.yaml", ap("prod", "deny-ws",
                "{action: DENY, rules: [{when: [{key: \"request.headers[:protocol]\", values: [websocket]}]}]}"));
        assertThat(deny.warnings()).anySatisfy(w -> assertThat(w).startsWith("p.yaml:4: ")
                .contains("spec.rules[0].when[0].key \"request.headers[:protocol]\": zerohop has no value for the pseudo-header"
                        + " :protocol (only :authority, :method, :path and :scheme)").contains("a DENY rule denies nothing through it"));
        for (String key : new String[] {":authority", ":scheme"}) {
            PolicySet set = PolicyLoader.fromString("p.yaml", ap("prod", "allow-it",
                    "{rules: [{when: [{key: \"request.headers[" + key + "]\", values: [x]}]}]}"));
            assertThat(set.warnings()).as(key).noneSatisfy(w -> assertThat(w).contains("zerohop has no value for the pseudo-header"));
        }
    }

    /** request.headers[:scheme] reads the header map's :scheme, which mesh-core fills for every request. */
    @Test
    void aDenyOnSchemeDeniesTheRequestsWithThatScheme() throws Exception {
        PolicyEngine e = PolicyEngine.builder().policies(PolicyLoader.fromString("p.yaml", ap("prod", "deny-http",
                "{action: DENY, rules: [{when: [{key: \"request.headers[:scheme]\", values: [http]}]}]}"))).build();
        assertThat(e.evaluate(r().http("GET", "/", "backend", Map.of(":scheme", "http")).build()).allowed()).isFalse();
        assertThat(e.evaluate(r().http("GET", "/", "backend", Map.of(":scheme", "https")).build()).allowed()).isTrue();
    }
}
