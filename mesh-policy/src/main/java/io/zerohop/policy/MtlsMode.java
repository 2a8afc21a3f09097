package io.zerohop.policy;

/** Effective PeerAuthentication mode of a workload port. UNSET never comes out of the engine. */
public enum MtlsMode {
    STRICT,
    PERMISSIVE,
    DISABLE;

    /** Whether a connection without a verified peer identity may be accepted. */
    public boolean allowsPlaintext() {
        return this != STRICT;
    }
}
