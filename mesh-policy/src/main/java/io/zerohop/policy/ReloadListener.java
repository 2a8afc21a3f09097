package io.zerohop.policy;

/** Told about every hot-reload attempt of a watched directory. */
public interface ReloadListener {

    void reloaded(PolicySet policies);

    /**
     * A reload succeeded but dropped files loaded before, or went from some policies to none; the
     * new set is in force. {@code warning} is the line logged at WARN, naming the files. Called
     * before {@link #reloaded}.
     */
    default void lost(String warning) {
    }

    /** The old policy set stays in force. */
    default void failed(PolicyLoadException error) {
    }
}
