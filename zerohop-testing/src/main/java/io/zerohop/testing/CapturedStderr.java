package io.zerohop.testing;

/**
 * zerohop-testing-netty's {@link io.zerohop.testing.netty.CapturedStderr} under the name it had before it moved
 * there (so that mesh-identity's own tests, below this module, can use it): users' imports of this name stay valid.
 */
public final class CapturedStderr extends io.zerohop.testing.netty.CapturedStderr {
    /** Starts copying {@link System#err}; see {@link io.zerohop.testing.netty.CapturedStderr}. */
    public CapturedStderr() {
        super();
    }
}
