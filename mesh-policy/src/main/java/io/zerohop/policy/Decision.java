package io.zerohop.policy;

import java.util.Objects;

/**
 * The outcome of one evaluation. Instances are built when policies are compiled and
 * shared between evaluations, so a decision never carries request data.
 *
 * @param allowed   whether the connection or request may proceed
 * @param outcome   how the decision was reached
 * @param policy    the deciding policy, or null when no policy applied
 * @param ruleIndex index of the deciding rule within the policy, -1 when no single rule decided
 * @param reason    short human-readable explanation
 * @param dryRun    what the {@code istio.io/dry-run} policies in scope would have decided had they
 *                  been enforced (e.g. {@code DENY by prod/deny-legacy (AuthorizationPolicy DENY, rule 0): ...}),
 *                  or null when none is in scope; never changes {@link #allowed()}
 */
public record Decision(boolean allowed, Outcome outcome, PolicyRef policy, int ruleIndex, String reason, String dryRun) {

    public enum Outcome {
        /** A rule of an allowing policy matched. */
        ALLOWED_BY_RULE,
        /** No policy selects the destination (for an engine), so it is open. */
        ALLOWED_NO_POLICY,
        /** A DENY (or Cilium ingressDeny) rule matched. */
        DENIED_BY_RULE,
        /** Policies select the destination but none of their allow rules matched. */
        DENIED_DEFAULT,
        /** A CUSTOM policy matched and no external authorizer allowed it. */
        DENIED_CUSTOM,
        /** Plaintext under PeerAuthentication STRICT, or Cilium authentication required. */
        DENIED_AUTHENTICATION
    }

    public Decision {
        Objects.requireNonNull(outcome, "outcome");
        Objects.requireNonNull(reason, "reason");
        if (allowed != (outcome == Outcome.ALLOWED_BY_RULE || outcome == Outcome.ALLOWED_NO_POLICY)) {
            throw new IllegalArgumentException("allowed=" + allowed + " contradicts outcome " + outcome);
        }
    }

    public Decision(boolean allowed, Outcome outcome, PolicyRef policy, int ruleIndex, String reason) {
        this(allowed, outcome, policy, ruleIndex, reason, null);
    }

    /** This decision, carrying the would-be verdict of dry-run policies (istio.io/dry-run). */
    public Decision withDryRun(String wouldBe) {
        return new Decision(allowed, outcome, policy, ruleIndex, reason, wouldBe);
    }

    public static Decision allowNoPolicy(String reason) {
        return new Decision(true, Outcome.ALLOWED_NO_POLICY, null, -1, reason);
    }

    /**
     * One line for logs and {@code zerohop policy check} (with the dry-run verdict appended in
     * brackets when there is one), e.g.
     * {@code DENY by prod/deny-legacy (AuthorizationPolicy DENY, rule 0): source.principal cluster.local/ns/legacy/sa/old matched}.
     */
    public String explain() {
        StringBuilder sb = new StringBuilder(96);
        sb.append(allowed ? "ALLOW" : "DENY");
        if (policy == null) {
            sb.append(" by default");
        } else {
            sb.append(" by ").append(policy.qualifiedName()).append(" (").append(policy.kind().displayName());
            if (!policy.action().isEmpty()) {
                sb.append(' ').append(policy.action());
            }
            if (ruleIndex >= 0) {
                sb.append(", rule ").append(ruleIndex);
            } else if (outcome == Outcome.DENIED_DEFAULT) {
                sb.append(", default deny");
            }
            sb.append(')');
        }
        sb.append(": ").append(reason);
        if (dryRun != null) {
            sb.append(" [dry-run, not enforced: would ").append(dryRun).append(']');
        }
        return sb.toString();
    }

    @Override
    public String toString() {
        return explain();
    }
}
