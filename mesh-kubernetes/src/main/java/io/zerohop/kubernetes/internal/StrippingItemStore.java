package io.zerohop.kubernetes.internal;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.informers.cache.BasicItemStore;
import io.fabric8.kubernetes.client.informers.cache.Cache;
import io.fabric8.kubernetes.client.informers.cache.ItemStore;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;

/**
 * An informer's item store that strips each object ({@link ObjectStrip}) in place before keeping it:
 * client-go's informer transform ({@code SetTransform}), which istiod uses to apply
 * {@code StripPodUnusedFields}. fabric8 7.5.2 has no transform, but its {@code ProcessorStore}
 * (informers/impl/cache/ProcessorStore.java: {@code updateInternal}) puts the object it received from a
 * list or watch into the store and then hands that same object to the event handlers (add, update,
 * and the deferred adds of the first list, re-read from the store), and {@code resync} replays the
 * store's objects: so what the handlers see is the stripped object, as with client-go. Only delete
 * notifications carry the object as received (it is not put); the handlers read only its
 * namespace and name.
 *
 * @param <T> the informer's kind
 */
public final class StrippingItemStore<T extends HasMetadata> implements ItemStore<T> {
    private final BasicItemStore<T> items = new BasicItemStore<>(Cache::metaNamespaceKeyFunc);
    private final UnaryOperator<T> strip;

    /** @param strip strips its argument in place and returns it (never null for a non-null argument) */
    public StrippingItemStore(UnaryOperator<T> strip) {
        this.strip = strip;
    }

    @Override
    public String getKey(T obj) {
        return items.getKey(obj);
    }

    /**
     * Keeps {@code obj} stripped; or, when the store already holds that object at the same
     * {@code resourceVersion} (a re-list, or a watch that replays what was listed), keeps the held one
     * and returns it. fabric8's ProcessorStore notifies nobody then (the versions are equal), so the
     * handlers (WorkloadState) hold the object they were given last, which without this would no
     * longer be the cached one: two copies of every unchanged object after each re-list.
     */
    @Override
    public T put(String key, T obj) {
        T held = items.get(key);
        if (held != null && sameVersion(held, obj)) {
            return held;
        }
        return items.put(key, strip.apply(obj));
    }

    private static boolean sameVersion(HasMetadata a, HasMetadata b) {
        String v = a.getMetadata() == null ? null : a.getMetadata().getResourceVersion();
        return v != null && !v.isEmpty() && b.getMetadata() != null && v.equals(b.getMetadata().getResourceVersion());
    }

    @Override
    public T remove(String key) {
        return items.remove(key);
    }

    @Override
    public Stream<String> keySet() {
        return items.keySet();
    }

    @Override
    public Stream<T> values() {
        return items.values();
    }

    @Override
    public int size() {
        return items.size();
    }

    @Override
    public T get(String key) {
        return items.get(key);
    }
}
