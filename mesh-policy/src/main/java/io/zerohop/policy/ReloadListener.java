package io.zerohop.policy;

/** Told about every hot-reload attempt of a watched directory. */
public interface ReloadListener {

    void reloaded(PolicySet policies);

    /** The old policy set stays in force. */
    default void failed(PolicyLoadException error) {
    }
}
