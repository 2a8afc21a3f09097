package io.zerohop.identity.testing;

import io.spiffe.bundle.x509bundle.X509BundleSet;
import io.spiffe.spiffeid.SpiffeId;
import io.spiffe.svid.x509svid.X509Svid;
import io.zerohop.identity.IdentityListener;
import io.zerohop.identity.IdentityProvider;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;

/** One SVID and one bundle set, swappable by the test: the smallest honest provider. */
public final class FixedIdentityProvider implements IdentityProvider {
    private final List<IdentityListener> listeners = new CopyOnWriteArrayList<>();
    private volatile X509Svid svid;
    private volatile X509BundleSet bundles;
    private final java.util.concurrent.atomic.AtomicInteger asked = new java.util.concurrent.atomic.AtomicInteger();

    public FixedIdentityProvider(X509Svid svid, X509BundleSet bundles) {
        this.svid = svid;
        this.bundles = bundles;
    }

    public void rotate(X509Svid next) {
        svid = next;
        listeners.forEach(l -> l.svidRotated(next));
    }

    public void bundles(X509BundleSet next) {
        bundles = next;
        listeners.forEach(l -> l.bundlesChanged(next));
    }

    @Override
    public Optional<SpiffeId> defaultIdentity() {
        return Optional.of(svid.getSpiffeId());
    }

    /** How many times {@link #svid} was called. */
    public int asked() {
        return asked.get();
    }

    @Override
    public CompletableFuture<X509Svid> svid(SpiffeId id) {
        asked.incrementAndGet();
        X509Svid s = svid;
        return s.getSpiffeId().equals(id)
                ? CompletableFuture.completedFuture(s)
                : CompletableFuture.failedFuture(new IllegalArgumentException("this provider serves only " + s.getSpiffeId() + ", not " + id));
    }

    @Override
    public X509BundleSet bundles() {
        return bundles;
    }

    @Override
    public void addListener(IdentityListener l) {
        listeners.add(l);
    }

    @Override
    public void removeListener(IdentityListener l) {
        listeners.remove(l);
    }

    @Override
    public void close() {}
}
