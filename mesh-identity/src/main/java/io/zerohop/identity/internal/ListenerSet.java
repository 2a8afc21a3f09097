package io.zerohop.identity.internal;

import io.spiffe.bundle.x509bundle.X509BundleSet;
import io.spiffe.svid.x509svid.X509Svid;
import io.zerohop.identity.IdentityListener;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The listeners of one provider; one failing listener must not keep the others from hearing. */
public final class ListenerSet {
    private static final Logger log = LoggerFactory.getLogger(ListenerSet.class);

    private final List<IdentityListener> listeners = new CopyOnWriteArrayList<>();

    public void add(IdentityListener l) {
        listeners.add(Objects.requireNonNull(l, "listener"));
    }

    public void remove(IdentityListener l) {
        listeners.remove(l);
    }

    public void clear() {
        listeners.clear();
    }

    public void svidRotated(X509Svid svid) {
        for (IdentityListener l : listeners) {
            try {
                l.svidRotated(svid);
            } catch (RuntimeException e) {
                log.warn("identity listener {} failed on svidRotated({}): {}", l, svid.getSpiffeId(), e.toString(), e);
            }
        }
    }

    public void svidForgotten(io.spiffe.spiffeid.SpiffeId id) {
        for (IdentityListener l : listeners) {
            try {
                l.svidForgotten(id);
            } catch (RuntimeException e) {
                log.warn("identity listener {} failed on svidForgotten({}): {}", l, id, e.toString(), e);
            }
        }
    }

    public void bundlesChanged(X509BundleSet bundles) {
        for (IdentityListener l : listeners) {
            try {
                l.bundlesChanged(bundles);
            } catch (RuntimeException e) {
                log.warn("identity listener {} failed on bundlesChanged: {}", l, e.toString(), e);
            }
        }
    }
}
